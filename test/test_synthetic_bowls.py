"""Bowls in the generated tabletop: ray-cast geometry and labels, seeded scenes, include=, the PyBullet bowl, and the
classical grounding of "the blue bowl" / "the red cube" on both renderings."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.frames.geometry import normalized_to_pixel
from spacetools_ros.perception.grounding import ClassicalGrounding
from spacetools_ros.perception.scene_cache import SceneCache
from spacetools_ros.sources import synthetic
from spacetools_ros.sources.synthetic import (
    BOWL_BOTTOM_M,
    BOWL_WALL_M,
    INCLUDED_REACH_M,
    PALETTE,
    SceneObjectSpec,
    generate_tabletop,
)

REPO = Path(__file__).resolve().parents[1]
DEMO = [("red", "box"), ("blue", "bowl")]
TOLERANCE_M = 1e-3


def _points(frame: RGBDFrame) -> np.ndarray:
    """Base-frame point of every pixel (HxWx3) from the frame's depth."""
    k, T = frame.intrinsics, frame.T_base_camera
    v, u = np.mgrid[0:k.height, 0:k.width].astype(np.float64)
    cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], -1) * frame.depth[..., None]
    return cam @ T[:3, :3].T + T[:3, 3]


def _ray_at(frame: RGBDFrame, point: tuple[float, float], z: float) -> np.ndarray:
    """Where the ray of a normalised image point crosses the horizontal plane at height z (base frame)."""
    u, v = normalized_to_pixel(point[0], point[1], frame.width, frame.height)
    k, T = frame.intrinsics, frame.T_base_camera
    d = T[:3, :3] @ np.array([(u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0])
    return T[:3, 3] + d * (z - T[2, 3]) / d[2]


def _label_at(labels: np.ndarray, point: tuple[float, float]) -> int:
    u, v = normalized_to_pixel(point[0], point[1], labels.shape[1], labels.shape[0])
    return int(labels[int(round(float(v))), int(round(float(u)))])


# ------------------------------------------------------------------------------------------------ geometry


@pytest.fixture(scope="module")
def bowl_scene() -> synthetic.SyntheticScene:
    return generate_tabletop(seed=3, num_objects=3, include=DEMO, depth_noise=0.0)


def test_bowl_pixels_lie_on_its_four_surfaces(bowl_scene):
    """Every pixel labelled as the bowl sees its outer wall, rim, inner wall or inner bottom at the right depth."""
    index = next(i for i, o in enumerate(bowl_scene.objects) if o.shape == "bowl")
    bowl = bowl_scene.objects[index]
    outer, inner, height = 0.5 * bowl.size[0], bowl.inner_radius, bowl.height
    assert inner == pytest.approx(outer - BOWL_WALL_M) and bowl.inner_bottom == BOWL_BOTTOM_M
    p = _points(bowl_scene.frame)[bowl_scene.labels == index]
    rho = np.hypot(p[:, 0] - bowl.position[0], p[:, 1] - bowl.position[1])
    z = p[:, 2]
    t = TOLERANCE_M
    surfaces = {
        "outer wall": (np.abs(rho - outer) < t) & (z > -t) & (z < height + t),
        "rim": (np.abs(z - height) < t) & (rho > inner - t) & (rho < outer + t),
        "inner wall": (np.abs(rho - inner) < t) & (z > BOWL_BOTTOM_M - t) & (z < height + t),
        "inner bottom": (np.abs(z - BOWL_BOTTOM_M) < t) & (rho < inner + t),
    }
    for name, on in surfaces.items():
        assert on.sum() > 50, f"the camera sees too little of the bowl's {name}: {on.sum()} pixels"
    on_any = np.any(list(surfaces.values()), axis=0)
    assert on_any.all(), f"{(~on_any).sum()} bowl pixels lie on none of its surfaces"


def test_inner_bottom_is_deeper_than_the_rim_and_labelled(bowl_scene):
    """The middle of the opening shows the inner bottom (BOWL_BOTTOM_M up), deeper than the rim beside it, and
    the table never shows through the bowl."""
    index = next(i for i, o in enumerate(bowl_scene.objects) if o.shape == "bowl")
    bowl = bowl_scene.objects[index]
    frame = bowl_scene.frame
    T_camera_base = np.linalg.inv(frame.T_base_camera)
    k = frame.intrinsics

    def pixel_and_depth(point_base: np.ndarray) -> tuple[int, int, float]:
        c = T_camera_base[:3, :3] @ point_base + T_camera_base[:3, 3]
        return int(round(k.fx * c[0] / c[2] + k.cx)), int(round(k.fy * c[1] / c[2] + k.cy)), float(c[2])

    cx, cy = bowl.position
    u, v, expected = pixel_and_depth(np.array([cx, cy, BOWL_BOTTOM_M]))
    assert bowl_scene.labels[v, u] == index
    assert frame.depth[v, u] == pytest.approx(expected, abs=2e-3)  # one pixel's spread at the bottom's slant
    rim_radius = bowl.inner_radius + 0.5 * BOWL_WALL_M
    rim_depths = []
    for angle in np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False):
        ru, rv, rim_expected = pixel_and_depth(np.array([cx + rim_radius * np.cos(angle),
                                                         cy + rim_radius * np.sin(angle), bowl.height]))
        if bowl_scene.labels[rv, ru] == index and abs(frame.depth[rv, ru] - rim_expected) < 2e-3:
            rim_depths.append(rim_expected)
    assert len(rim_depths) >= 8  # most of the rim is in plain view
    assert frame.depth[v, u] > max(rim_depths) - 0.5 * bowl.height  # the bottom lies below the rim, seen deeper
    assert frame.depth[v, u] > np.median(rim_depths)
    # no table pixel inside the bowl's outline: its footprint disc, seen through the opening, is all bowl
    p = _points(frame)
    rho = np.hypot(p[..., 0] - cx, p[..., 1] - cy)
    assert not ((bowl_scene.labels == -1) & (rho < bowl.inner_radius) & (frame.depth > 0)).any()


# ----------------------------------------------------------------------------------------- seeded scenes


def _head_synthetic() -> types.ModuleType | None:
    """synthetic.py as committed at HEAD, loaded as its own module (None without git or the repository)."""
    try:
        source = subprocess.run(["git", "show", "HEAD:spacetools_ros/sources/synthetic.py"], cwd=REPO,
                                capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    module = types.ModuleType("synthetic_at_head")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    try:
        exec(compile(source, "synthetic_at_head.py", "exec"), module.__dict__)
    finally:
        sys.modules.pop(module.__name__, None)
    return module


def _digest(scene) -> str:
    h = hashlib.sha256()
    for array in (scene.frame.rgb, scene.frame.depth, scene.labels, scene.frame.T_base_camera):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("seed,num_objects", [(0, 4), (1, 3), (3, 5), (7, 5), (11, 4), (2, 8)])
def test_existing_seeds_give_the_scenes_they_gave_at_head(seed, num_objects):
    head = _head_synthetic()
    if head is None:
        pytest.skip("git or the repository's HEAD is not available")
    before = head.generate_tabletop(seed=seed, num_objects=num_objects)
    after = generate_tabletop(seed=seed, num_objects=num_objects)
    assert [dataclasses.asdict(o) for o in after.objects] == [dataclasses.asdict(o) for o in before.objects]
    assert _digest(after) == _digest(before)
    assert after.frame.metadata == before.frame.metadata


# Recorded from HEAD (commit 5ebbd30, before bowls existed): name, size, position, yaw rounded to 0.1 mm / 1e-4 rad.
RECORDED_AT_HEAD = {
    (0, 4): [("yellow_cylinder_0", (0.0957, 0.0957, 0.0454), (0.4867, 0.1889), 0.0),
             ("blue_cylinder_1", (0.068, 0.068, 0.088), (0.4308, -0.1954), 0.0),
             ("red_cylinder_2", (0.0854, 0.0854, 0.1436), (0.7927, 0.0965), 0.0),
             ("purple_cylinder_3", (0.0422, 0.0422, 0.1022), (0.6942, 0.0132), 0.0)],
    (3, 5): [("white_box_0", (0.0765, 0.0688, 0.1026), (0.7004, 0.2373), 0.5454),
             ("red_box_1", (0.0927, 0.0563, 0.1438), (0.7899, -0.1048), -3.1322),
             ("orange_box_2", (0.0827, 0.0724, 0.1827), (0.4315, 0.1076), 1.7171),
             ("green_box_3", (0.0894, 0.1138, 0.0545), (0.5697, -0.0106), -1.8398),
             ("purple_box_4", (0.1084, 0.0548, 0.0867), (0.5603, -0.2159), 0.3884)],
}


@pytest.mark.parametrize("key", sorted(RECORDED_AT_HEAD))
def test_existing_seeds_match_specs_recorded_before_bowls(key):
    seed, num_objects = key
    scene = generate_tabletop(seed=seed, num_objects=num_objects)
    got = [(o.name, tuple(round(v, 4) for v in o.size), tuple(round(v, 4) for v in o.position), round(o.yaw, 4))
           for o in scene.objects]
    assert got == RECORDED_AT_HEAD[key]
    assert all(o.shape != "bowl" for o in scene.objects)


def test_generation_with_bowls_is_deterministic():
    a = generate_tabletop(seed=5, num_objects=5, include=DEMO, bowls=True)
    b = generate_tabletop(seed=5, num_objects=5, include=DEMO, bowls=True)
    assert [dataclasses.asdict(o) for o in a.objects] == [dataclasses.asdict(o) for o in b.objects]
    assert _digest(a) == _digest(b)
    c = generate_tabletop(seed=6, num_objects=5, include=DEMO, bowls=True)
    assert _digest(c) != _digest(a)


# -------------------------------------------------------------------------------------------- include=


@pytest.mark.parametrize("seed", range(4))
def test_included_objects_come_first_within_reach(seed):
    scene = generate_tabletop(seed=seed, num_objects=5, include=DEMO)
    cube, bowl, *rest = scene.objects
    assert (cube.name, cube.shape, cube.colour, cube.rgb) == ("red_box_0", "box", "red", PALETTE["red"])
    assert (bowl.name, bowl.shape, bowl.colour) == ("blue_bowl_1", "bowl", "blue")
    assert cube.size[0] == cube.size[1] == cube.size[2] and 0.04 <= cube.size[0] <= 0.055  # a graspable cube
    assert bowl.size[0] == bowl.size[1] and 0.12 <= bowl.size[0] <= 0.18 and 0.04 <= bowl.height <= 0.07
    assert bowl.height / bowl.size[0] < 0.6  # reads as a bowl, not a cup
    for spec in (cube, bowl):
        assert math.hypot(*spec.position) <= INCLUDED_REACH_M
    assert len(rest) == 3
    for i, spec in enumerate(rest, start=2):
        assert spec.name == f"{spec.colour}_{spec.shape}_{i}" and spec.shape in ("box", "cylinder")
        assert spec.colour not in ("red", "blue")
    for i, a in enumerate(scene.objects):  # no overlaps
        for b in scene.objects[i + 1:]:
            assert math.dist(a.position, b.position) >= a.radius + b.radius
    assert set(np.unique(scene.labels)) == {-1, 0, 1, 2, 3, 4}  # every object is in view


def test_include_sizes_bowls_flag_and_errors():
    scene = generate_tabletop(seed=1, num_objects=2, include=[("green", "cylinder", (0.05, 0.05, 0.1)),
                                                              ("yellow", "bowl", (0.15, 0.15, 0.05))])
    assert [o.size for o in scene.objects] == [(0.05, 0.05, 0.1), (0.15, 0.15, 0.05)]
    assert scene.frame.metadata["include"] == [["green", "cylinder"], ["yellow", "bowl"]]
    shapes = [o.shape for seed in range(6) for o in generate_tabletop(seed=seed, num_objects=4, bowls=True).objects]
    assert "bowl" in shapes and "box" in shapes and "cylinder" in shapes
    with pytest.raises(ValueError, match="unknown colour"):
        generate_tabletop(seed=0, num_objects=2, include=[("mauve", "box")])
    with pytest.raises(ValueError, match="unknown shape"):
        generate_tabletop(seed=0, num_objects=2, include=[("red", "sphere")])
    with pytest.raises(ValueError, match="num_objects"):
        generate_tabletop(seed=0, num_objects=1, include=DEMO)
    with pytest.raises(ValueError, match="bowl"):
        SceneObjectSpec("b", "bowl", "blue", PALETTE["blue"], (0.01, 0.01, 0.05), (0.5, 0.0))


# --------------------------------------------------------------------------------------------- PyBullet

@pytest.fixture()
def bowl_world():
    pytest.importorskip("pybullet")
    from spacetools_ros.robot.sim import TabletopSim

    bowl = SceneObjectSpec("blue_bowl_0", "bowl", "blue", PALETTE["blue"], (0.13, 0.13, 0.05), (0.55, 0.1))
    cube = SceneObjectSpec("red_box_1", "box", "red", PALETTE["red"], (0.05, 0.05, 0.05), (0.55, -0.15), 0.3)
    world = TabletopSim([bowl, cube])
    yield world, bowl, cube
    world.close()


def test_pybullet_bowl_stands_still_and_holds_a_dropped_cube(bowl_world):
    import pybullet

    world, bowl, cube = bowl_world
    start = world.object_poses()[bowl.name]
    assert abs(world.object_bottoms()[bowl.name]) < 2e-3  # standing on the table
    assert start[2, 3] == pytest.approx(0.5 * bowl.height, abs=2e-3)  # the pose is the volume's centre, as for all
    world.step(480)  # 2 s
    still = world.object_poses()[bowl.name]
    assert np.linalg.norm(still[:3, 3] - start[:3, 3]) < 1e-3
    assert math.degrees(math.acos(min(1.0, still[2, 2]))) < 0.5

    # drop the cube, tilted and off-centre, from 5 cm above the rim
    drop = [bowl.position[0] + 0.02, bowl.position[1] - 0.01, bowl.height + 0.05 + 0.5 * cube.height]
    quaternion = pybullet.getQuaternionFromEuler([0.2, 0.1, 0.7])
    pybullet.resetBasePositionAndOrientation(world.object_ids[cube.name], drop, quaternion,
                                             physicsClientId=world.client)
    world.step(480)
    poses, bottoms = world.object_poses(), world.object_bottoms()
    inside = np.linalg.norm(poses[cube.name][:2, 3] - poses[bowl.name][:2, 3])
    assert inside < bowl.inner_radius - 0.5 * cube.size[0]
    assert bottoms[cube.name] == pytest.approx(BOWL_BOTTOM_M, abs=3e-3)  # resting on the inner bottom
    assert math.degrees(math.acos(min(1.0, poses[cube.name][2, 2]))) < 5  # flat on it
    assert math.degrees(math.acos(min(1.0, poses[bowl.name][2, 2]))) < 2  # the bowl did not tip
    assert np.linalg.norm(poses[bowl.name][:2, 3] - still[:2, 3]) < 0.01
    assert abs(bottoms[bowl.name]) < 2e-3


# ------------------------------------------------------------------------------------------- perception


@pytest.fixture(scope="module")
def demo_frames():
    """(scene, numpy-rendered frame, PyBullet-rendered frame) of two include=DEMO scenes."""
    pytest.importorskip("pybullet")
    from spacetools_ros.robot.sim import TabletopSim

    out = []
    for seed in (0, 3):
        scene = generate_tabletop(seed=seed, num_objects=4, include=DEMO)
        world = TabletopSim.from_scene(scene)
        try:
            out.append((scene, scene.frame, world.render()))
        finally:
            world.close()
    return out


def test_grounding_finds_the_blue_bowl_and_the_red_cube_on_both_renderings(demo_frames):
    for scene, *frames in demo_frames:
        cube, bowl = scene.objects[:2]
        for frame in frames:
            grounding = ClassicalGrounding(SceneCache())
            blue = [a for a in grounding.cache.get(frame).attributes(frame.rgb) if a.colours["blue"] >= 0.5]
            assert [a.shape for a in blue] == ["bowl"], frame.metadata
            (found_bowl,) = grounding.detect(frame, "the blue bowl", 1)
            assert found_bowl.label == "bowl"
            # the point looks into the opening: its ray meets the inner bottom well inside the wall
            hit = _ray_at(frame, found_bowl.point, bowl.inner_bottom)
            assert math.dist(hit[:2], bowl.position) < 0.5 * bowl.inner_radius, frame.metadata
            # "inside the blue bowl": the middle of its opening, where something put into it goes
            (inside,) = grounding.detect(frame, "inside the blue bowl", 1)
            assert inside.label == "bowl"
            middle = _ray_at(frame, inside.point, bowl.inner_bottom)
            assert math.dist(middle[:2], bowl.position) < 0.01, frame.metadata
            (found_cube,) = grounding.detect(frame, "the red cube", 1)
            assert found_cube.label == "box"
            top = _ray_at(frame, found_cube.point, cube.height)
            assert math.dist(top[:2], cube.position) < 0.5 * cube.size[0], frame.metadata
            if frame is scene.frame:
                assert _label_at(scene.labels, found_bowl.point) == 1
                assert _label_at(scene.labels, found_cube.point) == 0
