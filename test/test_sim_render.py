"""The simulator's ray-casting camera: agreement with PyBullet's TinyRenderer, geometry, culling, fallback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("pybullet")
pytest.importorskip("pinocchio")
pytest.importorskip("open3d")

import pybullet as pb  # noqa: E402

from spacetools_ros.frames.geometry import backproject_depth, top_down_pose  # noqa: E402
from spacetools_ros.perception.attributes import colour_fractions  # noqa: E402
from spacetools_ros.robot.sim import SimBackend, SimCamera, TabletopSim, camera_from_scene  # noqa: E402
from spacetools_ros.robot.sim.raycast_camera import RaycastRenderer  # noqa: E402
from spacetools_ros.robot.sim.shape_meshes import (  # noqa: E402
    box_mesh,
    capsule_mesh,
    cylinder_mesh,
    sphere_mesh,
)
from spacetools_ros.sources.synthetic import TABLE_X, TABLE_Y, generate_tabletop  # noqa: E402


def _tiny(sim: TabletopSim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb, depth, PyBullet segmentation mask) of the world's camera by the TinyRenderer."""
    cam, k = sim.camera, sim.camera.intrinsics
    _, _, rgba, buffer, seg = pb.getCameraImage(
        k.width, k.height, cam.view_matrix(), cam.projection_matrix(), shadow=0, lightDirection=[-0.4, 0.3, 1.0],
        renderer=pb.ER_TINY_RENDERER, physicsClientId=sim.client)
    rgb = np.asarray(rgba, dtype=np.uint8).reshape(k.height, k.width, 4)[:, :, :3]
    depth = cam.linearise(np.asarray(buffer, dtype=np.float64).reshape(k.height, k.width))
    return rgb, depth, np.asarray(seg).reshape(k.height, k.width)


def _compound(sim: TabletopSim) -> int:
    """A two-piece body (a box on a cylinder) whose inertial frame is offset from its link frame."""
    c = sim.client
    vis = pb.createVisualShapeArray([pb.GEOM_CYLINDER, pb.GEOM_BOX], radii=[0.03, 0.0], lengths=[0.04, 0.0],
                                    halfExtents=[[0.0, 0.0, 0.0], [0.04, 0.015, 0.02]],
                                    visualFramePositions=[[0.0, 0.0, 0.02], [0.0, 0.0, 0.06]],
                                    rgbaColors=[[0.9, 0.5, 0.1, 1.0], [0.9, 0.5, 0.1, 1.0]], physicsClientId=c)
    col = pb.createCollisionShape(pb.GEOM_CYLINDER, radius=0.03, height=0.08,
                                  collisionFramePosition=[0.0, 0.0, 0.04], physicsClientId=c)
    return pb.createMultiBody(0.1, col, vis, [0.62, 0.25, 0.0], pb.getQuaternionFromEuler([0.0, 0.0, 0.5]),
                              baseInertialFramePosition=[0.0, 0.0, 0.03], physicsClientId=c)


@pytest.fixture(params=["home", "reaching", "bowls"])
def world(request: pytest.FixtureRequest) -> TabletopSim:
    """Worlds with objects of every kind; the arm at home or reaching over the table (in view)."""
    if request.param == "bowls":
        scene = generate_tabletop(seed=1, include=[("blue", "bowl"), ("red", "box")], bowls=True)
    else:
        scene = generate_tabletop(seed=0)
    sim = TabletopSim.from_scene(scene)
    if request.param != "home":
        _compound(sim)
        sim.step(24)
        assert SimBackend(sim).move_to_pose(top_down_pose(0.45, -0.15, 0.2)).success
    yield sim
    sim.close()


def test_raycast_frame_agrees_with_the_tiny_renderer(world: TabletopSim) -> None:
    frame = world.render()
    assert frame.metadata["renderer"] == "raycast"
    rgb, depth, seg = _tiny(world)
    valid, tiny_valid = frame.depth > 0, depth > 0
    assert np.mean(valid == tiny_valid) > 0.98
    both = valid & tiny_valid
    assert np.median(np.abs(frame.depth[both] - depth[both])) < 0.002
    # every object's pixels (away from its silhouette) have its colour
    for body in (b for b in np.unique(seg) if b > world.robot):  # the objects (and the compound body)
        inside = seg == body
        inside[1:-1, 1:-1] &= inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
        if inside.sum() < 50:
            continue
        ours, theirs = frame.rgb[inside].mean(axis=0), rgb[inside].astype(float).mean(axis=0)
        # the same hue and saturation (chromaticity); brightness differs only where TinyRenderer smooths the
        # normals of a cylinder's cap into its side (darker caps)
        assert np.abs(ours / ours.sum() - theirs / theirs.sum()).max() < 0.03, (body, ours, theirs)
        assert 0.8 < ours.sum() / theirs.sum() < 1.25, (body, ours, theirs)
        named, tiny_named = colour_fractions(frame.rgb[inside]), colour_fractions(rgb[inside])
        assert max(named, key=named.get) == max(tiny_named, key=tiny_named.get)
        assert np.median(np.abs(frame.depth[inside] - depth[inside])) < 0.002
    arm = seg == world.robot
    if arm.sum() > 50:
        assert np.mean(np.abs(frame.depth[arm] - depth[arm]) < 0.01) > 0.95


def test_table_depth_back_projects_to_the_table_plane() -> None:
    sim = TabletopSim([], camera_from_scene(generate_tabletop(seed=3, num_objects=0)))
    try:
        frame = sim.render()
    finally:
        sim.close()
    k, T = frame.intrinsics, frame.T_base_camera
    u, v = np.meshgrid(np.arange(k.width), np.arange(k.height))
    rays = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u, dtype=float)], -1) @ T[:3, :3].T
    t = -T[2, 3] / rays[..., 2]
    hit = T[:3, 3] + t[..., None] * rays
    inside = (t > 0) & (hit[..., 0] > TABLE_X[0] + 0.01) & (hit[..., 0] < TABLE_X[1] - 0.01)
    inside &= (hit[..., 1] > TABLE_Y[0] + 0.01) & (hit[..., 1] < TABLE_Y[1] - 0.01)
    assert inside.sum() > 0.3 * inside.size
    points = backproject_depth(frame.depth, k)[inside] @ T[:3, :3].T + T[:3, 3]
    z = np.abs(points[:, 2])
    assert np.median(z) < 0.0015 and np.percentile(z, 99) < 0.003  # sampled half a pixel off centre, as tiny
    assert np.linalg.norm(points[:, :2] - hit[inside][:, :2], axis=1).max() < 0.005


def test_frame_carries_the_camera() -> None:
    scene = generate_tabletop(seed=2)
    sim = TabletopSim.from_scene(scene)
    try:
        frame = sim.render(stamp=12.5)
        k = scene.frame.intrinsics
        assert frame.intrinsics == k and np.allclose(frame.T_base_camera, scene.frame.T_base_camera)
        assert frame.frame_id == scene.frame.frame_id and frame.base_frame_id == "base_link" and frame.stamp == 12.5
        assert frame.rgb.shape == (k.height, k.width, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth.shape == (k.height, k.width) and frame.depth.dtype == np.float32
        assert frame.depth.min() >= 0.0 and (frame.depth > 0).mean() > 0.9
        small = SimCamera(k.scaled(160, 120), sim.camera.T_base_camera, sim.camera.near, sim.camera.far)
        low = sim.render(small)
        assert low.rgb.shape == (120, 160, 3) and low.intrinsics == small.intrinsics
        # a camera looking up at the sky sees nothing: depth 0, white
        looking_up = np.eye(4)
        looking_up[2, 3] = 3.0
        sky = sim.render(SimCamera(k.scaled(64, 48), looking_up))
        assert (sky.depth == 0).all() and (sky.rgb == 255).all()
    finally:
        sim.close()


def test_a_teleported_object_leaves_the_table_visible() -> None:
    sim = TabletopSim.from_scene(generate_tabletop(seed=0))
    try:
        name, body = next(iter(sim.object_ids.items()))
        sim.render()
        before = sim.render()  # the objects are at rest by now: the camera keeps them drawn
        T = before.T_base_camera
        top = sim.object_poses()[name][:3, 3] + np.array([0.0, 0.0, 0.5 * sim.object_heights()[name]])

        def pixel(p: np.ndarray) -> tuple[int, int, float]:
            q = np.linalg.inv(T) @ np.append(p, 1.0)
            k = before.intrinsics
            return int(round(k.fx * q[0] / q[2] + k.cx)), int(round(k.fy * q[1] / q[2] + k.cy)), float(q[2])

        u, v, z_top = pixel(top)
        assert abs(before.depth[v, u] - z_top) < 0.005
        target = np.array([0.78, -0.3, 0.5 * sim.object_heights()[name]])
        pb.resetBasePositionAndOrientation(body, target.tolist(), [0.0, 0.0, 0.0, 1.0], physicsClientId=sim.client)
        after = sim.render()
        u2, v2, z2 = pixel(np.array([0.78, -0.3, sim.object_heights()[name]]))
        assert abs(after.depth[v2, u2] - z2) < 0.005  # it shows up where it is now
        point = backproject_depth(after.depth, after.intrinsics)[v, u]
        assert abs((T[:3, :3] @ point + T[:3, 3])[2]) < 0.002  # the table where it stood
        assert np.abs(after.rgb[v, u].astype(int) - [181, 142, 100]).max() <= 3  # table colour, lit from above
        assert np.array_equal(after.depth, sim.render().depth)  # nothing moved: the same frame
        pb.resetBasePositionAndOrientation(body, (top - [0.0, 0.0, 0.5 * sim.object_heights()[name]]).tolist(),
                                           [0.0, 0.0, 0.0, 1.0], physicsClientId=sim.client)
        back = sim.render()  # moved back from a kept (resting) place: drawn there again, gone from the other
        assert abs(back.depth[v, u] - z_top) < 0.005 and abs(back.depth[v2, u2] - z2) > 0.02
    finally:
        sim.close()


def test_culling_and_kept_bodies_give_the_frame_of_casting_every_ray() -> None:
    """Only the moving bodies' pixels are cast, and bodies at rest are kept drawn where they came to rest (within
    0.1 mm): the frames match casting every ray at every frame, while the arm moves, stops and moves again."""
    sim = TabletopSim.from_scene(generate_tabletop(seed=1, include=[("green", "bowl")], bowls=True))
    try:
        backend = SimBackend(sim)
        full = RaycastRenderer(sim.client, sim._visual_mesh, cull=False)
        home = np.asarray(sim.profile.home, dtype=float)
        targets = (None, None, top_down_pose(0.5, 0.2, 0.3, 0.3), None, "home", "home", top_down_pose(0.45, -0.15, 0.2))
        for target in targets:
            if target is None:
                sim.step(24)
            elif isinstance(target, str):  # on the way home: the arm is moving at this frame
                sim.set_arm_targets(home)
                sim.step(12)
            else:
                assert backend.move_to_pose(target).success
            frame = sim.render()
            rgb, depth = full.render(sim.camera)
            error = np.abs(frame.depth - depth)
            assert np.percentile(error, 99) < 0.0002 and np.mean(error < 0.001) > 0.999, np.percentile(error, 99.9)
            same_colour = np.mean((frame.rgb == rgb).all(axis=-1))
            assert same_colour > 0.995, same_colour
    finally:
        sim.close()


@pytest.mark.parametrize("mass", [0.0, 1.0], ids=["static", "dynamic"])
def test_a_camera_inside_a_body_sees_out_of_it(mass: float) -> None:
    """Back faces are culled, as TinyRenderer culls them (the scenes' cameras sit right at the arm's elbow)."""
    sim = TabletopSim([], camera_from_scene(generate_tabletop(seed=0, num_objects=0)))
    try:
        looking_down = np.eye(4)
        looking_down[:3, :3], looking_down[:3, 3] = np.diag([1.0, -1.0, -1.0]), (0.6, 0.0, 1.0)
        camera = SimCamera(sim.camera.intrinsics.scaled(160, 120), looking_down)
        outside = sim.render(camera)
        vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=[0.2, 0.2, 0.2], rgbaColor=[0, 1, 0, 1],
                                   physicsClientId=sim.client)
        pb.createMultiBody(mass, -1, vis, [0.6, 0.0, 1.0], physicsClientId=sim.client)
        inside = sim.render(camera)
        assert np.allclose(inside.depth, outside.depth, rtol=0.0, atol=1e-5) and np.array_equal(inside.rgb, outside.rgb)
        sim.renderer = "tiny"
        tiny = sim.render(camera)
        assert np.median(np.abs(tiny.depth - inside.depth)) < 0.002
    finally:
        sim.close()


def test_the_moving_arm_shows_up_where_it_is() -> None:
    scene = generate_tabletop(seed=0, num_objects=0)
    # a camera in front of the table looking back at the robot (the scene's own sits at the arm's elbow)
    eye, target = np.array([1.5, 0.3, 0.7]), np.array([0.4, 0.0, 0.2])
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    T_base_camera = np.eye(4)
    T_base_camera[:3, :3], T_base_camera[:3, 3] = np.stack([x, np.cross(z, x), z], axis=1), eye
    sim = TabletopSim([], SimCamera(scene.frame.intrinsics, T_base_camera))
    try:
        home = sim.render()
        assert SimBackend(sim).move_to_pose(top_down_pose(0.6, 0.0, 0.15)).success
        frame = sim.render()
        # PyBullet's own ray test against the collision shapes (the arm's are its visual shapes), every 6th pixel
        T, k = frame.T_base_camera, frame.intrinsics
        u, v = np.meshgrid(np.arange(0, k.width, 6), np.arange(0, k.height, 6))
        d = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones(u.shape)], -1).reshape(-1, 3)
        ends = T[:3, 3] + 3.0 * d @ T[:3, :3].T
        hits = pb.rayTestBatch([T[:3, 3].tolist()] * len(d), ends.tolist(), physicsClientId=sim.client)
        arm = np.array([h[0] == sim.robot for h in hits])
        expected = np.array([3.0 * h[2] for h in hits])  # hit fraction of the 3 m optical-axis extent
        assert arm.sum() > 300  # the arm is in view
        ours, before = frame.depth[v, u].reshape(-1)[arm], home.depth[v, u].reshape(-1)[arm]
        error = np.abs(ours - expected[arm])  # our cylinders are 32-gons: mm off at grazing angles
        assert np.median(error) < 0.002 and np.mean(error < 0.005) > 0.85, np.percentile(error, [50, 90, 99])
        assert np.sum(ours < before - 0.05) > 100  # where it came, in front of what was there before
    finally:
        sim.close()


def test_an_unreadable_shape_falls_back_to_the_tiny_renderer_with_one_warning() -> None:
    sim = TabletopSim.from_scene(generate_tabletop(seed=0, num_objects=1))
    try:
        c = sim.client
        vis = pb.createVisualShape(pb.GEOM_MESH, vertices=[[0, 0, 0], [0.05, 0, 0], [0, 0.05, 0]], indices=[0, 1, 2],
                                   physicsClientId=c)
        pb.createMultiBody(0.0, -1, vis, [0.5, 0.0, 0.2], physicsClientId=c)
        with pytest.warns(RuntimeWarning, match="TinyRenderer"):
            frame = sim.render()
        assert sim.renderer == "tiny" and frame.metadata["renderer"] == "tiny" and (frame.depth > 0).any()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sim.render()
    finally:
        sim.close()
    with pytest.raises(ValueError, match="renderer"):
        TabletopSim(renderer="opengl")


@pytest.mark.parametrize("mesh", [box_mesh((0.1, 0.2, 0.3)), cylinder_mesh(0.05, 0.2), sphere_mesh(0.07),
                                  capsule_mesh(0.04, 0.1)], ids=["box", "cylinder", "sphere", "capsule"])
def test_primitive_meshes_are_closed_and_face_outwards(mesh) -> None:
    v, n, f = mesh.vertices, mesh.normals, mesh.triangles
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    face = np.cross(b - a, c - a)
    big = np.linalg.norm(face, axis=1) > 1e-12
    centre = (a + b + c) / 3.0
    assert (np.einsum("ij,ij->i", face[big], centre[big]) > 0).all()  # counter-clockwise seen from outside
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0  # divergence theorem: closed and outward
    expected = {"box": 0.006, "cylinder": np.pi * 0.05**2 * 0.2, "sphere": 4 / 3 * np.pi * 0.07**3,
                "capsule": np.pi * 0.04**2 * 0.1 + 4 / 3 * np.pi * 0.04**3}
    assert min(abs(volume - e) / e for e in expected.values()) < 0.03
