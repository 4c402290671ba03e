"""The PyBullet simulator backend: rendering geometry, IK-driven motions, grasps, cancel, and the perception chain."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("pybullet")
pytest.importorskip("pinocchio")

from spacetools_ros.frames.geometry import backproject_depth, top_down_pose  # noqa: E402
from spacetools_ros.robot.profile import PANDA  # noqa: E402
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard, SafetyError  # noqa: E402
from spacetools_ros.robot.sim import SimBackend, TabletopSim, camera_from_scene  # noqa: E402
from spacetools_ros.robot.skills import Manipulator  # noqa: E402
from spacetools_ros.sources.synthetic import (  # noqa: E402
    TABLE_X,
    TABLE_Y,
    SceneObjectSpec,
    generate_tabletop,
)

BOX = SceneObjectSpec("red_box_0", "box", "red", (200, 35, 35), (0.04, 0.06, 0.08), (0.5, 0.05), 0.4)
CYLINDER = SceneObjectSpec("blue_cylinder_1", "cylinder", "blue", (40, 70, 200), (0.045, 0.045, 0.12),
                           (0.55, -0.15), 0.0)




@pytest.fixture
def world() -> tuple[TabletopSim, SimBackend]:
    """A box and a cylinder near the robot, the camera of synthetic scene 0."""
    sim = TabletopSim([BOX, CYLINDER], camera_from_scene(generate_tabletop(seed=0, num_objects=0)))
    yield sim, SimBackend(sim)
    sim.close()


def test_rendered_depth_matches_the_table_geometry() -> None:
    scene = generate_tabletop(seed=3, num_objects=0)
    sim = TabletopSim([], camera_from_scene(scene))
    try:
        frame = SimBackend(sim).capture()
    finally:
        sim.close()
    k, T = frame.intrinsics, frame.T_base_camera
    assert frame.rgb.shape == (k.height, k.width, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.dtype == np.float32 and frame.base_frame_id == "base_link"
    # pixels whose ray meets z = 0 well inside the table
    u, v = np.meshgrid(np.arange(k.width), np.arange(k.height))
    rays = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u, dtype=float)], -1) @ T[:3, :3].T
    t = -T[2, 3] / rays[..., 2]
    hit = T[:3, 3] + t[..., None] * rays
    inside = (t > 0) & (hit[..., 0] > TABLE_X[0] + 0.02) & (hit[..., 0] < TABLE_X[1] - 0.02)
    inside &= (hit[..., 1] > TABLE_Y[0] + 0.02) & (hit[..., 1] < TABLE_Y[1] - 0.02)
    assert inside.sum() > 0.3 * inside.size
    cloud = backproject_depth(frame.depth, k)
    points = cloud[inside] @ T[:3, :3].T + T[:3, 3]
    assert np.isfinite(points).all()
    z = np.abs(points[:, 2])
    assert np.median(z) < 0.0015 and np.percentile(z, 99) < 0.005
    assert np.linalg.norm(points[:, :2] - hit[inside][:, :2], axis=1).max() < 0.02  # x, y agree too


def test_move_to_pose_reaches_reachable_targets(world: tuple[TabletopSim, SimBackend]) -> None:
    sim, backend = world
    assert np.allclose(backend.tcp_pose(), sim.tcp_pose_world(), atol=1e-6)  # pinocchio FK == PyBullet
    for x, y, z, straight in ((0.5, 0.2, 0.3, False), (0.45, -0.1, 0.25, False), (0.45, -0.1, 0.15, True)):
        target = top_down_pose(x, y, z, 0.3)
        result = backend.move_to_pose(target, straight=straight)
        assert result.success, result.message
        assert np.linalg.norm(sim.tcp_pose_world()[:3, 3] - target[:3, 3]) < 0.005
        assert np.linalg.norm(backend.tcp_pose()[:3, 3] - target[:3, 3]) < 0.005
    assert backend.move_home().success
    assert np.allclose(backend.joint_positions(), backend.profile.home, atol=0.01)


@pytest.mark.parametrize("spec", [BOX, CYLINDER], ids=lambda s: s.shape)
def test_top_down_grasp_lifts_a_small_object(world: tuple[TabletopSim, SimBackend], spec: SceneObjectSpec) -> None:
    sim, backend = world
    pose = sim.object_poses()[spec.name]
    closing = spec.yaw if spec.shape == "box" else 0.0  # across the box's 4 cm side
    grasp = top_down_pose(pose[0, 3], pose[1, 3], max(spec.size[2] - 0.03, 0.015), closing)
    result = Manipulator(backend).execute_grasp(grasp)
    assert result.success, result.message
    assert sim.object_poses()[spec.name][2, 3] - pose[2, 3] > 0.05
    assert 0.003 < backend.gripper_width() < 0.08
    other = CYLINDER.name if spec is BOX else BOX.name
    assert sim.object_bottoms()[other] < 0.005  # the other object still stands


def test_grasping_empty_space_holds_nothing(world: tuple[TabletopSim, SimBackend]) -> None:
    sim, backend = world
    before = sim.object_poses()
    result = Manipulator(backend).execute_grasp(top_down_pose(0.45, -0.32, 0.05, 0.0))
    assert not result.success and result.moved
    assert backend.gripper_width() < 0.003
    after = sim.object_poses()
    assert all(np.allclose(before[n][:3, 3], after[n][:3, 3], atol=0.005) for n in before)


def test_cancel_stops_a_long_motion_within_100_ms(world: tuple[TabletopSim, SimBackend]) -> None:
    sim, backend = world
    backend.realtime = True  # a motion that takes seconds of wall time
    target = top_down_pose(0.5, -0.3, 0.2, 0.0)
    results: list = []
    mover = threading.Thread(target=lambda: results.append(backend.move_to_pose(target, velocity_scaling=0.1)))
    mover.start()
    deadline = time.perf_counter() + 10.0
    speed_before = 0.0
    while speed_before <= 0.1 and time.perf_counter() < deadline:  # the arm is well under way
        time.sleep(0.005)
        speed_before = float(np.abs(sim.joint_velocities()).max())
    cancelled_at = time.perf_counter()
    backend.gate.cancel()
    mover.join(5.0)
    returned = time.perf_counter()
    result = results[0]
    assert speed_before > 0.1  # it was moving
    assert not result.success and result.message == "cancelled" and result.moved
    assert returned - cancelled_at < 0.1, returned - cancelled_at
    assert np.abs(sim.joint_velocities()).max() < 0.05  # stopped when the primitive returned
    stopped = sim.tcp_pose_world()[:3, 3]
    assert np.linalg.norm(stopped - target[:3, 3]) > 0.05
    sim.step(120)  # the arm holds where it stopped
    assert np.abs(sim.joint_velocities()).max() < 0.05
    assert np.linalg.norm(sim.tcp_pose_world()[:3, 3] - stopped) < 0.005
    backend.gate.reset_cancel()
    backend.realtime = False
    assert backend.move_to_pose(target).success


def test_gate_is_respected() -> None:
    sim = TabletopSim([BOX])
    try:
        gate = ExecutionGate(enabled=False)
        backend = SimBackend(sim, MotionGuard.from_profile(PANDA, gate), gate)
        q = backend.joint_positions()
        with pytest.raises(SafetyError):
            backend.move_to_pose(top_down_pose(0.5, 0.0, 0.3, 0.0))
        gate.set_dry_run(True)
        assert not backend.move_to_pose(top_down_pose(0.5, 0.0, 0.3, 0.0)).moved
        assert np.allclose(backend.joint_positions(), q, atol=1e-3)
        with pytest.raises(SafetyError):  # outside the workspace box
            backend.move_to_pose(top_down_pose(1.5, 0.0, 0.3, 0.0))
    finally:
        sim.close()


def test_deterministic() -> None:
    poses = []
    for _ in range(2):
        sim = TabletopSim([BOX, CYLINDER])
        backend = SimBackend(sim)
        backend.move_to_pose(top_down_pose(0.5, 0.0, 0.2, 0.0))
        backend.set_gripper(0.0)
        poses.append((backend.joint_positions(), sim.object_poses()[BOX.name]))
        sim.close()
    assert np.array_equal(poses[0][0], poses[1][0]) and np.array_equal(poses[0][1], poses[1][1])


def test_perception_chain_grasps_in_simulation() -> None:
    """Rendered frame -> segment_tabletop -> compute_grasp -> execute_grasp lifts the object, on 5 seeded scenes."""
    from spacetools_ros.perception.grasp import GraspError, compute_grasp
    from spacetools_ros.perception.tabletop import segment_tabletop

    outcomes = []
    for seed in range(5):
        sim = TabletopSim.from_scene(generate_tabletop(seed=seed, num_objects=4))
        try:
            backend = SimBackend(sim)
            frame = backend.capture()
            segmented = segment_tabletop(frame)
            truth = sim.object_poses()
            candidates = []
            for obj in segmented.objects:
                name = min(truth, key=lambda n: np.linalg.norm(truth[n][:2, 3] - obj.centroid_base[:2]))
                spec = sim.objects[name]
                if min(spec.size[:2]) <= 0.07 and np.hypot(*spec.position) < 0.75:
                    candidates.append((float(np.hypot(*spec.position)), name, obj))
            if not candidates:
                continue
            _, name, obj = min(candidates, key=lambda c: c[0])
            cloud = backproject_depth(frame.depth, frame.intrinsics)
            try:
                grasp = compute_grasp(cloud, obj.mask, segmented.plane.coefficients)
            except GraspError:
                outcomes.append(False)
                continue
            result = Manipulator(backend).execute_grasp(frame.T_base_camera @ grasp.pose)
            lifted = sim.object_poses()[name][2, 3] - truth[name][2, 3]
            outcomes.append(result.success and lifted > 0.05)
        finally:
            sim.close()
    assert len(outcomes) >= 4
    assert np.mean(outcomes) >= 0.6, outcomes


def test_an_arm_resting_just_past_a_limit_can_still_move_but_not_one_far_past(
        world: tuple[TabletopSim, SimBackend]) -> None:
    from spacetools_ros.robot.safety import SafetyError

    sim, backend = world
    q = np.asarray(backend.profile.home, dtype=float).copy()
    q[6] = backend.profile.upper_limits[6] + 2e-4  # where a contact can leave joint 7
    sim.reset_arm(q)
    result = backend.move_home()
    assert result.success, result.message
    assert np.all(sim.joint_positions() <= backend.profile.upper_limits + 1e-3)
    q[6] = backend.profile.upper_limits[6] + 0.05  # far past: refused, nothing moves
    sim.reset_arm(q)
    with pytest.raises(SafetyError, match="limit"):
        backend.move_home()
    np.testing.assert_allclose(sim.joint_positions(), q, atol=1e-3)
