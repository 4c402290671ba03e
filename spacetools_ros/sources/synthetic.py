"""A procedurally generated tabletop RGB-D frame, with ground truth, that the project owns.

Boxes, vertical cylinders and (when asked for) open-top bowls of named colours stand on a table (top at
z = 0 in the base frame "base_link", x 0.3..0.9 m, y -0.4..0.4 m, 3 cm thick) above a floor at z = -0.75 m.
A pinhole camera above the robot base looks down at the table centre at about 50 degrees. The frame is
rendered by vectorised ray casting (ray/plane, ray/box slab test, ray/vertical cylinder, ray/bowl: outer
wall, rim, inner wall and inner bottom) with Lambertian shading and optional Gaussian depth noise;
everything is deterministic for a given seed.

A bowl is a thin-walled open cylinder on a flat bottom plate: outer diameter size[0], height size[2], wall
BOWL_WALL_M thick, its inner bottom BOWL_BOTTOM_M above the table. The simulator
(:mod:`spacetools_ros.robot.sim.pybullet_sim`) builds the same body from a bottom disc and wall segments.

``generate_tabletop(seed, n)`` draws only boxes and cylinders, exactly as it always has for a seed; bowls
appear when asked for: ``bowls=True`` lets the random objects be bowls too, and ``include=[("red", "box"),
("blue", "bowl")]`` puts those objects first (graspable sizes for boxes and cylinders, within the arm's reach).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from spacetools_ros.frames.frame import DEFAULT_BASE_FRAME_ID, DEFAULT_CAMERA_FRAME_ID, Intrinsics, RGBDFrame
from spacetools_ros.sources.base import FrameSource

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (200, 35, 35),
    "green": (40, 160, 60),
    "blue": (40, 70, 200),
    "yellow": (230, 200, 40),
    "orange": (240, 130, 30),
    "purple": (130, 50, 160),
    "white": (235, 235, 235),
    "black": (30, 30, 30),
}
"""The named colours objects are drawn in (RGB)."""

TABLE_X = (0.3, 0.9)
TABLE_Y = (-0.4, 0.4)
TABLE_THICKNESS = 0.03
FLOOR_Z = -0.75
TABLE_RGB = (190, 150, 105)
FLOOR_RGB = (95, 95, 100)

MAX_OBJECTS = 8
SHAPES = ("box", "cylinder", "bowl")
"""The shapes an object can have."""

BOWL_WALL_M = 0.006
"""Wall thickness of a bowl (metres)."""
BOWL_BOTTOM_M = 0.012
"""Thickness of a bowl's flat bottom: its inner bottom lies this high above the table (metres)."""
BOWL_DIAMETER_M = (0.12, 0.18)
"""Range of a generated bowl's outer diameter (metres)."""
BOWL_HEIGHT_M = (0.04, 0.07)
"""Range of a generated bowl's height (metres); it is also at most BOWL_MAX_ASPECT of its diameter."""
BOWL_MAX_ASPECT = 0.45
INCLUDED_CUBE_SIDE_M = (0.04, 0.055)
"""Included boxes are cubes with a side in this range (graspable: the open hand is 8 cm)."""
INCLUDED_CYLINDER_DIAMETER_M = (0.035, 0.06)
INCLUDED_CYLINDER_HEIGHT_M = (0.06, 0.12)
INCLUDED_REACH_M = 0.65
"""Included objects' centres lie within this distance (metres) of the robot base (x = y = 0)."""

_PLACE_X = (0.42, 0.80)
_PLACE_Y = (-0.26, 0.26)
_GAP = 0.04  # minimum free space between two objects' bounding circles (metres)
_LIGHT = np.array([-0.4, 0.3, 1.0]) / np.linalg.norm([-0.4, 0.3, 1.0])
_AMBIENT, _DIFFUSE = 0.35, 0.65


@dataclass
class SceneObjectSpec:
    """One object standing on the table.

    shape is "box" (size = x, y, z extents in its own frame), "cylinder" (vertical; size = diameter,
    diameter, height) or "bowl" (open top, round; size = outer diameter, outer diameter, height; a wall
    BOWL_WALL_M thick and a flat bottom BOWL_BOTTOM_M thick). position is the (x, y) of its centre on the
    table in the base frame, yaw its rotation about the base z axis (radians). colour is a PALETTE name and
    rgb its value.
    """

    name: str
    shape: str
    colour: str
    rgb: tuple[int, int, int]
    size: tuple[float, float, float]
    position: tuple[float, float]
    yaw: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {self.shape!r}")
        if self.shape == "bowl" and (0.5 * self.size[0] <= BOWL_WALL_M or self.size[2] <= BOWL_BOTTOM_M):
            raise ValueError(f"a bowl needs a radius above {BOWL_WALL_M} m and a height above {BOWL_BOTTOM_M} m, "
                             f"got size {self.size}")

    @property
    def height(self) -> float:
        """Height above the table (metres)."""
        return float(self.size[2])

    @property
    def centroid_base(self) -> np.ndarray:
        """Centre of the object's volume in the base frame."""
        return np.array([self.position[0], self.position[1], 0.5 * self.size[2]])

    @property
    def radius(self) -> float:
        """Radius of the footprint's bounding circle."""
        if self.shape in ("cylinder", "bowl"):
            return 0.5 * float(self.size[0])
        return 0.5 * float(np.hypot(self.size[0], self.size[1]))

    @property
    def inner_radius(self) -> float:
        """Radius of a bowl's opening (inside its wall); 0 for solid shapes."""
        return 0.5 * float(self.size[0]) - BOWL_WALL_M if self.shape == "bowl" else 0.0

    @property
    def inner_bottom(self) -> float:
        """Height above the table of what rests inside: a bowl's inner bottom; the top for solid shapes."""
        return BOWL_BOTTOM_M if self.shape == "bowl" else float(self.size[2])


@dataclass
class SyntheticScene:
    """A generated scene: the object specs, the rendered frame, and HxW int32 ground-truth labels
    (-1 table, floor or nothing, otherwise the index into objects of the visible object)."""

    objects: list[SceneObjectSpec]
    frame: RGBDFrame
    labels: np.ndarray
    table_height: float = 0.0


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """T_base_camera of an OpenCV optical frame (x right, y down, z forward) at eye looking at target."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def _ray_box(
    origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Slab test of rays (origin (3,), dirs Nx3) against the axis-aligned box [lo, hi].

    Returns the entry distance (inf where missed or behind) and the outward normal of the entry face (Nx3).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs
        t0, t1 = (lo - origin) * inv, (hi - origin) * inv
    t_lo = np.where(np.isnan(t0) | np.isnan(t1), -np.inf, np.minimum(t0, t1))
    t_hi = np.where(np.isnan(t0) | np.isnan(t1), np.inf, np.maximum(t0, t1))
    axis = np.argmax(t_lo, axis=1)
    t_near = np.take_along_axis(t_lo, axis[:, None], axis=1)[:, 0]
    t_far = t_hi.min(axis=1)
    hit = (t_near <= t_far) & (t_near > 1e-6)
    normal = np.zeros_like(dirs)
    rows = np.arange(len(dirs))
    normal[rows, axis] = -np.sign(dirs[rows, axis])
    return np.where(hit, t_near, np.inf), normal


def _ray_object(origin: np.ndarray, dirs: np.ndarray, spec: SceneObjectSpec) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance (inf where missed) and base-frame surface normal of rays hitting one object."""
    cx, cy = spec.position
    if spec.shape == "box":
        c, s = np.cos(spec.yaw), np.sin(spec.yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # object -> base
        o_local = rot.T @ (origin - np.array([cx, cy, 0.0]))
        half = 0.5 * np.array(spec.size[:2])
        t, n_local = _ray_box(
            o_local, dirs @ rot, np.array([-half[0], -half[1], 0.0]), np.array([*half, spec.height])
        )
        return t, n_local @ rot.T
    if spec.shape == "bowl":
        return _ray_bowl(origin, dirs, spec)
    r, h = 0.5 * spec.size[0], spec.height
    ox, oy = origin[0] - cx, origin[1] - cy
    dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    a = dx * dx + dy * dy
    b = 2.0 * (ox * dx + oy * dy)
    disc = b * b - 4.0 * a * (ox * ox + oy * oy - r * r)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_side = (-b - np.sqrt(disc)) / (2.0 * a)
        z_side = origin[2] + t_side * dz
        side = (disc >= 0) & (t_side > 1e-6) & (z_side >= 0) & (z_side <= h)
        t_cap = (h - origin[2]) / dz
        px, py = ox + t_cap * dx, oy + t_cap * dy
        cap = (t_cap > 1e-6) & (px * px + py * py <= r * r)
    t_side = np.where(side, t_side, np.inf)
    t_cap = np.where(cap, t_cap, np.inf)
    t = np.minimum(t_side, t_cap)
    normal = np.zeros_like(dirs)
    on_side = t_side < t_cap
    normal[on_side, 0] = (ox + t_side[on_side] * dx[on_side]) / r
    normal[on_side, 1] = (oy + t_side[on_side] * dy[on_side]) / r
    normal[~on_side, 2] = 1.0
    return t, normal


def _ray_bowl(origin: np.ndarray, dirs: np.ndarray, spec: SceneObjectSpec) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance (inf where missed) and base-frame surface normal of rays hitting an open-top bowl.

    The visible surfaces from a camera above the rim: the outer wall (the near intersection with the outer
    cylinder, 0 <= z <= height), the rim (the annulus at the top), the inner wall (the far intersection with the
    inner cylinder, seen through the opening, inner bottom <= z <= height) and the inner bottom (a disc). A ray
    that reaches the inner wall or the inner bottom through the wall material meets the outer wall or the rim
    first, so the nearest of the four is the visible one.
    """
    cx, cy = spec.position
    outer, h, bottom = 0.5 * float(spec.size[0]), spec.height, BOWL_BOTTOM_M
    inner = outer - BOWL_WALL_M
    ox, oy, oz = origin[0] - cx, origin[1] - cy, origin[2]
    dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    a = dx * dx + dy * dy
    b = 2.0 * (ox * dx + oy * dy)
    c0 = ox * ox + oy * oy
    with np.errstate(invalid="ignore", divide="ignore"):
        disc_out = b * b - 4.0 * a * (c0 - outer * outer)
        t_out = (-b - np.sqrt(disc_out)) / (2.0 * a)
        z_out = oz + t_out * dz
        out_ok = (disc_out >= 0) & (t_out > 1e-6) & (z_out >= 0) & (z_out <= h)
        disc_in = b * b - 4.0 * a * (c0 - inner * inner)
        t_in = (-b + np.sqrt(disc_in)) / (2.0 * a)
        z_in = oz + t_in * dz
        in_ok = (disc_in >= 0) & (t_in > 1e-6) & (z_in >= bottom) & (z_in <= h) & (dz < 0)
        t_rim = (h - oz) / dz
        rho_rim = (ox + t_rim * dx) ** 2 + (oy + t_rim * dy) ** 2
        rim_ok = (t_rim > 1e-6) & (rho_rim >= inner * inner) & (rho_rim <= outer * outer)
        t_bot = (bottom - oz) / dz
        rho_bot = (ox + t_bot * dx) ** 2 + (oy + t_bot * dy) ** 2
        bot_ok = (t_bot > 1e-6) & (rho_bot <= inner * inner)
    candidates = np.stack([np.where(out_ok, t_out, np.inf), np.where(in_ok, t_in, np.inf),
                           np.where(rim_ok, t_rim, np.inf), np.where(bot_ok, t_bot, np.inf)])
    which = np.argmin(candidates, axis=0)
    t = candidates[which, np.arange(len(dirs))]
    normal = np.zeros_like(dirs)
    for k, radius, sign in ((0, outer, 1.0), (1, inner, -1.0)):  # walls: radial, outwards / towards the axis
        wall = (which == k) & np.isfinite(t)
        normal[wall, 0] = sign * (ox + t[wall] * dx[wall]) / radius
        normal[wall, 1] = sign * (oy + t[wall] * dy[wall]) / radius
    normal[which >= 2, 2] = 1.0
    return t, normal


def _render(
    T_base_camera: np.ndarray,
    intrinsics: Intrinsics,
    objects: list[SceneObjectSpec],
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ray-cast the scene: rgb (HxWx3 uint8), depth (HxW float32, 0 where nothing is hit), labels (HxW int32)
    and each object's unoccluded pixel count. rng adds texture noise when given."""
    h, w = intrinsics.height, intrinsics.width
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    d_cam = np.stack(
        [(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, np.ones_like(u)], -1
    )
    dirs = d_cam.reshape(-1, 3) @ T_base_camera[:3, :3].T  # camera z = 1, so t is the camera depth
    origin = T_base_camera[:3, 3]

    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = (FLOOR_Z - origin[2]) / dirs[:, 2]
    t_floor = np.where(t_floor > 0, t_floor, np.inf)
    t_table, n_table = _ray_box(
        origin,
        dirs,
        np.array([TABLE_X[0], TABLE_Y[0], -TABLE_THICKNESS]),
        np.array([TABLE_X[1], TABLE_Y[1], 0.0]),
    )
    hits = [_ray_object(origin, dirs, spec) for spec in objects]
    t_all = np.stack([t_floor, t_table] + [t for t, _ in hits])
    nearest = np.argmin(t_all, axis=0)
    depth = t_all[nearest, np.arange(len(dirs))]
    labels = np.where(nearest >= 2, nearest - 2, -1).astype(np.int32)
    unoccluded = np.array([int(np.isfinite(t).sum()) for t, _ in hits], dtype=np.int64)

    normals = np.zeros_like(dirs)
    normals[nearest == 0, 2] = 1.0
    normals[nearest == 1] = n_table[nearest == 1]
    base = np.zeros_like(dirs)
    base[nearest == 0] = FLOOR_RGB
    on_table = nearest == 1
    points = origin + dirs * np.where(np.isfinite(depth), depth, 0.0)[:, None]
    grain = 0.9 + 0.1 * np.sin(points[on_table, 0] * 90.0 + 3.0 * np.sin(points[on_table, 1] * 8.0))
    base[on_table] = np.array(TABLE_RGB) * grain[:, None]
    for i, (spec, (_, n_obj)) in enumerate(zip(objects, hits, strict=True)):
        mine = labels == i
        normals[mine] = n_obj[mine]
        base[mine] = spec.rgb
    shade = _AMBIENT + _DIFFUSE * np.clip(normals @ _LIGHT, 0.0, 1.0)
    colour = base * shade[:, None]
    if rng is not None:
        colour += rng.normal(0.0, 3.0, size=colour.shape)
    missed = ~np.isfinite(depth)
    colour[missed] = (170, 180, 190)
    depth[missed] = 0.0
    rgb = np.clip(colour, 0, 255).astype(np.uint8).reshape(h, w, 3)
    return rgb, depth.reshape(h, w).astype(np.float32), labels.reshape(h, w), unoccluded


ObjectRequest = tuple[str, str] | tuple[str, str, tuple[float, float, float]]
"""An object asked for in a scene: (colour, shape) or (colour, shape, size)."""


def _requests(include: list[ObjectRequest] | tuple[ObjectRequest, ...]) -> list[tuple[str, str, tuple | None]]:
    """Validated (colour, shape, size or None) of the objects asked for."""
    out = []
    for item in include:
        if len(item) not in (2, 3):
            raise ValueError(f"an included object is (colour, shape) or (colour, shape, size), got {item!r}")
        colour, shape = item[0], item[1]
        if colour not in PALETTE:
            raise ValueError(f"unknown colour {colour!r}; known: {', '.join(PALETTE)}")
        if shape not in SHAPES:
            raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
        size = None
        if len(item) == 3:
            size = tuple(float(v) for v in item[2])  # type: ignore[misc]
            if len(size) != 3 or not all(np.isfinite(size)) or min(size) <= 0:
                raise ValueError(f"an included object's size is 3 positive lengths, got {item[2]!r}")
        out.append((colour, shape, size))
    return out


def _distinct_height(rng: np.random.Generator, low: float, high: float, heights: list[float]) -> float:
    """A height in [low, high) at least 1 cm from the others (the last draw when 100 draws find none)."""
    for _ in range(100):  # 8 heights 1 cm apart always fit in 4..20 cm: this ends quickly
        height = float(rng.uniform(low, high))
        if all(abs(height - other) >= 0.01 for other in heights):
            break
    return height


def _sample_objects(
    rng: np.random.Generator,
    num_objects: int,
    include: list[tuple[str, str, tuple | None]] | None = None,
    bowls: bool = False,
) -> list[SceneObjectSpec] | None:
    """Random non-overlapping objects with distinct colours and heights at least 1 cm apart, or None when
    this draw leaves no room for one of them.

    include (validated requests) are the first objects: their colour and shape as asked, their size as asked or
    drawn (cubes and slim cylinders a hand grasps, bowls as usual), their centre within INCLUDED_REACH_M of the
    robot base. The other objects take the colours not asked for. bowls lets the random objects be bowls (a third
    of them on average). Without include and bowls, the draws are those the generator always made.
    """
    include = include or []
    names = list(PALETTE)
    if include:
        asked = [c for c, _, _ in include]
        rest = [n for n in names if n not in asked]
        colours = asked + [rest[i] for i in rng.permutation(len(rest))[:num_objects - len(include)]]
    else:
        colours = [names[i] for i in rng.permutation(len(names))[:num_objects]]
    if len(colours) < num_objects:
        return None  # more objects than colours left
    objects: list[SceneObjectSpec] = []
    heights: list[float] = []
    for i in range(num_objects):
        asked_for = i < len(include)
        if asked_for:
            shape = include[i][1]
        elif bowls:
            draw = rng.random()
            shape = "box" if draw < 1.0 / 3.0 else "cylinder" if draw < 2.0 / 3.0 else "bowl"
        else:
            shape = "box" if rng.random() < 0.5 else "cylinder"
        if asked_for and include[i][2] is not None:
            size = include[i][2]
            height = size[2]
        elif shape == "bowl":
            diameter = float(rng.uniform(*BOWL_DIAMETER_M))
            height = _distinct_height(rng, BOWL_HEIGHT_M[0], min(BOWL_HEIGHT_M[1], BOWL_MAX_ASPECT * diameter),
                                      heights)
            size = (diameter, diameter, height)
        elif asked_for and shape == "box":
            height = _distinct_height(rng, *INCLUDED_CUBE_SIDE_M, heights)
            size = (height, height, height)
        elif asked_for:
            height = _distinct_height(rng, *INCLUDED_CYLINDER_HEIGHT_M, heights)
            diameter = float(rng.uniform(*INCLUDED_CYLINDER_DIAMETER_M))
            size = (diameter, diameter, height)
        else:
            height = _distinct_height(rng, 0.04, 0.20, heights)
            if shape == "box":
                size = (float(rng.uniform(0.03, 0.12)), float(rng.uniform(0.03, 0.12)), height)
            else:
                diameter = float(rng.uniform(0.03, 0.12))
                size = (diameter, diameter, height)
        spec = SceneObjectSpec(
            name=f"{colours[i]}_{shape}_{i}",
            shape=shape,
            colour=colours[i],
            rgb=PALETTE[colours[i]],
            size=size,
            position=(0.0, 0.0),
            yaw=float(rng.uniform(-np.pi, np.pi)) if shape == "box" else 0.0,
        )
        for _ in range(200):
            pos = (float(rng.uniform(*_PLACE_X)), float(rng.uniform(*_PLACE_Y)))
            if asked_for and np.hypot(*pos) > INCLUDED_REACH_M:
                continue
            if all(
                np.hypot(pos[0] - o.position[0], pos[1] - o.position[1]) >= spec.radius + o.radius + _GAP
                for o in objects
            ):
                break
        else:
            return None
        spec.position = pos
        objects.append(spec)
        heights.append(height)
    return objects


def generate_tabletop(
    seed: int = 0,
    num_objects: int = 4,
    width: int = 640,
    height: int = 480,
    depth_noise: float = 0.001,
    *,
    include: list[ObjectRequest] | tuple[ObjectRequest, ...] = (),
    bowls: bool = False,
) -> SyntheticScene:
    """Generate a tabletop scene with num_objects objects, rendered at width x height.

    Without include and bowls the objects are boxes and vertical cylinders, the very scene this seed has always
    given. include asks for specific objects, (colour, shape) or (colour, shape, size) with a PALETTE colour and a
    shape of SHAPES: they are the first objects of the scene (names f"{colour}_{shape}_{i}" as for all), sized as
    asked or drawn (boxes: cubes of 4-5.5 cm; cylinders 3.5-6 cm wide; bowls 12-18 cm wide, 4-7 cm tall), with
    their centres within INCLUDED_REACH_M of the robot base; the other num_objects - len(include) objects are
    random, in colours not asked for. bowls=True lets the random objects be bowls too.

    depth_noise is the standard deviation (metres) of the Gaussian depth noise at 1 m; it grows with the
    square of the depth, as for a stereo sensor (0 disables it). Object layouts in which an object is
    noticeably occluded or leaves the image are redrawn, so every object is fully usable as ground truth.
    """
    if not 0 <= num_objects <= MAX_OBJECTS:
        raise ValueError(f"num_objects must be in 0..{MAX_OBJECTS}, got {num_objects}")
    requests = _requests(include)
    if len(requests) > num_objects:
        raise ValueError(f"{len(requests)} objects included but num_objects is {num_objects}")
    free_colours = len(set(PALETTE) - {c for c, _, _ in requests})
    if num_objects - len(requests) > free_colours:
        raise ValueError(f"only {free_colours} colours are left for {num_objects - len(requests)} random objects")
    rng = np.random.default_rng(seed)
    eye = np.array([rng.uniform(0.0, 0.1), rng.uniform(-0.05, 0.05), rng.uniform(0.6, 0.7)])
    target = np.array([0.6 + rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03), 0.0])
    T_base_camera = _look_at(eye, target)
    f = 615.0 * width / 640.0
    intrinsics = Intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)
    preview = intrinsics.scaled(max(width // 4, 1), max(height // 4, 1))

    for _ in range(200):
        objects = _sample_objects(rng, num_objects, requests, bowls)
        if objects is None:
            continue
        _, _, labels, unoccluded = _render(T_base_camera, preview, objects, None)
        visible = np.bincount(labels[labels >= 0], minlength=num_objects)
        border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        if (
            np.all(visible >= 0.9 * np.maximum(unoccluded, 1))
            and np.all(unoccluded > 0)
            and not (border >= 0).any()
        ):
            break
    else:
        raise ValueError(f"could not lay out {num_objects} unoccluded objects in view (seed {seed})")

    rgb, depth, labels, _ = _render(T_base_camera, intrinsics, objects, rng)
    if depth_noise > 0:
        valid = depth > 0
        depth[valid] += (rng.normal(0.0, depth_noise, size=int(valid.sum())) * depth[valid] ** 2).astype(
            np.float32
        )
    frame = RGBDFrame(
        rgb=rgb,
        depth=depth,
        intrinsics=intrinsics,
        T_base_camera=T_base_camera,
        frame_id=DEFAULT_CAMERA_FRAME_ID,
        base_frame_id=DEFAULT_BASE_FRAME_ID,
        metadata={"source": "synthetic", "seed": seed, "num_objects": num_objects},
    )
    if requests:
        frame.metadata["include"] = [[c, shape] for c, shape, _ in requests]
    if bowls:
        frame.metadata["bowls"] = True
    return SyntheticScene(objects=objects, frame=frame, labels=labels, table_height=0.0)


class SyntheticSource(FrameSource):
    """Serves the frame of generate_tabletop(seed, num_objects, include=..., bowls=...) forever, its stamp
    advancing by period."""

    def __init__(
        self,
        seed: int = 0,
        num_objects: int = 4,
        width: int = 640,
        height: int = 480,
        period: float = 1.0 / 30.0,
        *,
        include: list[ObjectRequest] | tuple[ObjectRequest, ...] = (),
        bowls: bool = False,
    ) -> None:
        self.scene = generate_tabletop(seed=seed, num_objects=num_objects, width=width, height=height,
                                       include=include, bowls=bowls)
        self.period = period
        self._count = 0

    def read(self, timeout: float | None = None) -> RGBDFrame:
        """A copy of the generated frame with the next stamp."""
        original = self.scene.frame
        frame = dataclasses.replace(
            original,
            rgb=original.rgb.copy(),
            depth=original.depth.copy(),
            stamp=self._count * self.period,
            metadata=dict(original.metadata),
        )
        self._count += 1
        return frame
