"""sim_node and agent_node (robot.backend ros_sim) as separate processes: pick-and-place, the execution gate and
cancel, all over ROS, judged from the simulator's ground truth and /joint_states."""

import json
import math
import random
import time

import numpy as np

from spacetools_ros.bench.sim_bench import choose_task, scene_for
from spacetools_ros.ros.client import JointStateWatch, SpaceToolsClient
from spacetools_ros.ros.demo import ros_env, running_nodes
from spacetools_ros.ros.sim_node import GROUND_TRUTH_SERVICE, RESET_SERVICE

SEED = 0  # the in-process sim bench's pick_place succeeds on this scene


def _logs(folder) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()[-4000:]}" for p in sorted(folder.glob("*.log")))


def _trigger(client: SpaceToolsClient, service: str) -> tuple[bool, str]:
    from std_srvs.srv import Trigger

    return client.call_service(Trigger, service, Trigger.Request(), 30.0)


def _ground_truth(client: SpaceToolsClient) -> dict:
    ok, message = _trigger(client, GROUND_TRUTH_SERVICE)
    assert ok, message
    return json.loads(message)


def test_pick_place_gate_and_cancel_over_ros_in_the_simulated_world(ros_domain, tmp_path):
    scene = scene_for(SEED)
    task, target, reference = choose_task("pick_place", scene.objects)
    config = tmp_path / "ros_sim.yaml"
    config.write_text("robot:\n  backend: ros_sim\n")
    nodes = [
        ("sim_node", {"scene_seed": SEED, "num_objects": random.Random(SEED).randint(3, 5)}),
        ("agent_node", {"config": str(config), "T_base_camera": scene.frame.T_base_camera.reshape(-1).tolist(),
                        "frame_timeout_s": 20.0}),
    ]
    with running_nodes(nodes, ros_env(ros_domain), log_dir=tmp_path) as procs:
        client = SpaceToolsClient(f"test_sim_client_{ros_domain}", domain_id=ros_domain)
        watch = JointStateWatch(client)
        try:
            assert client.wait_for_server(60), _logs(tmp_path)
            before = _ground_truth(client)
            assert sorted(before["objects"]) == sorted(o.name for o in scene.objects)
            assert {s["name"] for s in before["specs"]} == set(before["objects"])

            # execution switched off over the service: the grasp is refused and nothing moves
            assert client.enable_execution(False)[0]
            t_refused = time.monotonic()
            refused = client.ask(f"Pick up the {target.colour} object", timeout=90)
            assert refused is not None, _logs(tmp_path)
            assert refused["state"] == "failed" and "execution is disabled" in json.dumps(refused), refused
            time.sleep(1.0)
            still = watch.since(t_refused)
            assert len(still) > 10 and max(s[2] for s in still) < 0.02  # the arm never moved
            assert np.abs(still[-1][1] - still[0][1]).max() < 1e-3
            assert math.dist(_ground_truth(client)["objects"][target.name], before["objects"][target.name]) < 1e-3

            assert client.enable_execution(True)[0]
            result = client.ask(task, timeout=180)
            assert result is not None, _logs(tmp_path)
            assert result["state"] == "succeeded", (result, _logs(tmp_path))
            time.sleep(1.0)  # let the placed object settle
            after = _ground_truth(client)

            # cancel during a motion: the task ends cancelled and the arm stops and stays stopped
            assert _trigger(client, RESET_SERVICE) == (True, "world reset")
            reset = _ground_truth(client)["objects"][target.name]
            assert math.dist(reset, before["objects"][target.name]) < 0.01, reset
            before_cancel = len(client.results)
            client.send_task(f"Pick up the {target.colour} object")
            moving_at = watch.wait_moving(90)
            assert moving_at is not None, _logs(tmp_path)
            time.sleep(0.3)
            cancelled_at = time.monotonic()
            assert client.cancel()[0]
            results = client.wait_for_results(before_cancel + 1, 30)
            assert len(results) > before_cancel and results[before_cancel]["state"] == "cancelled", results[-1]
            stopped_at = watch.wait_stopped(cancelled_at, 5.0)
            assert stopped_at is not None, "the arm did not stop"
            print(f"cancel service call -> arm below 0.05 rad/s after {1000 * (stopped_at - cancelled_at):.0f} ms")
            time.sleep(1.0)
            held = watch.since(stopped_at + 0.2)
            assert len(held) > 10 and max(s[2] for s in held) < 0.05
            assert np.abs(held[-1][1] - held[0][1]).max() < 5e-3
            assert all(p.poll() is None for p in procs)
        finally:
            client.close()
    moved = after["objects"][target.name]
    ref = after["objects"][reference.name]
    start = before["objects"][target.name]
    assert math.dist(moved[:2], start[:2]) > 0.03, (start, moved)  # it was carried somewhere
    assert math.dist(moved[:2], ref[:2]) < 0.20, (moved, ref)  # next to the reference
    assert abs(moved[2] - 0.5 * target.size[2]) < 0.02, moved  # resting on the table, upright


def test_ros_sim_backend_stops_and_reports_when_joint_states_go_silent(ros_domain, monkeypatch):
    """No sim_node behind the topics: the last /joint_states is stale, so a motion is stopped and fails with why."""
    import rclpy
    from sensor_msgs.msg import JointState

    from spacetools_ros.robot import ros_sim_backend
    from spacetools_ros.robot.profile import PANDA
    from spacetools_ros.robot.ros_sim_backend import RosSimBackend
    from spacetools_ros.robot.safety import ExecutionGate

    monkeypatch.setattr(ros_sim_backend, "STATE_WAIT_S", 0.5)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    node = rclpy.create_node("silent_sim_test", context=context)
    try:
        backend = RosSimBackend(node, camera=None, gate=ExecutionGate(enabled=True))
        stops: list[bool] = []
        monkeypatch.setattr(backend, "_stop_motion", lambda: stops.append(True))
        names = [*PANDA.joint_names, *PANDA.finger_joints]
        backend._on_joint_states(JointState(name=names, position=[*PANDA.home, 0.04, 0.04],
                                            velocity=[0.0] * len(names)))
        result = backend.move_home()  # already home: the motion waits for states that never come
        assert not result.success and "/joint_states stopped" in result.message, result.message
        assert stops == [True]
    finally:
        node.destroy_node()
        context.try_shutdown()
