"""camera_node and agent_node as separate processes on their own ROS domain, driven over ROS."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from spacetools_ros.agent.factory import build_agent
from spacetools_ros.config import load_config
from spacetools_ros.ros.client import SpaceToolsClient
from spacetools_ros.ros.demo import ros_env, running_nodes
from spacetools_ros.sources.factory import open_source
from spacetools_ros.sources.folder import FolderSource

COUNT_QUESTION = "How many objects are on the table?"


@pytest.fixture
def graph(ros_domain, tmp_path):
    """Start nodes on the test's domain and hand back a connected client; everything stops afterwards."""
    stack = []

    def start(nodes, wait=True):
        ctx = running_nodes(nodes, ros_env(ros_domain), log_dir=tmp_path)
        procs = ctx.__enter__()
        stack.append(ctx)
        client = SpaceToolsClient(f"test_client_{ros_domain}", domain_id=ros_domain)
        stack.append(client)
        if wait:
            assert client.wait_for_server(30), _logs(tmp_path)
        return client, procs

    yield start
    for item in reversed(stack):
        if isinstance(item, SpaceToolsClient):
            item.close()
        else:
            item.__exit__(None, None, None)


def _logs(folder):
    return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(folder.glob("*.log")))


def test_bag_replayed_through_camera_node_answers_a_count_over_ros(graph, shared_data, tmp_path):
    bag = shared_data / "bags" / "ucn_rgbd_mcap"
    offline = build_agent(load_config()).run(COUNT_QUESTION, FolderSource(shared_data / "ucn_demo_tabletop").read())
    assert offline.answer == "10"  # frame 000000 shows ten objects on the table (the cart behind is not on it)
    client, _ = graph([("camera_node", {"source": str(bag), "hold_frame": 0, "rate_hz": 5.0}), ("agent_node", {})])
    result = client.ask(COUNT_QUESTION, timeout=60)
    assert result is not None, _logs(tmp_path)
    assert result["state"] == "succeeded", result
    assert result["answer"] == offline.answer
    assert result["tool_calls"][0]["name"] == "tabletop.segment_objects"
    assert result["task_id"].startswith("task-") and result["timings"]["total_s"] > 0
    assert client.wait_for_status(result["task_id"], "succeeded") == ["queued", "running", "succeeded"]


def test_generated_scene_with_known_pose_points_at_the_object_closest_to_the_robot(graph, tmp_path):
    with open_source("synthetic:3") as source:
        frame = source.read()
    expected = build_agent(load_config()).run("point to the object closest to the robot", frame)
    client, _ = graph([("camera_node", {"source": "synthetic:3"}),
                       ("agent_node", {"T_base_camera": frame.T_base_camera.reshape(-1).tolist()})])
    result = client.ask("point to the object closest to the robot", timeout=60)
    assert result["state"] == "succeeded", result
    assert result["answer"] == expected.answer and result["answer"].startswith("[(")
    assert "robot base frame" in result["tool_calls"][0]["text"]


def _undecodable_task() -> bytes:
    raw = bytearray(serialize_message(String(data="abcd")))
    at = bytes(raw).index(b"abcd")
    raw[at:at + 4] = b"\xff\xfe\xc3\x28"
    return bytes(raw)


def test_bad_tasks_fail_with_reasons_and_the_node_keeps_answering(graph, tmp_path):
    client, procs = graph([("camera_node", {"source": "synthetic:1"}), ("agent_node", {})])
    client.send_task("")
    client.send_task("   \n ")
    client.send_task("x" * 5000)
    client.send_raw(_undecodable_task())
    client.send_task("count\x07 the objects")
    client.send_task("sing me a song")
    results = client.wait_for_results(6, timeout=60)
    errors = [r["error"] for r in results]
    assert len(results) == 6, (errors, _logs(tmp_path))
    assert all(r["state"] == "failed" for r in results)
    assert errors[0] == errors[1] == "task is empty"
    assert errors[2].startswith("task is too long")
    assert errors[3].startswith("task is not decodable text")
    assert errors[4] == "task contains control characters"
    assert errors[5].startswith("not understood")
    good = client.ask(COUNT_QUESTION, timeout=60)
    assert good["state"] == "succeeded" and good["answer"].isdigit()
    assert all(p.poll() is None for p in procs)


def test_a_burst_of_garbage_does_not_stop_the_node(graph, tmp_path):
    client, procs = graph([("camera_node", {"source": "synthetic:2"}), ("agent_node", {"queue_size": 2})])
    rng = np.random.default_rng(0)
    for i in range(200):
        kind = i % 4
        if kind == 0:
            client.send_task("")
        elif kind == 1:
            client.send_task("y" * int(rng.integers(4097, 20000)))
        elif kind == 2:
            client.send_raw(_undecodable_task())
        else:
            client.send_task("".join(chr(c) for c in rng.integers(0x4E00, 0x4F00, 20)))  # not understood
    results, previous = [], -1
    while len(results) != previous and len(results) < 200:  # until all arrived or 3 s pass without one
        previous, results = len(results), client.wait_for_results(200, timeout=3)
    # the task topic is reliable keep-all: a burst sent at full speed is delivered and answered in full
    assert len(results) == 200, (len(results), _logs(tmp_path))
    assert len({r["task_id"] for r in results}) == 200
    assert all(r["state"] == "failed" and r["error"] for r in results)
    known = ("task is empty", "task is too long", "task is not decodable text", "not understood: ", "queue full")
    assert all(r["error"].startswith(known) for r in results), {r["error"][:40] for r in results}
    assert all(p.poll() is None for p in procs)
    good = client.ask(COUNT_QUESTION, timeout=60)
    assert good["state"] == "succeeded", good


def test_no_camera_means_a_failed_task_with_a_reason(graph):
    client, _ = graph([("agent_node", {"frame_timeout_s": 1.0})])
    result = client.ask(COUNT_QUESTION, timeout=30)
    assert result["state"] == "failed"
    assert result["error"] == "no frame within 1.0 s on /camera/camera/color/image_raw"


def test_bad_parameter_is_a_clear_start_up_error(ros_domain, tmp_path):
    with running_nodes([("agent_node", {"queue_size": 0})], ros_env(ros_domain), log_dir=tmp_path) as procs:
        assert procs[0].wait(timeout=30) == 2
    assert "parameter 'queue_size' must be positive" in (tmp_path / "agent_node.log").read_text()


def test_camera_node_publishes_the_source_frames_exactly(ros_domain, tmp_path, shared_data):
    """What camera_node sends is what the source read: colour, depth (mm) and intrinsics."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from spacetools_ros.ros.topic_source import TopicSource

    bag = shared_data / "bags" / "ucn_rgbd_mcap"
    expected = FolderSource(shared_data / "ucn_demo_tabletop").frame_at(2)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    node = rclpy.create_node("frame_check", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        with running_nodes([("camera_node", {"source": str(bag), "hold_frame": 2})], ros_env(ros_domain), tmp_path):
            source = TopicSource(node)
            source.open()
            start = time.monotonic()
            frame = source.read(timeout=30)
            assert frame is not None, _logs(tmp_path)
            second = source.read(timeout=10)
            assert time.monotonic() - start < 40
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    np.testing.assert_array_equal(frame.rgb, expected.rgb)
    np.testing.assert_array_equal(frame.depth, expected.depth)
    assert frame.intrinsics == expected.intrinsics
    assert second is not None and second.stamp > frame.stamp  # re-published, stamped now


def test_cli_reads_live_topics_published_by_camera_node(ros_domain, tmp_path):
    """`spacetools ask --frames topics` subscribes with its own node and answers like on the source itself."""
    with open_source("synthetic:4") as source:
        expected = str(len(source.scene.objects))
    env = ros_env(ros_domain)
    with running_nodes([("camera_node", {"source": "synthetic:4"})], env, tmp_path):
        run = subprocess.run([sys.executable, "-m", "spacetools_ros.cli", "ask", "--frames", "topics",
                              "how many objects are on the table?"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr + _logs(tmp_path)
    assert run.stdout.strip().splitlines()[-1] == f"answer: {expected}"


def test_cli_on_topics_without_a_camera_says_so(ros_domain):
    run = subprocess.run([sys.executable, "-m", "spacetools_ros.cli", "ask", "--frames", "topics", "how many?"],
                         env=ros_env(ros_domain), capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "no camera messages on the ROS graph" in run.stderr


def test_agent_node_with_a_missing_model_folder_exits_with_the_reason(ros_domain, tmp_path):
    config = tmp_path / "models.yaml"
    config.write_text("models:\n  pointing: {kind: owlv2, path: /nonexistent/owlv2}\n")
    with running_nodes([("agent_node", {"config": str(config)})], ros_env(ros_domain), log_dir=tmp_path) as procs:
        assert procs[0].wait(timeout=60) == 2
    assert "pointing model 'owlv2' at /nonexistent/owlv2: model path" in (tmp_path / "agent_node.log").read_text()


def test_cancel_and_enable_services_answer(graph):
    client, _ = graph([("agent_node", {"frame_timeout_s": 1.0})])
    assert client.cancel() == (False, "no task is running")
    assert client.enable_execution(True) == (False, "this agent has no arm (robot.backend is none)")


def test_client_streams_the_status_of_its_task_and_returns_its_result(graph):
    client, _ = graph([("camera_node", {"source": "synthetic:2"}), ("agent_node", {})])
    seen = []
    result = client.run_task(f"  {COUNT_QUESTION}  ", on_status=lambda s: seen.append(s), timeout=60)
    assert result is not None and result["state"] == "succeeded", result
    assert [s["state"] for s in seen] == ["queued", "running", "succeeded"], seen
    assert {s["task_id"] for s in seen} == {result["task_id"]}
    refused = client.run_task("Hello\x07 there", on_status=lambda s: seen.append(s), timeout=30)
    assert refused["state"] == "failed" and refused["error"] == "task contains control characters"
    assert seen[-1]["state"] == "failed" and seen[-1]["task_id"] == refused["task_id"]
