"""`spacetools up`: the node set of the description as processes, driven over ROS like a user would.

Every test runs `python -m spacetools_ros.cli up ...` as a subprocess on its own ROS_DOMAIN_ID and reads the pids
it prints; after it exits, none of those processes may be left.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from spacetools_ros.bench.sim_bench import choose_task, scene_for

SEED = 0  # the in-process sim bench's pick_place succeeds on this scene (as in test_sim_node.py)
QUESTION = "How many objects are on the table?"
STARTED = re.compile(r"^started (\S+) \((\S+)\) pid (\d+)")


class Up:
    """A running `spacetools up` subprocess whose output is collected on a thread."""

    def __init__(self, mode: str, domain: int, *sets: str, log_dir: Path | None = None) -> None:
        args = [sys.executable, "-m", "spacetools_ros.cli", "up", mode, "--domain-id", str(domain)]
        for item in sets:
            args += ["--set", item]
        if log_dir is not None:
            args += ["--log-dir", str(log_dir)]
        self.log_dir = log_dir
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        """Everything printed so far, plus the nodes' logs when there is a log folder."""
        text = "\n".join(self.lines)
        if self.log_dir is not None:
            text += "".join(f"\n== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.log_dir.glob("*.log")))
        return text

    def pids(self) -> dict[str, int]:
        """Executable -> pid of every node it said it started."""
        return {m.group(1): int(m.group(3)) for m in map(STARTED.match, list(self.lines)) if m}

    def wait_for_line(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            time.sleep(0.05)
        return False

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, client=None) -> int:
        """Close the client, SIGINT `up` and return its exit code (killed if it does not stop within 40 s)."""
        if client is not None:
            client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.wait(40)
        finally:
            self.kill()


def _gone(pid: int) -> bool:
    """The process no longer exists (or is a zombie waiting for its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state == "Z"


def _ground_truth(client) -> dict:
    from std_srvs.srv import Trigger

    from spacetools_ros.ros.sim_node import GROUND_TRUTH_SERVICE

    ok, message = client.call_service(Trigger, GROUND_TRUTH_SERVICE, Trigger.Request(), 30.0)
    assert ok, message
    return json.loads(message)


def _by_task(client, task_id: str) -> list[dict]:
    with client._cond:
        return [s for s in client.statuses if s.get("task_id") == task_id]


def test_up_sim_places_the_object_queues_a_second_task_and_stops_on_sigint(ros_domain, tmp_path):
    """(a) a pick-and-place over ROS ends succeeded with the object next to the reference in the simulator's ground
    truth; (d) a question sent while it runs is queued, then runs and gets a result; (c) a pick cancelled during
    its motion ends cancelled with the arm stopped; SIGINT stops every node."""
    from spacetools_ros.ros.client import JointStateWatch, SpaceToolsClient

    scene = scene_for(SEED)
    task, target, reference = choose_task("pick_place", scene.objects)
    n = random.Random(SEED).randint(3, 5)
    up = Up("sim", ros_domain, f"scene_seed={SEED}", f"num_objects={n}", log_dir=tmp_path)
    client = None
    try:
        assert up.wait_for_line("Ctrl-C stops them", 60), up.output
        pids = up.pids()
        assert set(pids) == {"sim_node", "agent_node"}, up.output
        client = SpaceToolsClient(f"test_up_client_{ros_domain}", domain_id=ros_domain)
        assert client.wait_for_server(120), up.output
        before = _ground_truth(client)
        assert sorted(before["objects"]) == sorted(o.name for o in scene.objects)

        t0 = time.monotonic()
        client.send_task(task)
        assert "running" in client.wait_for_status("task-1", "running", 60), (client.statuses, up.output)
        client.send_task(QUESTION)
        assert "queued" in client.wait_for_status("task-2", "queued", 30), (client.statuses, up.output)
        (queued,) = [s for s in _by_task(client, "task-2") if s["state"] == "queued"]
        assert queued["task"] == QUESTION and queued["queue_length"] == 1, queued
        assert not client.results, "the first task must still be running when the second is queued"

        first = client.wait_for_results(1, 300)
        assert first, (client.statuses, up.output)
        t_first = time.monotonic() - t0
        assert first[0]["task_id"] == "task-1" and first[0]["task"] == task
        assert first[0]["state"] == "succeeded", (first[0], up.output)
        time.sleep(1.0)  # let the placed object settle
        after = _ground_truth(client)

        results = client.wait_for_results(2, 180)
        assert len(results) == 2, (client.statuses, up.output)
        second = results[1]
        assert second["task_id"] == "task-2" and second["state"] == "succeeded", (second, up.output)
        assert second["answer"] not in (None, ""), second
        with client._cond:
            order = [(s["task_id"], s["state"]) for s in client.statuses]
        assert order.index(("task-2", "queued")) < order.index(("task-1", "succeeded")) < \
            order.index(("task-2", "running")), order  # queued behind the first, run after it
        print(f"pick-and-place result after {t_first:.1f} s; question answered {second['answer']!r} "
              f"({second['timings'].get('queue_and_frame_wait_s')} s waiting in the queue)")

        # (c) cancel during a motion: the task ends cancelled, the arm stops and stays stopped
        from std_srvs.srv import Trigger

        from spacetools_ros.ros.sim_node import RESET_SERVICE

        assert client.call_service(Trigger, RESET_SERVICE, Trigger.Request(), 30.0) == (True, "world reset")
        watch = JointStateWatch(client)
        client.send_task(f"Pick up the {target.colour} object")
        assert watch.wait_moving(120) is not None, up.output
        time.sleep(0.3)
        cancelled_at = time.monotonic()
        assert client.cancel()[0]
        results = client.wait_for_results(3, 60)
        assert len(results) == 3 and results[2]["state"] == "cancelled", (results[-1], up.output)
        assert "cancelled" in [s["state"] for s in _by_task(client, results[2]["task_id"])]
        stopped_at = watch.wait_stopped(cancelled_at, 5.0)
        assert stopped_at is not None, "the arm did not stop"
        time.sleep(1.0)
        held = watch.since(stopped_at + 0.2)
        assert len(held) > 10 and max(h[2] for h in held) < 0.05
        print(f"cancel -> arm stopped after {1000 * (stopped_at - cancelled_at):.0f} ms")
    finally:
        code = up.stop(client)
    assert code == 0, up.output
    assert "SIGINT received" in up.output and "stopped" in up.lines[-1], up.output
    assert all(_gone(pid) for pid in pids.values()), (pids, up.output)

    moved, start = after["objects"][target.name], before["objects"][target.name]
    ref = after["objects"][reference.name]
    assert math.dist(moved[:2], start[:2]) > 0.03, (start, moved)  # it was carried somewhere
    assert math.dist(moved[:2], ref[:2]) < 0.20, (moved, ref)  # next to the reference object
    assert abs(moved[2] - 0.5 * target.size[2]) < 0.02, moved  # resting on the table, upright


def test_up_replay_of_a_recorded_bag_answers_a_question(ros_domain, tmp_path, shared_data):
    """(b) `spacetools up replay` of the ucn bag, camera_node holding its first frame: agent_node answers the count
    question as the agent answers that frame offline."""
    from spacetools_ros.agent.factory import build_agent
    from spacetools_ros.config import load_config
    from spacetools_ros.ros.client import SpaceToolsClient
    from spacetools_ros.sources.folder import FolderSource

    offline = build_agent(load_config()).run(QUESTION, FolderSource(shared_data / "ucn_demo_tabletop").read())
    bag = shared_data / "bags" / "ucn_rgbd_mcap"
    up = Up("replay", ros_domain, f"bag={bag}", "camera_node.hold_frame=0", log_dir=tmp_path)
    client = None
    try:
        assert up.wait_for_line("Ctrl-C stops them", 60), up.output
        client = SpaceToolsClient(f"test_up_replay_{ros_domain}", domain_id=ros_domain)
        assert client.wait_for_server(120), up.output
        result = client.ask(QUESTION, timeout=120)
    finally:
        code = up.stop(client)
    assert result is not None and result["state"] == "succeeded", (result, up.output)
    assert result["answer"] == offline.answer == "10"
    assert code == 0, up.output


def test_up_replay_stops_every_node_on_sigterm(ros_domain, tmp_path):
    up = Up("replay", ros_domain, "bag=synthetic:1", log_dir=tmp_path)
    try:
        assert up.wait_for_line("Ctrl-C stops them", 60), up.output
        pids = up.pids()
        assert set(pids) == {"camera_node", "agent_node"}, up.output
        time.sleep(3.0)
        assert all(not _gone(pid) for pid in pids.values()), up.output
        up.proc.send_signal(signal.SIGTERM)
        code = up.wait(40)
    finally:
        up.kill()
    assert code == 0 and "SIGTERM received" in up.output, up.output
    assert all(_gone(pid) for pid in pids.values()), (pids, up.output)


def test_up_robot_fails_cleanly_without_realsense_or_moveit(ros_domain, tmp_path):
    # the default camera is the realsense2_camera driver: not installed here, so nothing starts
    up = Up("robot", ros_domain)
    assert up.wait(30) == 2, up.output
    assert "realsense2_camera is not installed here" in up.output and "camera=pyrealsense" in up.output
    assert not up.pids()

    # with a camera from elsewhere, agent_node starts and stops with MoveIt's message
    up = Up("robot", ros_domain, "camera=topics", log_dir=tmp_path)
    try:
        code = up.wait(120)
    finally:
        up.kill()
    assert code == 1, up.output
    assert "agent_node (spacetools_agent) exited with code 2" in up.output
    assert "moveit_py is not installed" in "\n".join(up.lines), up.output
    assert all(_gone(pid) for pid in up.pids().values())


def test_up_reports_a_bad_setting_or_node_parameter_by_name(ros_domain, tmp_path):
    up = Up("sim", ros_domain, "robot=ur5")
    assert up.wait(30) == 2 and "argument 'robot'" in up.output and "'ur5' is not one of" in up.output, up.output

    up = Up("sim", ros_domain, "sim_node.camera_hz=-1", log_dir=tmp_path)
    try:
        code = up.wait(120)
    finally:
        up.kill()
    assert code == 1, up.output
    assert "sim_node (spacetools_sim) exited with code 2" in up.output
    assert "parameter 'camera_hz' must be positive, got -1" in "\n".join(up.lines), up.output
    assert all(_gone(pid) for pid in up.pids().values())
