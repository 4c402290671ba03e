"""`spacetools record` and `spacetools replay` as processes on private ROS domains, with camera_node, sim_node and
agent_node: a replayed bag answers like the frame it holds, a recorded sim episode replays to the same answer, and
Ctrl-C on the recorder leaves a valid bag."""

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import pytest

from spacetools_ros.agent.factory import build_agent
from spacetools_ros.cli import main as cli_main
from spacetools_ros.config import load_config
from spacetools_ros.ros.agent_node import RESULT_TOPIC, STATUS_TOPIC, TASK_TOPIC
from spacetools_ros.ros.client import SpaceToolsClient
from spacetools_ros.ros.demo import ros_env, running_nodes
from spacetools_ros.sources.bag import BagSource, open_bag_reader
from spacetools_ros.sources.factory import open_source
from spacetools_ros.sources.topics import CameraTopics

COUNT_QUESTION = "How many objects are on the table?"
CAMERA = CameraTopics()
CAMERA_TOPICS = [CAMERA.color, CAMERA.depth, CAMERA.color_info, CAMERA.depth_info]


def _logs(folder: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(folder.rglob("*.log")))


@contextmanager
def cli_process(args: list[str], env: dict[str, str], log: Path):
    """`spacetools ARGS` as a process (output to log); SIGINT and wait (then kill) on exit."""
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "spacetools_ros.cli", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _interrupt(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=timeout)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Listener:
    """A node of the test's own (own context, spun on a thread) that collects what arrives on topics."""

    def __init__(self, domain: int) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(f"bag_test_listener_{domain}", context=self.context)
        self.received: dict[str, list] = defaultdict(list)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def listen(self, kind, topic: str, qos) -> None:
        """Append (monotonic arrival time, message) of every message on topic."""
        self.node.create_subscription(kind, topic, lambda msg: self.received[topic].append((time.monotonic(), msg)),
                                      qos)

    def close(self) -> None:
        """Stop spinning, destroy the node."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def _offline_answers(bag: Path) -> list[str]:
    agent = build_agent(load_config())
    with BagSource(bag) as source:
        return [agent.run(COUNT_QUESTION, frame).answer for frame in source]


def _ask_replayed(bag: Path, window: list[str], domain: int, log_dir: Path, name: str) -> tuple[dict, str]:
    """agent_node + `spacetools replay BAG WINDOW --loop` (processes): the result of one count question and the
    replay's output after Ctrl-C."""
    env = ros_env(domain)
    with running_nodes([("agent_node", {"frame_timeout_s": 20.0})], env, log_dir=log_dir / name):
        client = SpaceToolsClient(f"bag_test_client_{domain}", domain_id=domain)
        try:
            with cli_process(["replay", str(bag), "--loop", *window], env, log_dir / f"{name}_replay.log") as replay:
                assert client.wait_for_server(60), _logs(log_dir)
                result = client.ask(COUNT_QUESTION, timeout=90)
                assert result is not None, _logs(log_dir)
                assert _interrupt(replay) == 0, _logs(log_dir)
        finally:
            client.close()
    return result, (log_dir / f"{name}_replay.log").read_text()


def test_a_looped_one_frame_window_of_a_bag_answers_like_that_frame_offline(ros_domain, tmp_path, shared_data):
    """(b): the ucn bag replayed over ROS to agent_node; the window (one 0.5 s slice of the 1 Hz bag) decides which
    frame the agent sees, so the answer must equal that frame's offline answer exactly."""
    bag = shared_data / "bags" / "ucn_rgbd_mcap"
    answers = _offline_answers(bag)
    assert len(answers) == 9 and answers[0] == "10"  # frame 0 shows ten objects (as in test_ros_nodes)
    other = next(i for i, a in enumerate(answers) if a != answers[0])  # a frame with another count
    with closing(open_bag_reader(bag)) as reader:
        offset = (sorted({t for _, t, _ in reader.messages()})[other] - reader.start_time) / 1e9
    for name, window, expected in (("first", ["--duration", "0.5"], answers[0]),
                                   ("other", ["--start-offset", f"{offset}", "--duration", "0.5"], answers[other])):
        (tmp_path / name).mkdir()
        result, output = _ask_replayed(bag, window, ros_domain, tmp_path, name)
        assert result["state"] == "succeeded", result
        assert result["answer"] == expected, (name, result["answer"], answers)
        counts = dict((topic, int(n)) for n, topic in re.findall(r"^\s*(\d+)  (/\S+)$", output, re.M))
        assert sorted(counts) == sorted(CAMERA_TOPICS), output
        assert len(set(counts.values())) <= 2 and min(counts.values()) >= 1, output  # whole frames, looped
        assert re.search(r"replayed \d+ message\(s\) in \d+ pass\(es\)", output), output


def _bag_messages(bag: Path) -> dict[str, list]:
    """topic -> [(bag timestamp, deserialized message)] via rosbags."""
    out: dict[str, list] = defaultdict(list)
    with closing(open_bag_reader(bag)) as reader:
        for connection, stamp, raw in reader.messages():
            out[connection.topic].append((stamp, reader.deserialize(raw, connection.msgtype)))
    return out


def test_recorded_sim_episode_replays_to_the_same_answer(ros_domain, tmp_path):
    """sim_node + agent_node live, `spacetools record` meanwhile (the question asked during the recording), Ctrl-C;
    then the bag alone (replayed) + a fresh agent_node give the live answer, which is the scene's object count."""
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    from spacetools_ros.ros.conversions import image_msg_to_rgb, stamp_to_seconds
    from spacetools_ros.ros.sim_node import PARAMETERS, scene_from_parameters

    params = {"scene_seed": 3, "num_objects": 4}
    scene = scene_from_parameters({**{k: v[0] for k, v in PARAMETERS.items()}, **params})
    camera_hz, joint_state_hz = PARAMETERS["camera_hz"][0], PARAMETERS["joint_state_hz"][0]
    pose = scene.frame.T_base_camera.reshape(-1).tolist()
    agent = ("agent_node", {"T_base_camera": pose, "frame_timeout_s": 20.0})
    bag = tmp_path / "episode"
    env = ros_env(ros_domain)
    (tmp_path / "live").mkdir()
    with running_nodes([("sim_node", params), agent], env, log_dir=tmp_path / "live"):
        with cli_process(["record", str(bag)], env, tmp_path / "record.log") as recorder:
            client = SpaceToolsClient(f"bag_test_live_{ros_domain}", domain_id=ros_domain)
            try:
                assert client.wait_for_server(90), _logs(tmp_path / "live")
                # the recorder subscribes to a topic once it has a publisher: the task topic once the client is up
                _wait_for(lambda: client.node.count_subscribers(TASK_TOPIC) >= 2
                          and client.node.count_subscribers(RESULT_TOPIC) >= 2
                          and client.node.count_subscribers(STATUS_TOPIC) >= 2, 30, "the recorder's subscriptions")
                live = client.ask(COUNT_QUESTION, timeout=90)
                assert live is not None, _logs(tmp_path / "live")
                time.sleep(3.0)  # a few more frames after the answer
            finally:
                client.close()
            started = time.monotonic()
            assert _interrupt(recorder) == 0, (tmp_path / "record.log").read_text()
            closed_in = time.monotonic() - started
    record_log = (tmp_path / "record.log").read_text()
    assert live["state"] == "succeeded", live
    assert live["answer"] == str(len(scene.objects)), (live["answer"], scene.objects)

    # the bag: rosbag2 version 9 mcap, every default topic that had a publisher, plausible counts
    metadata = (bag / "metadata.yaml").read_text()
    assert "version: 9" in metadata and "storage_identifier: mcap" in metadata
    messages = _bag_messages(bag)
    assert set(messages) == {*CAMERA_TOPICS, "/joint_states", "/clock", TASK_TOPIC, STATUS_TOPIC, RESULT_TOPIC}
    clock = [stamp_to_seconds(m.clock) for _, m in messages["/clock"]]
    sim_s = clock[-1] - clock[0]  # simulated seconds the recording spans (the sim may run slower than real time)
    assert sim_s > 2.0, clock[:3]
    counts = {topic: len(items) for topic, items in messages.items()}
    for topic in CAMERA_TOPICS:
        assert 0.8 * camera_hz * sim_s <= counts[topic] <= camera_hz * sim_s + 2, (topic, counts, sim_s)
    assert 0.8 * joint_state_hz * sim_s <= counts["/joint_states"] <= joint_state_hz * sim_s + 2, (counts, sim_s)
    assert [m.data for _, m in messages[TASK_TOPIC]] == [COUNT_QUESTION]
    recorded = json.loads(messages[RESULT_TOPIC][0][1].data)
    assert recorded["answer"] == live["answer"] and recorded["task_id"] == live["task_id"]
    assert [json.loads(m.data)["state"] for _, m in messages[STATUS_TOPIC]] == ["queued", "running", "succeeded"]
    for topic, n in counts.items():  # the recorder's own count per topic
        assert re.search(rf"^\s*{n}  {re.escape(topic)}$", record_log, re.M), (topic, n, record_log)

    # BagSource reads the recorded frames: one per colour image, the same pixels rclpy's deserializer sees
    with closing(open_bag_reader(bag)) as reader:
        colour = [(c, raw) for c, _, raw in reader.messages() if c.topic == CAMERA.color]
    with BagSource(bag) as source:
        frames = list(source)
    assert len(frames) >= len(colour) - 1, (len(frames), len(colour))
    for frame, (_, raw) in ((frames[0], colour[0]), (frames[-1], colour[len(frames) - 1])):
        msg = deserialize_message(bytes(raw), Image)
        assert frame.stamp == pytest.approx(stamp_to_seconds(msg.header.stamp))
        np.testing.assert_array_equal(frame.rgb, image_msg_to_rgb(msg))

    # the simulator is gone: the bag replayed (camera, joint states, clock) to a fresh agent_node
    (tmp_path / "replayed").mkdir()
    env = ros_env(ros_domain)
    with running_nodes([agent], env, log_dir=tmp_path / "replayed"):
        replay_args = ["replay", str(bag), "--loop", "--topics", *CAMERA_TOPICS, "/joint_states", "/clock"]
        with cli_process(replay_args, env, tmp_path / "replay.log") as replay:
            client = SpaceToolsClient(f"bag_test_replay_{ros_domain}", domain_id=ros_domain)
            try:
                assert client.wait_for_server(90), _logs(tmp_path / "replayed")
                replayed = client.ask(COUNT_QUESTION, timeout=90)
                assert replayed is not None, _logs(tmp_path / "replayed") + (tmp_path / "replay.log").read_text()
            finally:
                client.close()
            assert _interrupt(replay) == 0
    assert replayed["state"] == "succeeded", replayed
    assert replayed["answer"] == live["answer"] == str(len(scene.objects))
    replay_log = (tmp_path / "replay.log").read_text()
    rate = float(re.search(r"\(rate ([\d.]+)x, asked 1x", replay_log).group(1))
    print(f"recorded over {sim_s:.1f} simulated s: {counts}; bag closed {closed_in:.2f} s after Ctrl-C; "
          f"replayed at {rate:.2f}x")
    assert 0.8 <= rate <= 1.05, replay_log


def test_replay_keeps_the_recorded_timing_scaled_by_rate_and_publishes_clock(ros_domain, tmp_path, shared_data):
    """--rate 4 --clock: every camera_info of the 8 s bag arrives (reliable), spaced 1 s / 4 apart, and /clock
    runs through the bag's time four times faster than the wall clock."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo

    from spacetools_ros.ros.conversions import stamp_to_seconds

    bag = shared_data / "bags" / "ucn_rgbd_mcap"
    with closing(open_bag_reader(bag)) as reader:
        stamps = sorted(t for c, t, _ in reader.messages() if c.topic == CAMERA.color_info)
        first, last = reader.start_time / 1e9, reader.end_time / 1e9
    listener = Listener(ros_domain)
    try:
        listener.listen(CameraInfo, CAMERA.color_info, QoSProfile(history=HistoryPolicy.KEEP_ALL,
                                                                  reliability=ReliabilityPolicy.RELIABLE))
        listener.listen(Clock, "/clock", QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT))
        args = ["replay", str(bag), "--rate", "4", "--clock", "50", "--reliable", "--delay", "3",
                "--topics", CAMERA.color_info]
        with cli_process(args, ros_env(ros_domain), tmp_path / "replay.log") as replay:
            assert replay.wait(timeout=60) == 0, (tmp_path / "replay.log").read_text()
        time.sleep(0.5)
    finally:
        listener.close()
    infos = listener.received[CAMERA.color_info]
    assert [stamp_to_seconds(m.header.stamp) for _, m in infos] == [t / 1e9 for t in stamps]
    gaps = np.diff([t for t, _ in infos])
    assert np.all(np.abs(gaps - 0.25) < 0.1), gaps  # 1 s apart in the bag, at 4x
    ticks = [(t, stamp_to_seconds(m.clock)) for t, m in listener.received["/clock"]]
    assert len(ticks) > 20
    assert all(first <= c <= last for _, c in ticks)
    during = [(t, c) for t, c in ticks if c > first]  # the clock stands at the bag's start during --delay
    slope = np.polyfit([t for t, _ in during], [c for _, c in during], 1)[0]
    assert slope == pytest.approx(4.0, rel=0.1), slope
    output = (tmp_path / "replay.log").read_text()
    assert re.search(r"replayed 9 message\(s\) in 1 pass\(es\): 8.00 s of bag time", output), output


def test_ctrl_c_on_record_leaves_a_valid_bag_with_the_published_frames(ros_domain, tmp_path):
    """camera_node publishes a generated frame; Ctrl-C (twice, at once) on `spacetools record --storage sqlite3`
    leaves a bag that rosbags and BagSource read, holding that frame."""
    from sensor_msgs.msg import Image

    from spacetools_ros.ros.conversions import depth_to_image_msg, image_msg_to_depth
    from spacetools_ros.ros.qos import sensor_qos

    with open_source("synthetic:1") as source:
        expected = source.read()
    published_depth = image_msg_to_depth(depth_to_image_msg(expected.depth, 0.0, expected.frame_id))
    bag = tmp_path / "synthetic"
    env = ros_env(ros_domain)
    listener = Listener(ros_domain)
    listener.listen(Image, CAMERA.color, sensor_qos())
    try:
        with running_nodes([("camera_node", {"source": "synthetic:1", "rate_hz": 5.0})], env, log_dir=tmp_path):
            with cli_process(["record", str(bag), "--storage", "sqlite3"], env, tmp_path / "record.log") as rec:
                _wait_for(lambda: all(listener.node.count_subscribers(t) >= 1 + (t == CAMERA.color)
                                      for t in CAMERA_TOPICS), 60, "the recorder's subscriptions")
                seen = len(listener.received[CAMERA.color])
                _wait_for(lambda: len(listener.received[CAMERA.color]) >= seen + 3, 30, "three more frames")
                rec.send_signal(signal.SIGINT)
                rec.send_signal(signal.SIGINT)
                assert rec.wait(timeout=30) == 0, (tmp_path / "record.log").read_text()
    finally:
        listener.close()
    assert "storage_identifier: sqlite3" in (bag / "metadata.yaml").read_text()
    with closing(open_bag_reader(bag)) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert sorted(counts) == sorted(CAMERA_TOPICS) and min(counts.values()) >= 1, counts
    with BagSource(bag) as source:
        frames = list(source)
    assert len(frames) >= counts[CAMERA.color] - 1
    for frame in frames:
        np.testing.assert_array_equal(frame.rgb, expected.rgb)
        np.testing.assert_array_equal(frame.depth, published_depth)  # as published: 16UC1 millimetres
        assert frame.intrinsics == expected.intrinsics


def test_record_with_nothing_published_stops_after_duration_with_an_empty_valid_bag(ros_domain, tmp_path, capsys):
    bag = tmp_path / "empty"
    assert cli_main(["record", str(bag), "--duration", "0.5", "--domain-id", str(ros_domain)]) == 0
    assert "wrote" in capsys.readouterr().out
    with closing(open_bag_reader(bag)) as reader:
        assert reader.message_count == 0 and not reader.connections
    assert cli_main(["replay", str(bag)]) == 2
    assert "holds no messages" in capsys.readouterr().err
    assert cli_main(["record", str(bag), "--domain-id", str(ros_domain)]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err


def test_replay_refuses_bad_arguments_with_reasons(tmp_path, capsys, shared_data):
    bag = str(shared_data / "bags" / "ucn_rgbd_mcap")
    cases = [
        (["replay", str(tmp_path / "nope")], "does not exist"),
        (["replay", bag, "--topics", "/nope"], "the bag has no topic(s) ['/nope']"),
        (["replay", bag, "--start-offset", "100"], "past the end of the bag (8.000 s long)"),
        (["replay", bag, "--rate", "0"], "--rate must be positive"),
        (["replay", bag, "--duration", "-1"], "--duration must be positive"),
    ]
    for args, reason in cases:
        assert cli_main(args) == 2, args
        assert reason in capsys.readouterr().err, args
