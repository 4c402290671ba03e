"""Parallel-jaw grasp sampling for the Franka hand on one object of a single-view RGB-D frame.

Everything is vectorised numpy/scipy; the only Python loops run over a few batches of candidates.

1. Object points: the valid points under the mask, voxel-downsampled (the voxel grows for big objects),
   isolated points dropped. Tabletop objects are taken to be solid below what the camera sees: each object
   point stands for a column down to the table, which fills in the far side a single view misses.
   Scene points: the other valid points within reach of the hand (a pixel stride over the image window),
   above the table band, reduced to the centres of occupied voxels.
2. Support plane: the given one, or a RANSAC fit on the scene points around the object; "up" defaults to
   its normal.
3. Orientations: horizontal closing directions (num_yaws over 180 degrees), each with a top-down approach
   and approaches tilted either way across it; for each, a few finger positions across the object.
4. Per candidate, in the gripper frame (z = approach, y = closing): the object (columns included) in the
   slab swept by the fingers gives the first contact along z; the fingertips go grasp_depth further, pulled
   back until no part of the hand is closer to the table than table_clearance. The section above the
   fingertips may fall into runs separated by gaps a finger fits in (the walls of a bowl or a mug): the
   best-observed run that fits goes between the pads; its extent along y is the object width, its middle
   the TCP. Both contact faces are rarely seen, so antipodality is judged from the run's outline under
   each pad: the least-squares slope of its extreme along the finger (a face square to the closing
   direction is flat, a curved or slanted one is not; pads bearing on a corner or a sliver only are
   rejected) and how it widens with depth, against the friction cone.
5. Score = antipodal quality x top-down alignment x centrality x depth x width room. Candidates are
   collision-checked in score order against the voxelised scene (fingers, palm and its approach sweep, the
   boxes inflated by half a voxel diagonal) and the object (palm); the first free one has its extremes
   refined on the object's raw points and is checked again on every raw pixel of the object and of the
   scene around the hand before it is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

FRANKA_TCP_OFFSET = 0.1034
"""Distance (metres) from the Franka flange to the TCP between the fingertips, along the approach."""


class GraspError(Exception):
    """No grasp can be proposed for the object (why is in the message)."""


@dataclass
class GraspConfig:
    """Parameters of :func:`compute_grasp` (metres and degrees).

    The gripper frame has z along the approach (from the hand towards the object), y along the closing
    direction (finger to finger) and x = y x z; its origin, the TCP, lies midway between the fingertips.
    """

    max_opening: float = 0.08
    """Largest distance between the finger pads (Franka hand: 2 x 0.04)."""
    finger_width: float = 0.02
    """Finger extent along x (orthogonal to the approach and to the closing direction)."""
    finger_length: float = 0.045
    """Finger extent along the approach, from where it meets the palm to the fingertip."""
    finger_thickness: float = 0.012
    """Finger extent along the closing direction, outside the pad."""
    palm_width: float = 0.2
    """Hand body extent along the closing direction."""
    palm_thickness: float = 0.06
    """Hand body extent along x."""
    palm_length: float = 0.06
    """Hand body extent along the approach, behind the finger bases."""
    approach_distance: float = 0.05
    """The palm box is extended this far backwards along the approach, for the last stretch of the approach
    motion and the wrist behind the hand."""
    num_yaws: int = 12
    """Closing directions sampled per approach direction, evenly over 180 degrees."""
    tilt_angles_deg: tuple[float, ...] = (0.0, 30.0, 55.0)
    """Angles between the approach direction and -up that are sampled (0 is top-down). The closing direction
    stays horizontal: a tilted approach leans, either way, in the vertical plane across it."""
    finger_offsets: tuple[float, ...] = (0.0, -0.5, 0.5)
    """Finger positions along x, as fractions of the room the object leaves either side of its middle."""
    num_candidates: int = 256
    """At most this many of the best-scored feasible candidates are collision-checked."""
    batch_size: int = 8
    """Candidates collision-checked together at first (later batches grow fourfold each time)."""
    friction_angle_deg: float = 25.0
    """Half-angle of the friction cone (tan 25 deg ~ a friction coefficient of 0.47); a candidate whose
    contact surface normal (estimated from the object's profile) leaves it on either side is rejected."""
    max_widening_angle_deg: float = 45.0
    """Top-down candidates whose contact surface (including how the section widens with depth) is more than
    this off the closing direction on either side are rejected; for tilted candidates the limit is the
    friction cone. Across the finger the friction cone always applies."""
    top_down_weight: float = 1.0
    """Exponent on cos(tilt) in the score: 0 ignores the tilt, larger values favour top-down grasps more."""
    grasp_depth: float = 0.03
    """How far past the first contact (along the approach) the fingertips go; at most finger_length less
    palm_clearance."""
    min_grasp_depth: float = 0.01
    """Candidates whose fingertips reach less than this past the first contact are rejected."""
    palm_clearance: float = 0.01
    """Least free space kept between the object and the palm."""
    width_margin: float = 0.01
    """Preferred free space between each finger pad and the object when the hand is lowered."""
    min_width_margin: float = 0.003
    """Least free space between each finger pad and the object; a wider object is too wide."""
    table_clearance: float = 0.01
    """Every part of the hand stays at least this high above the support plane."""
    table_band: float = 0.005
    """Scene points less than this above the plane are the table itself (checked through the plane)."""
    collision_margin: float = 0.002
    """The finger and palm boxes are inflated by this much (plus half a scene voxel diagonal) when checked
    against scene points."""
    object_margin: float = 0.002
    """Object points this far outside the finger slab still count as under the finger."""
    object_voxel: float = 0.005
    """Voxel size of the object cloud."""
    scene_voxel: float = 0.005
    """Voxel size of the collision cloud checked against the fingers (near the object)."""
    palm_voxel: float = 0.01
    """Voxel size of the coarser collision cloud checked against the palm."""
    max_object_points: int = 500
    """The object voxel grows until the object cloud has at most about this many points."""
    profile_bins: int = 4
    """The finger width is split into this many bins; the object's extreme in each, on either side, traces
    the outline whose slope gives the contact surface's angle."""
    run_bin: float = 0.004
    """Bin size (along the closing direction) of the histogram that splits a section into runs."""
    min_contact_length: float = 0.008
    """The object between the pads must extend at least this far along the finger width."""
    min_closing_points: int = 3
    """A candidate needs at least this many observed object points between the finger pads."""
    min_object_points: int = 10
    """Fewer valid object points (after voxelisation and outlier removal) and the mask counts as empty."""
    outlier_radius: float = 0.012
    """Object points with fewer than outlier_min_neighbours others within this radius are dropped."""
    outlier_min_neighbours: int = 2
    """See outlier_radius."""
    plane_threshold: float = 0.008
    """Inlier distance of the plane fitted when none is given."""
    seed: int = 0
    """Seed of the random subsampling and of the plane fit (results are deterministic for a seed)."""

    def __post_init__(self) -> None:
        if self.max_opening <= 0 or self.finger_length <= 0 or self.finger_width <= 0:
            raise ValueError("max_opening, finger_length and finger_width must be positive")
        if self.num_yaws < 1 or self.num_candidates < 1 or self.batch_size < 1:
            raise ValueError("num_yaws, num_candidates and batch_size must be positive")
        if not self.tilt_angles_deg or not all(0.0 <= t < 90.0 for t in self.tilt_angles_deg):
            raise ValueError(f"tilt angles must be in [0, 90) degrees, got {self.tilt_angles_deg}")


@dataclass
class Grasp:
    """A parallel-jaw grasp in the camera frame.

    pose: 4x4 float64; origin = TCP (midway between the fingertips), z = approach direction (from the hand
        towards the object), y = closing direction, x = y x z.
    width: opening of the hand when it is lowered onto the object (metres, <= max_opening); the object
        width is the distance between the contacts along y.
    score: confidence in 0..1.
    contacts: 2x3 camera-frame points where the left (-y) and right (+y) pads meet the object.
    finger_length: length of the fingers along the approach (for gripper_points).
    object_width: extent of the object between the pads along y (metres).
    """

    pose: np.ndarray
    width: float
    score: float
    contacts: np.ndarray
    finger_length: float = 0.045
    object_width: float = 0.0

    @property
    def position(self) -> np.ndarray:
        """The TCP (camera frame)."""
        return self.pose[:3, 3]

    @property
    def approach(self) -> np.ndarray:
        """Unit approach direction (camera frame), the pose's z axis."""
        return self.pose[:3, 2]

    @property
    def closing(self) -> np.ndarray:
        """Unit closing direction (camera frame), the pose's y axis."""
        return self.pose[:3, 1]

    def gripper_points(self) -> np.ndarray:
        """(5, 3) camera-frame points: TCP, left base, right base, left tip, right tip.

        Left is -y, right +y, at the current opening width; a base is where a finger meets the palm.
        """
        t, y, z = self.pose[:3, 3], self.pose[:3, 1], self.pose[:3, 2]
        half = 0.5 * self.width * y
        back = self.finger_length * z
        return np.stack([t, t - half - back, t + half - back, t - half, t + half])

    def flange_pose(self, tcp_offset: float = FRANKA_TCP_OFFSET) -> np.ndarray:
        """4x4 pose of the hand's flange (the TCP moved back along the approach by tcp_offset)."""
        flange = self.pose.copy()
        flange[:3, 3] -= tcp_offset * self.pose[:3, 2]
        return flange

    def in_frame(self, T: np.ndarray) -> Grasp:
        """The same grasp with pose and contacts mapped by the 4x4 transform T (e.g. T_base_camera)."""
        T = np.asarray(T, dtype=np.float64)
        return Grasp(
            pose=T @ self.pose,
            width=self.width,
            score=self.score,
            contacts=self.contacts @ T[:3, :3].T + T[:3, 3],
            finger_length=self.finger_length,
            object_width=self.object_width,
        )


def _flatten_inputs(cloud: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
    """(N, 3) cloud, (N,) mask and the image shape (or None when unknown)."""
    cloud = np.asarray(cloud)
    mask = np.asarray(mask, dtype=bool)
    shape = None
    if cloud.ndim == 3 and cloud.shape[2] == 3:
        shape = cloud.shape[:2]
        cloud = cloud.reshape(-1, 3)
    elif cloud.ndim != 2 or cloud.shape[1] != 3:
        raise ValueError(f"cloud must be HxWx3 or Nx3, got {cloud.shape}")
    if mask.ndim == 2:
        shape = shape or mask.shape
        if mask.shape != shape:
            raise ValueError(f"mask shape {mask.shape} does not match the cloud's {shape}")
    mask = mask.reshape(-1)
    if len(mask) != len(cloud):
        raise ValueError(f"mask has {len(mask)} elements for {len(cloud)} cloud points")
    if shape is not None and shape[0] * shape[1] != len(cloud):
        shape = None
    return cloud, mask, shape


def _voxel_first(points: np.ndarray, voxel: float) -> np.ndarray:
    """Indices of one point per occupied voxel."""
    keys = _voxel_keys(points, voxel)
    _, first = np.unique(keys, return_index=True)
    return first


def _voxel_keys(points: np.ndarray, voxel: float) -> np.ndarray:
    q = np.floor(points / np.float32(voxel)).astype(np.int64) + (1 << 20)
    return (q[:, 0] << 42) | (q[:, 1] << 21) | q[:, 2]


def _voxel_centres(points: np.ndarray, voxel: float) -> np.ndarray:
    """Centres of the voxels occupied by the points."""
    keys = np.unique(_voxel_keys(points, voxel))
    mask21 = (1 << 21) - 1
    q = np.stack([keys >> 42, (keys >> 21) & mask21, keys & mask21], axis=1) - (1 << 20)
    return ((q + 0.5) * voxel).astype(np.float32)


def _orthonormal_basis(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing n (unit) to a right-handed orthonormal basis (e1, e2, n)."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(helper, n)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(n, e1)


def _fit_plane(
    points: np.ndarray, obj: np.ndarray, up: np.ndarray | None, config: GraspConfig, rng: np.random.Generator
) -> np.ndarray | None:
    """RANSAC plane under the object among the scene points, normal towards the camera; None if none."""
    if len(points) < 50:
        return None
    sample = points[rng.choice(len(points), size=min(len(points), 2000), replace=False)].astype(np.float64)
    idx = rng.integers(0, len(sample), size=(128, 3))
    a, b, c = sample[idx[:, 0]], sample[idx[:, 1]], sample[idx[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1)
    ok = norms > 1e-9
    normals, a = normals[ok] / norms[ok, None], a[ok]
    d = -np.einsum("ij,ij->i", normals, a)
    flip = d < 0
    normals[flip] *= -1
    d[flip] *= -1
    if up is not None:
        ok = normals @ up > np.cos(np.radians(30.0))
        normals, d = normals[ok], d[ok]
    obj_sample = obj[:: max(1, len(obj) // 200)].astype(np.float64)
    # the object must stand on the plane: nearly all of it above
    ok = np.mean(obj_sample @ normals.T + d > -0.01, axis=0) > 0.95
    normals, d = normals[ok], d[ok]
    if len(normals) == 0:
        return None
    counts = (np.abs(sample @ normals.T + d) < config.plane_threshold).sum(axis=0)
    best = int(np.argmax(counts))
    if counts[best] < 0.2 * len(sample):
        return None
    plane = np.append(normals[best], d[best])
    inliers = sample[np.abs(sample @ plane[:3] + plane[3]) < config.plane_threshold]
    centroid = inliers.mean(axis=0)
    _, vecs = np.linalg.eigh((inliers - centroid).T @ (inliers - centroid))
    normal = vecs[:, 0] if vecs[:, 0] @ plane[:3] > 0 else -vecs[:, 0]
    return np.append(normal, -normal @ centroid)


def _orientations(up: np.ndarray, toward_camera: np.ndarray, config: GraspConfig) -> tuple[np.ndarray, np.ndarray]:
    """Rotation matrices (O, 3, 3), columns x, y, z, and the tilt (radians) of each.

    Closing directions y are horizontal (perpendicular to up), num_yaws of them over 180 degrees starting
    across the line of sight; for each, the approach z is -up, or -up tilted either way in the plane
    perpendicular to y.
    """
    e1 = toward_camera - (toward_camera @ up) * up
    if np.linalg.norm(e1) < 1e-6:
        e1, _ = _orthonormal_basis(up)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    yaw = np.arange(config.num_yaws) * (np.pi / config.num_yaws)
    ys = np.cos(yaw)[:, None] * e2 + np.sin(yaw)[:, None] * e1
    lean = np.cross(ys, -up)  # horizontal, perpendicular to y
    tilt_list: list[float] = []
    for t in np.radians(np.asarray(config.tilt_angles_deg, dtype=np.float64)):
        tilt_list += [t] if t == 0.0 else [t, -t]
    signed = np.repeat(np.asarray(tilt_list), len(ys))
    y = np.tile(ys, (len(tilt_list), 1))
    z = -np.cos(signed)[:, None] * up + np.sin(signed)[:, None] * np.tile(lean, (len(tilt_list), 1))
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=2), np.abs(signed)


def compute_grasp(
    cloud: np.ndarray,
    mask: np.ndarray,
    plane: np.ndarray | None = None,
    up: np.ndarray | None = None,
    config: GraspConfig | None = None,
) -> Grasp:
    """The best collision-free Franka hand grasp of the masked object, in the camera frame.

    cloud: organised camera-frame cloud, HxWx3 or (H*W)x3 row-major, NaN where depth is invalid.
    mask: HxW (or H*W) bool selecting the object's pixels.
    plane: support plane (a, b, c, d) in the camera frame, normal pointing up; fitted around the object when
        None (and the table check skipped when no plane is found; scene points are still checked).
    up: up direction in the camera frame; defaults to the plane normal (or towards the camera).
    Raises GraspError when the mask has no valid points, the object is too wide for the gripper, or every
    candidate collides.
    """
    config = config or GraspConfig()
    rng = np.random.default_rng(config.seed)
    points, mask, shape = _flatten_inputs(cloud, mask)

    view = _view_of(points, mask, shape)
    if view is not None:
        crop = (slice(view.rows[0], view.rows[1] + 1), slice(view.cols[0], view.cols[1] + 1))
        obj = view.grid(points)[crop][mask.reshape(view.height, view.width)[crop]]
    else:
        obj = points[mask]
    obj = obj[np.isfinite(obj).all(axis=1) & (obj[:, 2] > 0)].astype(np.float32, copy=False)
    if len(obj) < config.min_object_points:
        raise GraspError(f"the mask selects no valid 3D points ({len(obj)} valid under the mask)")
    obj_raw = obj
    # a coarser voxel for big objects rather than a random subsample: it keeps the object's extremes
    voxel = config.object_voxel
    obj = obj_raw[_voxel_first(obj_raw, voxel)]
    for _ in range(3):
        if len(obj) <= config.max_object_points:
            break
        voxel *= 1.05 * np.sqrt(len(obj) / config.max_object_points)
        obj = obj_raw[_voxel_first(obj_raw, voxel)]
    k = config.outlier_min_neighbours + 1
    if k > 1 and len(obj) > k:
        reach = max(config.outlier_radius, 2.5 * voxel)
        dist, _ = cKDTree(obj).query(obj, k=k, distance_upper_bound=reach)
        obj = obj[np.isfinite(dist[:, -1])]
    if len(obj) < config.min_object_points:
        raise GraspError(f"the mask selects no valid 3D points (only {len(obj)} after outlier removal)")
    if len(obj) > config.max_object_points:
        obj = obj[rng.choice(len(obj), size=config.max_object_points, replace=False)]

    lo_obj, hi_obj = obj.min(axis=0), obj.max(axis=0)
    centre = 0.5 * (lo_obj + hi_obj)
    radius = float(np.linalg.norm(obj - centre, axis=1).max())
    # the boxes reach this far from the TCP, which lies within grasp_depth of the object's bounding sphere
    finger_reach = float(
        np.linalg.norm(
            [0.5 * config.finger_width, 0.5 * config.max_opening + config.finger_thickness, config.finger_length]
        )
    )
    palm_reach = float(
        np.linalg.norm(
            [
                0.5 * config.palm_thickness,
                0.5 * config.palm_width,
                config.finger_length + config.palm_length + config.approach_distance,
            ]
        )
    )
    slack = config.grasp_depth + config.collision_margin
    finger_ball = radius + finger_reach + slack + np.sqrt(3.0) * config.scene_voxel
    palm_ball = radius + max(finger_reach, palm_reach) + slack + np.sqrt(3.0) * config.palm_voxel

    if plane is not None:
        plane = np.asarray(plane, dtype=np.float64).reshape(4)
        plane = plane / np.linalg.norm(plane[:3])
        if np.median(obj @ plane[:3].astype(np.float32)) + plane[3] < 0:
            plane = -plane  # given with the normal pointing down: the object stands on top of it
    else:
        around = _scene_points(points, mask, view, centre, radius + 0.15, None, config, config.palm_voxel)
        up_hint = None if up is None else np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
        plane = _fit_plane(around, obj, up_hint, config, rng)
    if up is None:
        up = plane[:3].copy() if plane is not None else -centre.astype(np.float64) / np.linalg.norm(centre)
    up = np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)

    # a pixel stride keeps about a point per voxel; the chosen grasp is checked on every pixel at the end
    finger_scene = _scene_points(points, mask, view, centre, finger_ball, plane, config, config.scene_voxel)
    palm_scene = _scene_points(points, mask, view, centre, palm_ball, plane, config, config.palm_voxel)
    finger_cloud = _voxel_centres(finger_scene, config.scene_voxel)
    palm_cloud = _voxel_centres(palm_scene, config.palm_voxel)

    if plane is not None:
        heights = np.maximum(obj @ plane[:3].astype(np.float32) + np.float32(plane[3]), 0.0)
        # the object's centre of mass: its footprint's middle at half its height
        top = float(np.percentile(heights, 98))
        e1, e2 = _orthonormal_basis(plane[:3])
        u, v = obj @ e1.astype(np.float32), obj @ e2.astype(np.float32)
        foot = 0.5 * (u.min() + u.max()) * e1 + 0.5 * (v.min() + v.max()) * e2
        mass_centre = foot + (0.5 * top - plane[3]) * plane[:3]
        # columns down to the table along -up (up may differ from the plane normal)
        column = heights / max(float(up @ plane[:3]), 0.1)
    else:
        mass_centre = obj.mean(axis=0).astype(np.float64)
        column = np.zeros(len(obj), dtype=np.float32)

    rots, tilts = _orientations(up, -centre.astype(np.float64) / np.linalg.norm(centre), config)
    scene_check = None if view is None else (points, mask, view)
    return _best_grasp(
        obj,
        obj_raw,
        scene_check,
        column,
        finger_cloud,
        palm_cloud,
        plane,
        up,
        rots,
        tilts,
        centre,
        mass_centre,
        radius,
        voxel,
        config,
    )


@dataclass
class _View:
    """Where the object is in an organised cloud, and the pinhole model fitted to its points."""

    height: int
    width: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    fx: float
    cx: float
    fy: float
    cy: float

    def grid(self, points: np.ndarray) -> np.ndarray:
        """The (N, 3) cloud as HxWx3."""
        return points.reshape(self.height, self.width, 3)

    def crop_around(self, centre: np.ndarray, ball: float, stride: int = 1) -> tuple[slice, slice] | None:
        """Image window of a ball around a camera-frame point (with a pixel stride), None if it reaches behind
        the camera."""
        near = float(centre[2]) - ball
        if near <= 0.05:
            return None
        ru, rv = self.fx * ball / near, self.fy * ball / near
        u, v = self.fx * centre[0] / centre[2] + self.cx, self.fy * centre[1] / centre[2] + self.cy
        # the object's own bounding box is always included, in case the fitted model is off
        return self._window(
            min(u - ru, self.cols[0]),
            max(u + ru, self.cols[1]),
            min(v - rv, self.rows[0]),
            max(v + rv, self.rows[1]),
            stride,
        )

    def crop_of(self, points: np.ndarray) -> tuple[slice, slice] | None:
        """Image window covering camera-frame points (Nx3), None if one is behind the camera."""
        if (points[:, 2] <= 0.05).any():
            return None
        u = self.fx * points[:, 0] / points[:, 2] + self.cx
        v = self.fy * points[:, 1] / points[:, 2] + self.cy
        return self._window(u.min(), u.max(), v.min(), v.max(), 1)

    def _window(self, u0: float, u1: float, v0: float, v1: float, stride: int) -> tuple[slice, slice]:
        # two pixels of slack for the fitted model
        r0, r1 = (int(np.clip(x, 0, self.height - 1)) for x in (np.floor(v0) - 2, np.ceil(v1) + 2))
        c0, c1 = (int(np.clip(x, 0, self.width - 1)) for x in (np.floor(u0) - 2, np.ceil(u1) + 2))
        return slice(r0, r1 + 1, stride), slice(c0, c1 + 1, stride)

    def stride_for(self, depth: float, spacing: float) -> int:
        """Pixel stride keeping points at this depth at most about spacing apart."""
        return max(1, int(spacing * max(self.fx, self.fy) / max(depth, 1e-3)))


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the least-squares line y = a x + b."""
    mx, my = x.mean(), y.mean()
    a = float(((x - mx) * (y - my)).sum() / ((x - mx) ** 2).sum())
    return a, float(my - a * mx)


def _view_of(points: np.ndarray, mask: np.ndarray, shape: tuple[int, int] | None) -> _View | None:
    """The object's view in an organised cloud, the pinhole model fitted to its points' pixel positions;
    None when the cloud is not organised or the fit fails."""
    if shape is None:
        return None
    h, w = shape
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return None
    rows, cols = idx // w, idx % w
    rows, cols = (int(rows[0]), int(rows[-1])), (int(cols.min()), int(cols.max()))
    sel = idx[:: max(1, len(idx) // 400)]
    p = points[sel]
    ok = np.isfinite(p).all(axis=1) & (p[:, 2] > 1e-3)
    if ok.sum() < 10:
        return None
    p, sel = p[ok].astype(np.float64), sel[ok]
    u, v = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
    if np.ptp(u) < 1e-4 or np.ptp(v) < 1e-4:
        return None
    fx, cx = _line_fit(u, sel % w)
    fy, cy = _line_fit(v, sel // w)
    if not (np.isfinite([fx, cx, fy, cy]).all() and fx > 0 and fy > 0):
        return None
    return _View(h, w, rows, cols, fx, cx, fy, cy)


def _scene_points(
    points: np.ndarray,
    mask: np.ndarray,
    view: _View | None,
    centre: np.ndarray,
    ball: float,
    plane: np.ndarray | None,
    config: GraspConfig,
    spacing: float | None = None,
) -> np.ndarray:
    """Valid non-object points within ball of centre (and above the table band when the plane is known).

    An organised cloud is first cropped to the ball's image window; with spacing, it is also subsampled with
    the pixel stride that keeps neighbouring points about that far apart.
    """
    grid, other = points, ~mask
    if view is not None:
        stride = 1 if spacing is None else view.stride_for(float(centre[2]), spacing)
        crop = view.crop_around(centre, ball, stride)
        if crop is not None:
            grid, other = view.grid(points)[crop], ~mask.reshape(view.height, view.width)[crop]
    # the table is most of the window: drop it before measuring distances
    grid = grid[other & _above_plane(grid, plane, config.table_band)]
    c = centre.astype(np.float32)
    with np.errstate(invalid="ignore"):
        d2 = (grid[:, 0] - c[0]) ** 2 + (grid[:, 1] - c[1]) ** 2 + (grid[:, 2] - c[2]) ** 2
    return grid[d2 < ball * ball].astype(np.float32, copy=False)  # NaN compares False: invalid points drop out


def _above_plane(grid: np.ndarray, plane: np.ndarray | None, band: float) -> np.ndarray:
    """Whether points (...x3) are more than band above the plane (all valid ones without a plane); False for
    invalid points."""
    with np.errstate(invalid="ignore"):
        if plane is None:
            return np.isfinite(grid[..., 2])
        n = plane[:3].astype(np.float32)
        return grid[..., 0] * n[0] + grid[..., 1] * n[1] + grid[..., 2] * n[2] > np.float32(band - plane[3])


_BIG = np.float32(1e9)
"""Added to (subtracted from) values outside a mask before a min (max) reduction: much faster than np.where."""
_EMPTY = 1e8
"""A masked reduction beyond this (in absolute value) had no values."""


def _penalty(mask: np.ndarray) -> np.ndarray:
    return np.logical_not(mask).astype(np.float32) * _BIG


def _outline_slope(x: np.ndarray, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """|slope| of the least-squares line through (x[k], values[..., k]) over the valid k (0 with fewer than
    two)."""
    w = valid.astype(np.float32)
    v = np.where(valid, values, 0.0)
    n = np.maximum(w.sum(axis=-1), 1.0)
    mx = (w * x).sum(axis=-1) / n
    mv = v.sum(axis=-1) / n
    dx = (x - mx[..., None]) * w
    sxx = (dx * dx).sum(axis=-1)
    sxv = (dx * (v - mv[..., None])).sum(axis=-1)
    ok = w.sum(axis=-1) >= 2
    return np.where(ok, np.abs(sxv) / np.where(ok, sxx, 1.0), 0.0)


def _closing_run(py: np.ndarray, inside: np.ndarray, config: GraspConfig) -> np.ndarray:
    """The part of each candidate's section that goes between the pads.

    The section (inside, (O, T, N), y coordinates py (O, N)) may fall into runs along y separated by gaps a
    finger fits in (the walls of a bowl or a mug, the parts of an object): the best-observed run that fits
    the opening is kept, or the narrowest when none does. Runs are found on a histogram of y.
    """
    n_orient, n_off, _ = inside.shape
    step = config.run_bin
    y0 = py.min(axis=1, keepdims=True)
    n_bins = int(np.ceil(float((py.max(axis=1, keepdims=True) - y0).max()) / step)) + 2
    bins = np.minimum(((py - y0) / np.float32(step)).astype(np.int32), n_bins - 1)  # (O, N)
    # histogram index + 1 of each point, 0 outside the section (a product: faster than boolean indexing)
    flat = np.arange(n_orient * n_off, dtype=np.int32).reshape(n_orient, n_off, 1) * n_bins + bins[:, None, :] + 1
    counts = np.bincount((inside.view(np.int8) * flat).ravel(), minlength=n_orient * n_off * n_bins + 1)
    counts = counts[1:].reshape(n_orient, n_off, n_bins)
    occupied = counts > 0
    # a run starts at an occupied bin with none occupied among the `gap` bins before it
    gap = int(np.ceil((config.finger_thickness + 2 * config.min_width_margin) / step))
    cum = np.concatenate([np.zeros((n_orient, n_off, gap + 1), dtype=np.int32), np.cumsum(occupied, axis=-1)], -1)
    starts = occupied & (cum[..., gap : gap + n_bins] == cum[..., :n_bins])
    run = np.cumsum(starts, axis=-1, dtype=np.int32)  # 1-based run number of each occupied bin
    key = (np.arange(n_orient * n_off, dtype=np.int32).reshape(n_orient, n_off, 1) * (n_bins + 1) + run)[occupied]
    size = n_orient * n_off * (n_bins + 1)
    total = np.bincount(key, weights=counts[occupied], minlength=size)
    first = np.full(size, n_bins, dtype=np.int32)
    last = np.full(size, -1, dtype=np.int32)
    b = np.broadcast_to(np.arange(n_bins, dtype=np.int32), occupied.shape)[occupied]
    np.minimum.at(first, key, b)
    np.maximum.at(last, key, b)
    span = (last - first - 1) * step  # a lower bound of the run's width
    fits = (total > 0) & (span + 2 * config.min_width_margin <= config.max_opening)
    rank = np.where(fits, total, np.where(total > 0, -span, -np.inf)).reshape(n_orient, n_off, n_bins + 1)
    best = rank.argmax(axis=-1)
    lo = np.take_along_axis(first.reshape(rank.shape), best[..., None], axis=-1)
    hi = np.take_along_axis(last.reshape(rank.shape), best[..., None], axis=-1)
    b_pts = bins[:, None, :]
    return inside & (b_pts >= lo) & (b_pts <= hi)


def _box_specs(width: np.ndarray, config: GraspConfig, sweep: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(centre, half extent) in TCP coordinates, each (K, 3), of the left finger, right finger and palm.

    The palm is extended backwards by sweep.
    """
    k = len(width)
    fw, th, fl = config.finger_width, config.finger_thickness, config.finger_length
    off = 0.5 * width + 0.5 * th
    zeros = np.zeros(k)
    finger_half = np.broadcast_to(np.array([0.5 * fw, 0.5 * th, 0.5 * fl]), (k, 3))
    palm_len = config.palm_length + sweep
    return [
        (np.stack([zeros, -off, zeros - 0.5 * fl], 1), finger_half),
        (np.stack([zeros, off, zeros - 0.5 * fl], 1), finger_half),
        (
            np.broadcast_to(np.array([0.0, 0.0, -fl - 0.5 * palm_len]), (k, 3)),
            np.broadcast_to(np.array([0.5 * config.palm_thickness, 0.5 * config.palm_width, 0.5 * palm_len]), (k, 3)),
        ),
    ]


def _lowest_heights(g: np.ndarray, tcp_height: np.ndarray, width: np.ndarray, config: GraspConfig) -> np.ndarray:
    """(K,) height above the plane of the lowest corner of the fingers and palm.

    g (K, 3) is the plane normal in gripper coordinates, tcp_height (K,) the TCP's height.
    """
    lowest = np.full(len(width), np.inf)
    for centre, half in _box_specs(width, config, 0.0):
        box_low = tcp_height + np.einsum("ij,ij->i", g, centre) - (np.abs(g) * half).sum(axis=1)
        lowest = np.minimum(lowest, box_low)
    return lowest


def _any_in_box(coords: list[np.ndarray], centre: np.ndarray, half: np.ndarray) -> np.ndarray:
    """(B,) whether any point lies in each box; coords are the points' x, y, z in TCP coordinates, (B, M)
    each, centre and half (B, 3)."""
    inside = np.abs(coords[0] - centre[:, 0:1]) <= half[:, 0:1]
    inside &= np.abs(coords[1] - centre[:, 1:2]) <= half[:, 1:2]
    inside &= np.abs(coords[2] - centre[:, 2:3]) <= half[:, 2:3]
    return inside.any(axis=1)


def _collides(
    clouds: list[tuple[np.ndarray, list[tuple[int, float]]]],
    rots: np.ndarray,
    tcp: np.ndarray,
    width: np.ndarray,
    config: GraspConfig,
) -> np.ndarray:
    """(B,) whether candidates (rotations (B, 3, 3), TCPs (B, 3) in gripper coordinates relative to the
    clouds' origin, widths (B,)) put any cloud point in a box; clouds pairs points (M, 3) with the (box index,
    inflation) checks to run, boxes 0 and 1 being the fingers and 2 the palm with its approach sweep."""
    boxes = _box_specs(width, config, config.approach_distance)
    hit = np.zeros(len(tcp), dtype=bool)
    for cloud, checks in clouds:
        if not len(cloud):
            continue
        coords = [rots[:, :, i] @ cloud.T - tcp[:, i : i + 1] for i in range(3)]  # (B, M) each
        for k, pad in checks:
            c, h = boxes[k]
            hit |= _any_in_box(coords, c.astype(np.float32), (h + pad).astype(np.float32))
    return hit


def _refine_on_raw(
    raw: np.ndarray,
    q: np.ndarray,
    centre: np.ndarray,
    rot: np.ndarray,
    tcp: np.ndarray,
    contacts: np.ndarray,
    config: GraspConfig,
    band: float,
) -> tuple[np.ndarray, float, float, np.ndarray] | None:
    """A candidate's TCP (gripper coordinates relative to centre), width, object width and contacts with the
    object's extremes between the pads taken over its raw points too (those within band beyond the reduced
    cloud's contacts); None when the object no longer fits the opening. q holds the raw points (raw) in
    gripper coordinates relative to centre."""
    tcp = tcp.astype(np.float64)
    ends = (contacts - centre) @ rot[:, 1]
    y_lo, y_hi = float(ends[0]), float(ends[1])
    sel = (
        (np.abs(q[:, 0] - tcp[0]) <= 0.5 * config.finger_width + config.object_margin)
        & (q[:, 2] <= tcp[2])
        & (q[:, 1] >= y_lo - band)
        & (q[:, 1] <= y_hi + band)
    )
    if sel.any():
        idx = np.flatnonzero(sel)
        i_lo, i_hi = idx[np.argmin(q[idx, 1])], idx[np.argmax(q[idx, 1])]
        contacts = contacts.copy()
        if q[i_lo, 1] < y_lo:
            y_lo, contacts[0] = float(q[i_lo, 1]), raw[i_lo]
        if q[i_hi, 1] > y_hi:
            y_hi, contacts[1] = float(q[i_hi, 1]), raw[i_hi]
    object_width = y_hi - y_lo
    if object_width + 2 * config.min_width_margin > config.max_opening:
        return None
    width = min(object_width + 2 * config.width_margin, config.max_opening)
    return np.array([tcp[0], 0.5 * (y_lo + y_hi), tcp[2]]), width, object_width, contacts


def _clear_of(q: np.ndarray, tcp: np.ndarray, width: float, config: GraspConfig) -> bool:
    """Whether no point lies in either finger box or (with the collision margin) in the palm box of one
    candidate; q holds the points (M, 3) and tcp the TCP in the same gripper coordinates."""
    local = q - tcp.astype(np.float32)
    coords = [local[None, :, i] for i in range(3)]
    for k, (c, h) in enumerate(_box_specs(np.array([width]), config, config.approach_distance)):
        pad = config.collision_margin if k == 2 else 0.0
        if _any_in_box(coords, c.astype(np.float32), (h + pad).astype(np.float32))[0]:
            return False
    return True


def _scene_clear(
    points: np.ndarray,
    mask: np.ndarray,
    view: _View,
    plane: np.ndarray | None,
    pose: np.ndarray,
    width: float,
    config: GraspConfig,
) -> bool:
    """Whether no valid non-object pixel above the table band lies in a finger or the palm box of the grasp
    (inflated by the collision margin); only each box's image window is read."""
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    rot, origin = pose[:3, :3].astype(np.float32), pose[:3, 3].astype(np.float32)
    for c, h in _box_specs(np.array([width]), config, 0.0):
        crop = view.crop_of((c[0] + signs * h[0]) @ pose[:3, :3].T + pose[:3, 3])
        grid, own = (points, mask) if crop is None else (view.grid(points)[crop], mask.reshape(view.height, -1)[crop])
        local = (grid[~own & _above_plane(grid, plane, config.table_band)] - origin) @ rot
        pad = h[0] + config.collision_margin
        if _any_in_box([local[None, :, i] for i in range(3)], c.astype(np.float32), pad[None].astype(np.float32))[0]:
            return False
    return True


def _best_grasp(
    obj: np.ndarray,
    obj_raw: np.ndarray,
    scene_check: tuple[np.ndarray, np.ndarray, _View] | None,
    column: np.ndarray,
    finger_cloud: np.ndarray,
    palm_cloud: np.ndarray,
    plane: np.ndarray | None,
    up: np.ndarray,
    rots: np.ndarray,
    tilts: np.ndarray,
    centre: np.ndarray,
    mass_centre: np.ndarray,
    radius: float,
    voxel: float,
    config: GraspConfig,
) -> Grasp:
    """Score every candidate, collision-check the best ones in order and return the first free one.

    obj_raw holds all the object's valid points (obj, voxel-downsampled with voxel, stands for them): the
    extremes between the pads are refined and the fingers checked on them. scene_check (cloud, mask, view),
    when the collision clouds came from a pixel stride, has the chosen grasp checked on every pixel.
    column (N,) is how far below each object point the object is assumed to extend along -up (down to the
    table): single-view clouds miss the far side, and tabletop objects are mostly solid under their top.
    Candidates are indexed (orientation, finger offset); per-point work is on (O, T, N) arrays.
    """
    f32 = np.float32
    fw, fl = config.finger_width, config.finger_length
    n_orient = len(rots)
    c32 = centre.astype(f32)
    rel = (obj - c32).astype(f32)
    R = rots.astype(f32)
    local = R.transpose(0, 2, 1) @ rel.T  # (O, 3, N)
    px, py, pz = local[:, 0], local[:, 1], local[:, 2]
    up_local = (up @ rots).astype(f32)  # (O, 3); y component ~0 (closing directions are horizontal)
    ux = up_local[:, 0]
    cos_t = -up_local[:, 2]  # going down a column advances along the approach by this much per metre
    col = column.astype(f32)

    # finger positions along x across the object (its columns included)
    x_foot = px - col[None, :] * ux[:, None]
    xmin = np.minimum(px.min(axis=1), x_foot.min(axis=1))
    xmax = np.maximum(px.max(axis=1), x_foot.max(axis=1))
    mid, room = 0.5 * (xmin + xmax), np.maximum(0.5 * (xmax - xmin) - 0.5 * fw, 0.0)
    offsets = np.asarray(config.finger_offsets, dtype=f32)
    tx = mid[:, None] + offsets[None, :] * room[:, None]  # (O, T)
    n_off = tx.shape[1]

    # the part [s_lo, s_hi] of each point's column (s = distance below the point) inside the finger slab
    a = f32(0.5 * fw + config.object_margin)
    inv_ux = (1.0 / np.where(np.abs(ux) < 1e-6, f32(1e-6), ux))[:, None, None]
    dx = px[:, None, :] - tx[..., None]
    s1, s2 = (dx - a) * inv_ux, (dx + a) * inv_ux
    s_lo = np.maximum(np.minimum(s1, s2), f32(0.0))
    s_hi = np.minimum(np.maximum(s1, s2), col)
    in_slab = s_lo <= s_hi
    ct = cos_t[:, None, None]
    entry_z = pz[:, None, :] + s_lo * ct
    pyb = py[:, None, :]

    pen = _penalty(in_slab)
    z_first = (entry_z + pen).min(axis=-1)  # (O, T)
    depth_target = min(config.grasp_depth, fl - config.palm_clearance)
    tz = z_first + f32(depth_target)
    ty0 = 0.5 * ((pyb + pen).min(axis=-1) + (pyb - pen).max(axis=-1))

    if plane is not None:
        # pull the hand back along the approach until its lowest corner clears the table
        g = (plane[:3] @ rots).astype(f32)  # plane normal in gripper coordinates, (O, 3)
        h_c = f32(plane[:3] @ centre + plane[3])
        g_rep = np.repeat(g, n_off, axis=0).astype(np.float64)
        h_tcp = h_c + g[:, 0:1] * tx + g[:, 1:2] * ty0 + g[:, 2:3] * tz
        wide = np.full(n_orient * n_off, config.max_opening)
        low = _lowest_heights(g_rep, h_tcp.reshape(-1).astype(np.float64), wide, config).reshape(tz.shape)
        gz = np.broadcast_to(g[:, 2:3], tz.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            pull = np.where(gz < -0.05, np.maximum(config.table_clearance - low, 0.0) / -gz, 0.0)
        tz = tz - pull.astype(f32)

    inside = _closing_run(py, in_slab & (entry_z <= tz[..., None]), config)
    # real (not column) points between the pads: the object itself must be in the closing region
    n_real = np.count_nonzero(inside & (s_lo == 0.0) & (dx >= -0.5 * fw) & (dx <= 0.5 * fw), axis=-1)
    pen_in = _penalty(inside)
    y_lo, y_hi = (pyb + pen_in).min(axis=-1), (pyb - pen_in).max(axis=-1)
    has_points = n_real >= config.min_closing_points
    obj_width = np.where(has_points, y_hi - y_lo, np.inf)
    fits = obj_width + 2 * config.min_width_margin <= config.max_opening
    # how far the fingertips reach past the first contact of what goes between the pads
    z_top = (entry_z + pen_in).min(axis=-1)
    depth = tz - z_top
    # antipodal quality from the object's profile under each pad: across the finger (x) and, when it
    # widens with depth, along the approach (z)
    half_depth = np.maximum(0.5 * depth, f32(1e-3))
    z_mid = (z_top + half_depth)[..., None]
    exit_z = pz[:, None, :] + s_hi * ct
    pen_up = _penalty(inside & (entry_z <= z_mid))
    pen_low = _penalty(inside & (exit_z >= z_mid))
    widen_hi = np.maximum((pyb - pen_low).max(axis=-1) - (pyb - pen_up).max(axis=-1), 0.0)
    widen_lo = np.maximum((pyb + pen_up).min(axis=-1) - (pyb + pen_low).min(axis=-1), 0.0)
    widen_ok = (np.abs(widen_hi) < _EMPTY) & (np.abs(widen_lo) < _EMPTY)
    # across the finger: the extreme on each side in profile_bins bins along x (the section's outline, seen
    # from the approach), and the least-squares slope dy/dx of that outline
    entry_x = px[:, None, :] - s_lo * ux[:, None, None] - tx[..., None]
    n_bins = config.profile_bins
    edges = np.linspace(-a, a, n_bins + 1, dtype=f32)
    outline_hi = np.empty(tz.shape + (n_bins,), dtype=f32)
    outline_lo = np.empty(tz.shape + (n_bins,), dtype=f32)
    for k in range(n_bins):
        pen = _penalty(inside & (entry_x >= edges[k]) & (entry_x < edges[k + 1]))
        outline_hi[..., k] = (pyb - pen).max(axis=-1)
        outline_lo[..., k] = (pyb + pen).min(axis=-1)
    has_bin = outline_hi > -_EMPTY
    centres = 0.5 * (edges[:-1] + edges[1:])
    slope_x_hi = _outline_slope(centres, outline_hi, has_bin)
    slope_x_lo = _outline_slope(centres, outline_lo, has_bin)
    # the pads must bear on the object along some of the finger's width, not on a corner or a sliver
    x_extent = (entry_x - pen_in).max(axis=-1) - (entry_x + pen_in).min(axis=-1)
    short = x_extent < config.min_contact_length
    slope_z_hi = np.where(widen_ok, widen_hi, 0.0) / half_depth
    slope_z_lo = np.where(widen_ok, widen_lo, 0.0) / half_depth
    angle_hi = np.arctan(np.hypot(slope_x_hi, slope_z_hi))
    angle_lo = np.arctan(np.hypot(slope_x_lo, slope_z_lo))
    cone = np.radians(config.friction_angle_deg)
    antipodal = np.exp(-0.5 * ((angle_hi / cone) ** 2 + (angle_lo / cone) ** 2))
    # Depth sensors smear object edges into ramps down to the table, which read as widening with depth. Under
    # a top-down hand with vertical fingers such a ramp is mostly artefact: the limit on the overall contact
    # angle is looser there than the friction cone (the score still pays for it). Tilted hands get the cone.
    limit = np.where(tilts == 0.0, np.radians(config.max_widening_angle_deg), cone)[:, None]
    in_cone = (
        has_points
        & ~short
        & (slope_x_hi <= np.tan(cone))
        & (slope_x_lo <= np.tan(cone))
        & (angle_hi <= limit)
        & (angle_lo <= limit)
    )
    grippable = fits & in_cone
    if not in_cone.any():
        raise GraspError(
            "no collision-free grasp: no section of the object has both contacts within the "
            f"{config.friction_angle_deg:.0f} deg friction cone"
        )
    if not grippable.any():
        obj_width = np.where(in_cone, obj_width, np.inf)
        narrowest = float(obj_width.min())
        detail = f"narrowest section {narrowest:.3f} m" if np.isfinite(narrowest) else "no section found"
        raise GraspError(
            f"object too wide for the {config.max_opening:.2f} m gripper: no section with contacts within "
            f"the friction cone fits between the fingers ({detail}, {obj_width.size} candidates)"
        )

    feasible = grippable & (depth >= config.min_grasp_depth - 1e-6)
    width = np.minimum(np.where(fits, obj_width, 0.0) + 2 * config.width_margin, config.max_opening)
    ty = np.where(has_points, 0.5 * (y_lo + y_hi), 0.0)
    if plane is not None:
        h_tcp = h_c + g[:, 0:1] * tx + g[:, 1:2] * ty + g[:, 2:3] * tz
        low = _lowest_heights(
            g_rep, h_tcp.reshape(-1).astype(np.float64), width.reshape(-1).astype(np.float64), config
        ).reshape(tz.shape)
        feasible &= low >= config.table_clearance - 1e-4
    if not feasible.any():
        raise GraspError(
            f"no collision-free grasp: the fingers cannot reach {config.min_grasp_depth:.3f} m past the "
            "object's top without touching the table"
        )

    align = np.cos(tilts)[:, None] ** config.top_down_weight
    m_local = ((mass_centre - centre) @ rots).astype(f32)  # (O, 3)
    off_axis = np.hypot(tx - m_local[:, 0:1], ty - m_local[:, 1:2])
    centrality = np.exp(-2.0 * (off_axis / max(radius, 0.01)) ** 2)
    depth_factor = np.sqrt(np.clip(depth / depth_target, 0.0, 1.0))
    room_factor = 0.5 + 0.5 * np.clip((config.max_opening - obj_width) / (2 * config.width_margin), 0.0, 1.0)
    score = np.where(feasible, antipodal * align * centrality * depth_factor * room_factor, -1.0)

    order = np.argsort(-score, axis=None, kind="stable")
    order = order[score.reshape(-1)[order] >= 0][: config.num_candidates]
    # (cloud, [(box index, inflation)]): boxes 0, 1 are the fingers, 2 the palm (with its approach sweep)
    finger_pad = config.collision_margin + 0.5 * np.sqrt(3.0) * config.scene_voxel
    palm_pad = config.collision_margin + 0.5 * np.sqrt(3.0) * config.palm_voxel
    raw_band = min(1.5 * voxel, 0.5 * (config.finger_thickness + 2 * config.min_width_margin))
    clouds = [
        ((finger_cloud - c32).astype(f32), [(0, finger_pad), (1, finger_pad)]),
        ((palm_cloud - c32).astype(f32), [(2, palm_pad)]),
        (rel, [(0, 0.0), (1, 0.0), (2, config.collision_margin)]),
    ]
    start, size = 0, config.batch_size
    while start < len(order):
        # the best few are usually free: check them first, then ever larger batches
        batch = order[start : start + size]
        start, size = start + size, min(4 * size, 256)
        o_idx, t_idx = np.unravel_index(batch, score.shape)
        tcp = np.stack([tx[o_idx, t_idx], ty[o_idx, t_idx], tz[o_idx, t_idx]], axis=1).astype(f32)
        hit = _collides(clouds, R[o_idx], tcp, width[o_idx, t_idx].astype(np.float64), config)
        for j in np.flatnonzero(~hit):
            o, t = int(o_idx[j]), int(t_idx[j])
            # the reduced cloud may miss the object's true extremes: take them from its raw points
            ys = np.where(inside[o, t], py[o], np.nan)
            i_lo, i_hi = int(np.nanargmin(ys)), int(np.nanargmax(ys))
            drop = s_lo[o, t].astype(np.float64)
            contacts = np.stack([obj[i_lo] - drop[i_lo] * up, obj[i_hi] - drop[i_hi] * up])
            raw_local = (obj_raw - c32) @ R[o]
            refined = _refine_on_raw(obj_raw, raw_local, centre, rots[o], tcp[j], contacts, config, raw_band)
            if refined is None:
                continue
            tcp_j, width_j, object_width, contacts = refined
            moved = not (np.allclose(tcp_j, tcp[j], atol=1e-6) and abs(width_j - width[o, t]) < 1e-6)
            if moved and _collides(clouds, R[o : o + 1], tcp_j[None].astype(f32), np.array([width_j]), config)[0]:
                continue
            if not _clear_of(raw_local, tcp_j, width_j, config):
                continue
            pose = np.eye(4)
            pose[:3, :3] = rots[o]
            pose[:3, 3] = centre + rots[o] @ tcp_j
            if scene_check is not None and not _scene_clear(*scene_check, plane, pose, width_j, config):
                continue
            return Grasp(
                pose=pose,
                width=width_j,
                score=float(np.clip(score[o, t], 0.0, 1.0)),
                contacts=contacts,
                finger_length=fl,
                object_width=object_width,
            )
    raise GraspError(
        f"no collision-free grasp: all {len(order)} feasible candidates collide with the scene or the object"
    )
