"""Episode visuals: objects, grasps, place targets and dry-run plans as markers, a debug image and a trace topic."""

import json
import threading
import time

import numpy as np

from spacetools_ros.agent.factory import build_agent
from spacetools_ros.agent.visuals import collect_visuals, draw_debug_image
from spacetools_ros.bench.sim_bench import choose_task, scene_for
from spacetools_ros.config import load_config
from spacetools_ros.ros.client import SpaceToolsClient
from spacetools_ros.ros.demo import ros_env, running_nodes
from spacetools_ros.ros.markers import visuals_to_markers


def test_pick_and_place_visuals_in_the_simulator():
    from builtin_interfaces.msg import Time
    from visualization_msgs.msg import Marker

    from spacetools_ros.robot.sim import TabletopSim

    scene = scene_for(0)
    task, target, reference = choose_task("pick_place", scene.objects)
    world = TabletopSim.from_scene(scene)
    try:
        agent = build_agent(load_config(overrides=["robot.backend=sim"]), sim=world)
        frame = world.render()
        episode = agent.run(task, frame)
        assert episode.state == "succeeded", episode.error
        visuals = collect_visuals(agent, episode)
    finally:
        world.close()
    assert visuals.frame is frame and visuals.base_frame_id == frame.base_frame_id
    # every scene object was perceived, each box centre within 2 cm of the truth
    assert len(visuals.objects) == len(scene.objects)
    for spec in scene.objects:
        assert min(np.linalg.norm(o.centre[:2] - spec.centroid_base[:2]) for o in visuals.objects) < 0.02
    (grasp, opening), = visuals.grasps
    assert np.linalg.norm(grasp[:2, 3] - np.asarray(target.position)) < 0.03 and 0.0 < opening <= 0.08
    (place,) = visuals.place_points
    assert np.linalg.norm(place[:2] - np.asarray(reference.position)) < 0.25 and abs(place[2]) < 0.02
    assert visuals.planned == []  # the sim backend does not plan on paper

    image = draw_debug_image(visuals)
    assert image.shape == frame.rgb.shape and image.dtype == np.uint8
    changed = np.any(image != frame.rgb, axis=2)
    assert 0.001 < changed.mean() < 0.2  # overlays drawn, the picture still there
    # the gripper (green) is drawn where the grasp projects into the image
    cam = np.linalg.inv(frame.T_base_camera) @ grasp[:, 3]
    u = int(frame.intrinsics.fx * cam[0] / cam[2] + frame.intrinsics.cx)
    v = int(frame.intrinsics.fy * cam[1] / cam[2] + frame.intrinsics.cy)
    window = image[max(v - 40, 0):v + 40, max(u - 40, 0):u + 40].reshape(-1, 3)
    assert np.any(np.all(window == (0, 255, 0), axis=1))

    markers = visuals_to_markers(visuals, Time(sec=1)).markers
    assert markers[0].action == Marker.DELETEALL
    by_ns = {}
    for m in markers[1:]:
        by_ns.setdefault(m.ns, []).append(m)
        assert m.header.frame_id == frame.base_frame_id
    assert len(by_ns["objects"]) == len(by_ns["object_labels"]) == len(scene.objects)
    assert len(by_ns["grasps"]) == 1 and len(by_ns["grasps"][0].points) == 6
    assert len(by_ns["place_targets"]) == 1 and "planned" not in by_ns
    cube = next(m for m in by_ns["objects"] if np.linalg.norm(
        [m.pose.position.x - target.position[0], m.pose.position.y - target.position[1]]) < 0.02)
    assert abs(cube.scale.z - target.size[2]) < 0.02


def test_agent_node_publishes_trace_markers_and_debug_image_of_a_dry_run(ros_domain, tmp_path):
    """A dry-run pick over ROS: nothing moves, the planned motion is published as markers for RViz."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from visualization_msgs.msg import MarkerArray

    from spacetools_ros.ros.qos import report_qos
    from spacetools_ros.sources.synthetic import generate_tabletop

    scene = generate_tabletop(seed=0)
    target = next(o for o in scene.objects if max(o.size[:2]) < 0.07)
    received: dict[str, list] = {"trace": [], "markers": [], "image": []}
    lock = threading.Lock()

    def keep(kind):
        def callback(msg):
            with lock:
                received[kind].append(msg)
        return callback

    nodes = [("camera_node", {"source": "synthetic:0"}),
             ("agent_node", {"overrides": "robot.backend=dry_run",
                             "T_base_camera": scene.frame.T_base_camera.reshape(-1).tolist()})]
    with running_nodes(nodes, ros_env(ros_domain), log_dir=tmp_path):
        client = SpaceToolsClient(f"test_visuals_{ros_domain}", domain_id=ros_domain)
        try:
            client.node.create_subscription(String, "/spacetools/trace", keep("trace"), report_qos())
            client.node.create_subscription(MarkerArray, "/spacetools/markers", keep("markers"), report_qos())
            client.node.create_subscription(Image, "/spacetools/debug_image", keep("image"), report_qos())
            assert client.wait_for_server(60)
            result = client.ask(f"Pick up the {target.colour} object", timeout=90)
            assert result is not None and result["state"] == "succeeded", result
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not all(received.values()):
                time.sleep(0.05)
        finally:
            client.close()
    trace = json.loads(received["trace"][-1].data)
    assert trace["task_id"] == result["task_id"] and trace["state"] == "succeeded"
    names = [c["name"] for c in trace["tool_calls"]]
    assert "grasp_generator.compute_grasp" in names and "robot.execute_grasp" in names
    assert any(m["role"] == "assistant" for m in trace["messages"])
    markers = received["markers"][-1].markers
    planned = [m for m in markers if m.ns == "planned"]
    assert len(planned) >= 3  # pre-grasp, grasp, lift: the intended motion
    assert all(abs(m.pose.position.x - target.position[0]) < 0.05 for m in planned)
    assert len([m for m in markers if m.ns == "objects"]) == len(scene.objects)
    image = received["image"][-1]
    assert (image.width, image.height, image.encoding) == (640, 480, "rgb8")
