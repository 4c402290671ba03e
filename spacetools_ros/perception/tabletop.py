"""Classical tabletop segmentation: fit the table plane, then segment what stands on it.

Pipeline (vectorised numpy/scipy/OpenCV, no per-pixel Python loops). Steps 1-6 run on a working grid that
keeps every ``stride``-th pixel of every ``stride``-th row (about 320x240 pixels whatever the image size:
stride 2 at 640x480, 3 at 1280x720, 1 for small images); pixel counts and radii of the configuration are
given at full resolution and scaled to it. Step 7 brings the labels back to full resolution.

1. Back-project the working grid's depths into an organised camera-frame cloud; keep depths in range.
2. Table plane: RANSAC (preemptive: every hypothesis is scored on a few hundred points, the best few on
   the whole subsample) on a random subsample, hypotheses restricted to roughly horizontal planes when
   T_base_camera is known and to planes facing the camera otherwise; up to ``max_planes`` candidates are
   extracted one after the other. The table is the best-supported candidate, unless a parallel candidate
   well above it (a table above the floor) has comparable support. Least-squares refinement on inliers.
3. Table extent: convex hull, on the plane, of the largest image-connected blob of plane inliers.
4. Candidate pixels: between ``min_height`` and ``max_height`` above the plane, with their foot on the
   plane inside the table extent (so furniture, floor, walls and other tables are left out).
5. Segmentation of the candidates as an organised cloud. "Veil" pixels, whose surface runs almost along
   the viewing ray (the smeared depth edge between an object and whatever is behind it, or a surface seen
   edge-on), are set aside; the rest is split into connected components of the 4-neighbour pixel graph,
   neighbours being joined when their 3D distance is below a depth-dependent threshold. The veil test is
   made at full resolution, and two working neighbours with a veil pixel between them (skipped by the
   decimation) are not joined. Segments that face each other across a veil band, are close in 3D and
   alike in colour are merged (one object broken at its own rim); small segments are dropped; the kept
   segments then grow into the veil pixels, small fragments and low pixels (just under ``min_height``)
   they are 3D-connected to.
6. Objects lower than ``min_object_height`` or not standing on the table (most of their footprint outside
   the table extent) are dropped; enclosed holes are filled (but for table points seen through the
   object, inside a ring or a handle); each object is measured with a table-aligned box (minimum-area
   footprint rectangle and a robust height) from its working-grid points.
7. Full resolution: a pixel whose four surrounding working pixels agree takes their label; at object
   borders it takes the label of a labelled one of them that it could be grown from (its 3D distance
   within a joining threshold per pixel step) if its own point lies above the table, so that masks
   follow the depth edges pixel by pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy import ndimage

from spacetools_ros.frames.frame import Intrinsics, RGBDFrame
from spacetools_ros.frames.geometry import (
    pixel_to_normalized,
    transform_plane,
    transform_points,
)


@dataclass
class TabletopConfig:
    """Parameters of :func:`segment_tabletop` (distances in metres, angles in degrees).

    Attributes:
        min_depth: depths below this are ignored.
        max_depth: depths above this are ignored (far background).
        plane_distance_threshold: RANSAC inlier distance to the plane.
        plane_iterations: RANSAC hypotheses per plane search.
        plane_sample_size: number of valid points subsampled for RANSAC.
        max_planes: how many candidate planes are extracted (each from the points the previous ones left).
        min_plane_fraction: a plane needs at least this fraction of the subsample as inliers.
        max_tilt_deg: with T_base_camera known, the largest angle between the plane normal and base +z.
        max_view_angle_deg: without T_base_camera, the largest angle between the plane normal and the
            direction to the camera (rejects planes seen edge-on).
        parallel_angle_deg: candidate planes within this angle of each other count as parallel.
        min_relative_support: a parallel candidate above the best-supported plane (a table above the
            floor) is chosen when its support is at least this fraction of the best...
        min_plane_separation: ...and its inliers lie on average at least this far above the best plane.
        min_height: points must be higher than this above the table to belong to an object.
        max_height: points higher than this above the table are ignored.
        table_margin: a candidate point's foot on the plane may lie this far outside the table extent.
        support_inset: an object stands on the table: at least ``min_supported_fraction`` of its points'
            feet must lie inside the table extent shrunk by this inset (rejects walls and table edges).
        min_supported_fraction: see support_inset.
        cluster_distance: neighbouring pixels are joined when their 3D distance is below
            ``cluster_distance + cluster_distance_per_metre * depth``.
        cluster_distance_per_metre: depth-proportional part of the joining threshold.
        veil_angle_deg: pixels whose surface, along the image row or column, is within this angle of the
            viewing ray are veil pixels, set aside while clustering so that they cannot bridge objects.
        veil_merge_radius: segments facing each other across veil pixels within this many pixels...
        veil_merge_gap: ...whose closest facing points are nearer than this in 3D...
        merge_chroma_distance: ...whose mean chromaticities (r, g, b) / (r + g + b) differ by less than
            this...
        merge_brightness_ratio: ...and whose mean brightnesses differ by less than this factor (shading)
            are merged: they are one object broken at a self-occlusion or at a surface seen edge-on (a
            bowl's rim, a box's side), whereas an object behind another is usually further away or of
            another colour.
        grow_steps: kept segments grow by up to this many pixels into the veil pixels, small fragments and
            low pixels they are 3D-connected to (neighbours within the joining threshold)...
        grow_min_height: ...low pixels being those between this height and min_height above the table
            (an object's bottom centimetre, a bowl's inner bottom). Growth only extends masks; the
            object's 3D measurements use its clustered points.
        min_object_pixels: segments with fewer (non-veil) pixels are dropped.
        min_object_height: objects lower than this (height_m) are dropped: below it, depth noise and the
            depth halo at object bases look like objects. Flat things (lying scissors) are lost too.
        fill_holes: fill holes enclosed by an object's mask (pixels not claimed by another object, nor
            table points seen through the object).
        height_percentile: percentile of the point heights reported as an object's height (robust max).
        seed: seed of the RANSAC random generator (results are deterministic for a given seed).
    """

    min_depth: float = 0.15
    max_depth: float = 3.0
    plane_distance_threshold: float = 0.01
    plane_iterations: int = 256
    plane_sample_size: int = 8000
    max_planes: int = 3
    min_plane_fraction: float = 0.05
    max_tilt_deg: float = 25.0
    max_view_angle_deg: float = 85.0
    parallel_angle_deg: float = 10.0
    min_relative_support: float = 0.4
    min_plane_separation: float = 0.05
    min_height: float = 0.01
    max_height: float = 0.5
    table_margin: float = 0.02
    support_inset: float = 0.02
    min_supported_fraction: float = 0.5
    cluster_distance: float = 0.01
    cluster_distance_per_metre: float = 0.01
    veil_angle_deg: float = 12.0
    veil_merge_radius: int = 6
    veil_merge_gap: float = 0.035
    merge_chroma_distance: float = 0.06
    merge_brightness_ratio: float = 2.5
    grow_steps: int = 12
    grow_min_height: float = 0.004
    min_object_pixels: int = 200
    min_object_height: float = 0.02
    fill_holes: bool = True
    height_percentile: float = 98.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {self.min_depth}, {self.max_depth}")
        if not 0 <= self.min_height < self.max_height:
            raise ValueError(f"need 0 <= min_height < max_height, got {self.min_height}, {self.max_height}")
        if self.plane_distance_threshold <= 0:
            raise ValueError("plane_distance_threshold must be positive")
        if self.plane_iterations < 1 or self.plane_sample_size < 3 or self.max_planes < 1:
            raise ValueError("plane_iterations, plane_sample_size and max_planes must be positive")


@dataclass
class TablePlane:
    """The supporting table plane.

    coefficients: (a, b, c, d) with a*x + b*y + c*z + d = 0 in the camera frame, unit normal pointing
        out of the table towards the camera (the camera origin has signed distance d > 0).
    inlier_mask: HxW bool, the visible table surface: pixels within the distance threshold in the largest
        connected blob of such pixels, less those given to objects (their bottom edge).
    coefficients_base: the same plane in the base frame (normal pointing up), or None without
        T_base_camera.
    boundary_camera: Kx3 camera-frame vertices of the convex polygon bounding the table extent on the
        plane, or None.
    """

    coefficients: np.ndarray
    inlier_mask: np.ndarray
    coefficients_base: np.ndarray | None = None
    boundary_camera: np.ndarray | None = None

    @property
    def normal(self) -> np.ndarray:
        """Unit normal (camera frame), pointing up out of the table."""
        return self.coefficients[:3]

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Height of camera-frame points (...x3) above the plane (negative below)."""
        return np.asarray(points) @ self.coefficients[:3] + self.coefficients[3]


@dataclass
class SegmentedObject:
    """One object standing on the table.

    id: 0-based index; objects are sorted left to right by the x of center_2d (then by y).
    mask: HxW bool image mask (enclosed holes filled).
    bbox_2d: (u_min, v_min, u_max, v_max), inclusive pixel coordinates.
    pixel_count: number of mask pixels.
    center_2d: normalised [0, 1] (x, y) of the mask centroid (geometry.pixel_to_normalized).
    centroid_camera: centre (metres, camera frame) of the table-aligned box: the centre of the footprint
        rectangle lifted by height_m / 2 along the table normal. Unlike the mean of the visible points,
        it is not biased towards the camera.
    extent: (length, width, height) metres of the table-aligned box; the footprint is the minimum-area
        rectangle of the points projected on the plane (length >= width), the height is height_m.
    height_m: robust maximum height above the table (height_percentile of the point heights).
    centroid_base: centroid_camera in the base frame, or None without T_base_camera.
    mean_rgb: mean colour (R, G, B) over the mask.
    """

    id: int
    mask: np.ndarray
    bbox_2d: tuple[int, int, int, int]
    pixel_count: int
    center_2d: tuple[float, float]
    centroid_camera: np.ndarray
    extent: np.ndarray
    height_m: float
    centroid_base: np.ndarray | None
    mean_rgb: tuple[int, int, int]

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no mask), floats rounded to 4 decimals.

        bbox_2d_normalized is [x0, y0, x1, y1] in [0, 1] covering the bbox pixels' outer edges.
        """
        h, w = self.mask.shape
        u0, v0, u1, v1 = self.bbox_2d
        x0, y0 = pixel_to_normalized(u0 - 0.5, v0 - 0.5, w, h)
        x1, y1 = pixel_to_normalized(u1 + 0.5, v1 + 0.5, w, h)

        def r(values) -> list[float]:
            return [round(float(x), 4) for x in values]

        return {
            "id": int(self.id),
            "center_2d": r(self.center_2d),
            "bbox_2d": [int(x) for x in self.bbox_2d],
            "bbox_2d_normalized": r((x0, y0, x1, y1)),
            "pixel_count": int(self.pixel_count),
            "centroid_camera": r(self.centroid_camera),
            "extent": r(self.extent),
            "height_m": round(float(self.height_m), 4),
            "centroid_base": None if self.centroid_base is None else r(self.centroid_base),
            "distance_to_camera_m": round(float(np.linalg.norm(self.centroid_camera)), 4),
            "mean_rgb": [int(x) for x in self.mean_rgb],
        }


@dataclass
class TabletopScene:
    """Result of :func:`segment_tabletop`: the table plane, the objects, and an HxW int32 label image
    (-1 background, otherwise the object's id)."""

    plane: TablePlane
    objects: list[SegmentedObject]
    labels: np.ndarray


# Working grid: about this many pixels whatever the image size (stride 2 at 640x480, 3 at 1280x720).
_WORKING_PIXELS = 320 * 240
# Preemptive RANSAC: every hypothesis is scored on this many points first, the best few on all of them.
# (The products stay below OpenBLAS's threading threshold: its helper threads cost more than they save.)
_PREEMPT_POINTS = 320
_PREEMPT_KEEP = 10
# The final plane refit uses a regular subset of at most this many points.
_REFIT_POINTS = 20000
# Table hull simplification (metres): the hull may shrink by this much, far below table_margin.
_HULL_TOLERANCE = 0.001
# Full-resolution passes go through the image in bands of this many pixels, so that their temporaries
# stay small and are recycled instead of being fresh memory every time.
_BAND_PIXELS = 32768


def _working_stride(height: int, width: int) -> int:
    """Decimation step of the working grid for an image of this size."""
    return max(1, int(round(np.sqrt(height * width / _WORKING_PIXELS))))


def _row_bands(height: int, width: int) -> list[slice]:
    rows = max(1, _BAND_PIXELS // max(width, 1))
    return [slice(r, min(r + rows, height)) for r in range(0, height, rows)]


def _working_cloud(
    depth: np.ndarray, intrinsics: Intrinsics, stride: int, config: TabletopConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Organised float32 cloud of the pixels (offset + stride * i, offset + stride * j), offset = stride // 2,
    NaN where the depth is invalid or out of [min_depth, max_depth]: HxWx3, and the same as 3xHxW planes."""
    offset = stride // 2
    d = depth[offset::stride, offset::stride]
    with np.errstate(invalid="ignore"):
        keep = (d > 0) & (d >= config.min_depth) & (d <= config.max_depth)
    z = np.where(keep, d, np.float32(np.nan)).astype(np.float32, copy=False)
    fx, fy = np.float32(intrinsics.fx), np.float32(intrinsics.fy)
    u = (offset + stride * np.arange(d.shape[1], dtype=np.float32) - np.float32(intrinsics.cx)) / fx
    v = (offset + stride * np.arange(d.shape[0], dtype=np.float32) - np.float32(intrinsics.cy)) / fy
    planes = np.empty((3, *d.shape), dtype=np.float32)
    np.multiply(z, u[None, :], out=planes[0])
    np.multiply(z, v[:, None], out=planes[1])
    planes[2] = z
    return cv2.merge(list(planes)), planes


def _orient_towards_origin(normal: np.ndarray, d: float) -> tuple[np.ndarray, float]:
    return (normal, d) if d >= 0 else (-normal, -d)


def _ransac_plane(
    points: np.ndarray,
    rng: np.random.Generator,
    config: TabletopConfig,
    up: np.ndarray | None,
) -> tuple[np.ndarray, int] | None:
    """Best-supported plane among random 3-point hypotheses passing the orientation prior.

    `points` (3xN float32 coordinate rows) must be in random order: the hypotheses are scored on its first
    points (preemptive RANSAC) and only the best few on all of them.
    """
    idx = rng.integers(0, points.shape[1], size=(config.plane_iterations, 3))
    a = points[:, idx[:, 0]].astype(np.float64)
    u, v = points[:, idx[:, 1]] - a, points[:, idx[:, 2]] - a
    normals = np.stack([u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]], axis=1)
    norms = np.sqrt(np.einsum("ij,ij->i", normals, normals))
    keep = norms > 1e-9
    normals, a = normals[keep] / norms[keep, None], a[:, keep].T
    d = -np.einsum("ij,ij->i", normals, a)
    flip = d < 0
    normals[flip] *= -1
    d[flip] *= -1
    if up is not None:
        keep = normals @ up >= np.cos(np.radians(config.max_tilt_deg))
    else:
        # n . (camera - a) / |a| = d / |a|: cosine between the normal and the direction to the camera.
        keep = d / np.maximum(np.linalg.norm(a, axis=1), 1e-9) >= np.cos(np.radians(config.max_view_angle_deg))
    if not keep.any():
        return None
    normals, d = normals[keep].astype(np.float32), d[keep].astype(np.float32)
    threshold = np.float32(config.plane_distance_threshold)
    if len(normals) > _PREEMPT_KEEP and points.shape[1] > 4 * _PREEMPT_POINTS:
        quick = (np.abs(normals @ points[:, :_PREEMPT_POINTS] + d[:, None]) < threshold).sum(axis=1)
        top = np.argpartition(-quick, _PREEMPT_KEEP - 1)[:_PREEMPT_KEEP]
        normals, d = normals[top], d[top]
    counts = (np.abs(normals @ points + d[:, None]) < threshold).sum(axis=1)
    best = int(np.argmax(counts))
    return np.append(normals[best], d[best]).astype(np.float64), int(counts[best])


def _signed(points: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Signed distances of float32 points, given as 3xN coordinate rows, to the plane, in float32."""
    a, b, c, d = (np.float32(x) for x in plane)
    h = points[0] * a
    h += points[1] * b
    h += points[2] * c
    h += d
    return h


def _refine_plane(points: np.ndarray, plane: np.ndarray, threshold: float, rounds: int = 2) -> np.ndarray:
    """Least-squares (total) refit of the plane on its inliers among points (3xN rows), a few rounds."""
    for _ in range(rounds):
        inliers = np.compress(np.abs(_signed(points, plane)) < threshold, points, axis=1)
        if inliers.shape[1] < 3:
            break
        centroid = inliers.sum(axis=1).astype(np.float64) / inliers.shape[1]
        # Centred float32 coordinates are precise enough for the 3x3 scatter matrix.
        q = inliers - centroid.astype(np.float32)[:, None]
        _, vecs = np.linalg.eigh((q @ q.T).astype(np.float64))
        normal = vecs[:, 0]
        if normal @ plane[:3] < 0:
            normal = -normal
        plane = np.append(normal, -normal @ centroid)
    normal, d = _orient_towards_origin(plane[:3], float(plane[3]))
    return np.append(normal, d)


def _find_table_plane(
    points: np.ndarray, valid: np.ndarray, config: TabletopConfig, up: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Coefficients (camera frame) of the table plane among up to max_planes RANSAC candidates, from the
    points (3xN coordinate rows) at the indices `valid`."""
    threshold = config.plane_distance_threshold
    chosen_idx = rng.choice(len(valid), size=min(len(valid), config.plane_sample_size), replace=False)
    # (compress and take keep 3xN results contiguous, unlike [:, index])
    sample = points.take(valid[chosen_idx], axis=1)
    min_support = max(3, int(config.min_plane_fraction * sample.shape[1]))
    remaining = sample
    candidates: list[tuple[np.ndarray, int]] = []
    for _ in range(config.max_planes):
        if remaining.shape[1] < min_support:
            break
        found = _ransac_plane(remaining, rng, config, up)
        if found is None:
            break
        plane = _refine_plane(sample, found[0], threshold)
        support = int(np.count_nonzero(np.abs(_signed(sample, plane)) < threshold))
        if support < min_support:
            break
        candidates.append((plane, support))
        # A band wider than the inlier threshold is removed so that the noise tails of this plane cannot
        # form a slightly tilted "next" plane.
        band = 2.5 * threshold
        remaining = np.compress(np.abs(_signed(remaining, plane)) >= band, remaining, axis=1)
    if not candidates:
        prior = "roughly horizontal in the base frame" if up is not None else "facing the camera"
        raise ValueError(
            f"no table plane found: no plane {prior} has {config.min_plane_fraction:.0%} of the "
            f"{sample.shape[1]} sampled valid points within {threshold} m"
        )
    best_plane, best_support = max(candidates, key=lambda c: c[1])
    cos_parallel = np.cos(np.radians(config.parallel_angle_deg))
    chosen, chosen_height = best_plane, 0.0
    for plane, support in candidates:
        if support < config.min_relative_support * best_support or plane[:3] @ best_plane[:3] < cos_parallel:
            continue
        on_plane = np.compress(np.abs(_signed(sample, plane)) < threshold, sample, axis=1)
        height = float(np.mean(_signed(on_plane, best_plane)))
        if height >= config.min_plane_separation and height > chosen_height:
            chosen, chosen_height = plane, height
    step = -(-len(valid) // _REFIT_POINTS)
    return _refine_plane(points.take(valid[::step], axis=1), chosen, threshold)


def _plane_basis(normal: np.ndarray) -> np.ndarray:
    """2x3 orthonormal in-plane axes: the camera x axis (or y) made orthogonal to the normal, then n x e1."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = ref - (ref @ normal) * normal
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(normal, e1)])


def _table_region(uvh: np.ndarray, inliers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest connected blob of plane inliers (bool image) and its convex hull on the plane (Kx2, CCW),
    given the in-plane coordinates and heights (uvh, HxWx3) of the organised cloud."""
    count, blobs, stats, _ = cv2.connectedComponentsWithStats(inliers.view(np.uint8), connectivity=8)
    if count < 2:
        raise ValueError("no table plane found: the plane has no inlier pixels")
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    blob = blobs == largest
    # Pixels on a plane map to it by a homography, which keeps convex hulls: the blob's outer contour
    # pixels carry its hull (up to the points' noise across the inlier band).
    contours, _ = cv2.findContours(blob.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    edge = np.concatenate([c.reshape(-1, 2) for c in contours])
    hull = cv2.convexHull(np.ascontiguousarray(uvh[edge[:, 1], edge[:, 0], :2]))
    if len(hull) > 8:
        hull = cv2.approxPolyDP(hull, _HULL_TOLERANCE, closed=True)
    hull = hull.reshape(-1, 2).astype(np.float64)
    area2 = np.sum(hull[:, 0] * np.roll(hull[:, 1], -1) - np.roll(hull[:, 0], -1) * hull[:, 1])
    if area2 < 0:
        hull = hull[::-1]
    return blob, hull


def _half_planes(polygon: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit outward normals (Kx2 float32) and offsets (K float32) of the edges of a convex CCW polygon
    (Kx2) moved outwards by margin: a point p is inside when normals @ p <= offsets."""
    edges = np.roll(polygon, -1, axis=0) - polygon
    outward = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-12)
    offsets = np.einsum("ij,ij->i", outward, polygon) + margin
    return outward.astype(np.float32), offsets.astype(np.float32)


def _inside_half_planes(uv: np.ndarray, outward: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    # One edge at a time, elementwise: large matrix products wake OpenBLAS's threads, which cost more
    # than they save here, and an NxK temporary costs more than K passes.
    u, v = uv[:, 0], uv[:, 1]
    inside = np.ones(len(uv), dtype=bool)
    for (ox, oy), offset in zip(outward, offsets, strict=True):
        side = u * ox
        side += v * oy
        inside &= side <= offset
    return inside


@dataclass
class _ConvexRegion:
    """A convex CCW polygon grown by a margin (mitred corners), set up for point-in-polygon tests.

    outward, offsets: the grown polygon's half-planes (_half_planes); inner_outward, inner_offsets: those
    of a simpler polygon inside it (a few of its vertices, shrunk as much when the margin is negative),
    which settles most points with fewer edges.
    """

    outward: np.ndarray
    offsets: np.ndarray
    inner_outward: np.ndarray
    inner_offsets: np.ndarray

    @classmethod
    def of(cls, hull: np.ndarray, margin: float) -> _ConvexRegion:
        """The polygon hull (Kx2, CCW) grown by margin (shrunk when negative)."""
        if len(hull) < 3:
            empty = np.zeros((0, 2), np.float32), np.zeros(0, np.float32)
            return cls(*empty, *empty)
        outward, offsets = _half_planes(hull, margin)
        # A polygon on a subset of the vertices lies inside the hull, and shrinking keeps the inclusion
        # (growing with mitred corners might not).
        inner = cv2.approxPolyDP(hull.astype(np.float32).reshape(-1, 1, 2), 0.02, closed=True).reshape(-1, 2)
        if len(inner) < 3 or len(inner) >= len(hull):
            inner = hull
        elif np.sum(inner[:, 0] * np.roll(inner[:, 1], -1) - np.roll(inner[:, 0], -1) * inner[:, 1]) < 0:
            inner = inner[::-1]
        return cls(outward, offsets, *_half_planes(inner.astype(np.float64), min(margin, 0.0)))

    def contains(self, uv: np.ndarray) -> np.ndarray:
        """Whether the points (Nx2, or the first two columns of Nxk) lie inside."""
        if not len(self.offsets):
            return np.zeros(len(uv), dtype=bool)
        inside = _inside_half_planes(uv, self.inner_outward, self.inner_offsets)
        rest = np.flatnonzero(~inside)
        if len(rest):
            inside[rest] = _inside_half_planes(uv[rest], self.outward, self.offsets)
        return inside


def _veil_image(
    depth: np.ndarray, rows: slice, cols: slice, intrinsics: Intrinsics, max_angle_deg: float
) -> np.ndarray:
    """Full-resolution veil pixels of the image region (rows, cols): the row or column central difference of
    the back-projected points runs within max_angle_deg of the viewing ray (region-shaped bool).

    Computed from the depth alone. With r = (xn, yn, 1) the centre's ray and z-, z+ the neighbours' depths,
    the row difference is (z+ - z-) r + (z+ + z-) / fx e_x, so the angle test
    |step x r| < tan(max) |step . r| / |r| reads (z+ + z-) sqrt(1 + yn^2) / (tan(max) fx)
    < |(z+ - z-) |r|^2 + (z+ + z-) xn / fx|; likewise for columns. Invalid (zero or NaN) neighbours give
    no evidence.
    """
    h, w = rows.stop - rows.start, cols.stop - cols.start
    veil = np.zeros((h, w), dtype=bool)
    if max_angle_deg <= 0 or min(h, w) < 3:
        return veil
    tan_max = np.float32(np.tan(np.radians(max_angle_deg)))
    fx, fy = np.float32(intrinsics.fx), np.float32(intrinsics.fy)
    xn = (np.arange(cols.start, cols.stop, dtype=np.float32) - np.float32(intrinsics.cx)) / fx
    yn = (np.arange(rows.start, rows.stop, dtype=np.float32) - np.float32(intrinsics.cy)) / fy
    xn2, yn2 = xn * xn, yn * yn
    # per column (row test) / per row (column test) factors
    row_bias, col_bias = xn / fx, yn / fy
    row_scale = np.sqrt(1 + yn2) / (tan_max * fx)
    col_scale = np.sqrt(1 + xn2) / (tan_max * fy)
    with np.errstate(invalid="ignore"):
        for band in _row_bands(h, w):
            top, bottom = max(band.start - 1, 0), min(band.stop + 1, h)
            d = depth[rows.start + top : rows.start + bottom, cols]
            z = np.where(d > 0, d, np.float32(np.nan)).astype(np.float32, copy=False)
            i0, i1 = band.start - top, band.stop - top  # the band's rows in z
            # row test on the band's rows, centre columns 1..-2
            zm, zp = z[i0:i1, :-2], z[i0:i1, 2:]
            total = zp + zm
            par = zp - zm
            par *= yn2[band, None] + (1 + xn2[1:-1])[None, :]
            par += total * row_bias[None, 1:-1]
            total *= row_scale[band, None]
            veil[band, 1:-1] = total < np.abs(par, out=par)
            # column test on the band's rows that have both neighbours
            c0, c1 = max(band.start, 1), min(band.stop, h - 1)
            if c0 >= c1:
                continue
            zm, zp = z[c0 - 1 - top : c1 - 1 - top], z[c0 + 1 - top : c1 + 1 - top]
            total = zp + zm
            par = zp - zm
            par *= (1 + yn2[c0:c1])[:, None] + xn2[None, :]
            par += total * col_bias[c0:c1, None]
            total *= col_scale[None, :]
            veil[c0:c1] |= total < np.abs(par, out=par)
    return veil


def _working_veil(
    depth: np.ndarray, crop: tuple[slice, slice], stride: int, intrinsics: Intrinsics, config: TabletopConfig
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Veil pixels of the working grid's crop (the full-resolution test at the working pixels), and the
    horizontal and vertical working-grid edges (None at stride 1) that pass over a full-resolution veil
    pixel skipped by the decimation: clustering must not join across them either."""
    shape = (crop[0].stop - crop[0].start, crop[1].stop - crop[1].start)
    if config.veil_angle_deg <= 0:
        return np.zeros(shape, dtype=bool), None, None
    offset = stride // 2
    h, w = depth.shape
    v0, v1 = offset + stride * crop[0].start, offset + stride * (crop[0].stop - 1) + 1
    u0, u1 = offset + stride * crop[1].start, offset + stride * (crop[1].stop - 1) + 1
    rows, cols = slice(max(v0 - 1, 0), min(v1 + 1, h)), slice(max(u0 - 1, 0), min(u1 + 1, w))
    full = _veil_image(depth, rows, cols, intrinsics, config.veil_angle_deg)
    full = full[v0 - rows.start : v1 - rows.start, u0 - cols.start : u1 - cols.start]
    veil = full[::stride, ::stride]
    if stride == 1:
        return veil, None, None
    on_rows, on_cols = full[::stride], full[:, ::stride]
    cut_h = np.zeros((shape[0], shape[1] - 1), dtype=bool)
    cut_v = np.zeros((shape[0] - 1, shape[1]), dtype=bool)
    for t in range(1, stride):
        cut_h |= on_rows[:, t : t + stride * (shape[1] - 1) : stride]
        cut_v |= on_cols[t : t + stride * (shape[0] - 1) : stride]
    return veil, cut_h, cut_v


def _join_threshold(z: np.ndarray, config: TabletopConfig) -> np.ndarray:
    return np.float32(config.cluster_distance) + np.float32(config.cluster_distance_per_metre) * z


@dataclass
class _Gaps:
    """Squared 3D distances between 4-neighbours of an organised cloud, and the joining threshold.

    horizontal: Hx(W-1), pixel (i, j) to (i, j + 1); vertical: (H-1)xW, pixel (i, j) to (i + 1, j) (NaN
    where a point is invalid); threshold: HxW joining threshold at each pixel's depth.
    """

    horizontal: np.ndarray
    vertical: np.ndarray
    threshold: np.ndarray

    @classmethod
    def of(cls, xyz: np.ndarray, config: TabletopConfig) -> _Gaps:
        """From the cloud's 3xHxW coordinate planes."""
        gaps = []
        left, right = (slice(None), slice(None, -1)), (slice(None), slice(1, None))
        for a, b in ((left, right), (slice(None, -1), slice(1, None))):
            total = np.subtract(xyz[0][a], xyz[0][b])
            total *= total
            for plane in xyz[1:]:
                diff = np.subtract(plane[a], plane[b])
                diff *= diff
                total += diff
            gaps.append(total)
        return cls(gaps[0], gaps[1], _join_threshold(xyz[2], config))


def _cluster(
    mask: np.ndarray, gaps: _Gaps, cut_h: np.ndarray | None = None, cut_v: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Connected components of the masked organised cloud (HxW int32 labels, -1 outside) and their count,
    neighbours being joined when closer than both their joining thresholds and not across a cut edge.

    The 4-neighbour graph is drawn on a grid of twice the resolution, nodes at even/even cells and edges
    between them, so that OpenCV's connected components label it.
    """
    h, w = mask.shape
    thr = gaps.threshold
    grid = np.zeros((2 * h - 1, 2 * w - 1), dtype=np.uint8)
    grid[::2, ::2] = mask
    for gap2, limit, pair, cells, cut in (
        (gaps.horizontal, np.minimum(thr[:, :-1], thr[:, 1:]), mask[:, :-1] & mask[:, 1:], grid[::2, 1::2], cut_h),
        (gaps.vertical, np.minimum(thr[:-1], thr[1:]), mask[:-1] & mask[1:], grid[1::2, ::2], cut_v),
    ):
        with np.errstate(invalid="ignore"):
            pair &= gap2 < limit * limit
        if cut is not None:
            pair &= ~cut
        cells[...] = pair
    count, comp = cv2.connectedComponents(grid, connectivity=4, ltype=cv2.CV_32S)
    labels = comp[::2, ::2]
    labels -= 1
    return labels, count - 1


def _label_pairs(labels: np.ndarray, xyz: np.ndarray, through: np.ndarray, radius: int) -> np.ndarray:
    """Pairs of labels facing each other across `through` pixels.

    Pixel pairs at most radius apart, with different labels (>= 0) and the pixel halfway between them in
    `through`, are collected. Returns a Kx4 float array: label a, label b (a < b), the number of such pixel
    pairs, and the smallest 3D distance (from the 3xHxW coordinate planes xyz) between the two pixels of
    one of them.
    """
    h, w = labels.shape
    reach = (radius + 1) // 2
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near = cv2.dilate(through.view(np.uint8), kernel).view(bool) & (labels >= 0)
    av, au = np.nonzero(near)
    la = labels[av, au]
    # Padded copies (below, left and right) spare the bounds checks of the offset pixels.
    wide = w + 2 * radius
    padded = np.full((h + radius, wide), -1, dtype=np.int32)
    padded[:h, radius : radius + w] = labels
    padded_through = np.zeros((h + radius, wide), dtype=bool)
    padded_through[:h, radius : radius + w] = through
    padded, padded_through = padded.ravel(), padded_through.ravel()
    start = av * wide + au + radius
    coords = xyz.reshape(3, -1)
    span = int(labels.max()) + 1  # a label pair (a, b) is keyed a * span + b
    found, gaps = [], []
    for dv in range(radius + 1):
        for du in range(-radius, radius + 1):
            if (dv == 0 and du <= 0) or dv * dv + du * du > radius * radius:
                continue
            lb = padded[start + (dv * wide + du)]
            ok = (lb >= 0) & (lb != la) & padded_through[start + ((dv // 2) * wide + int(du / 2))]
            if ok.any():
                sa = np.flatnonzero(ok)
                lb = lb[sa]
                found.append(np.minimum(la[sa], lb).astype(np.int64) * span + np.maximum(la[sa], lb))
                ia = av[sa] * w + au[sa]
                ib = ia + (dv * w + du)
                gap2 = np.zeros(len(sa), dtype=np.float32)
                for plane in coords:
                    diff = plane[ia] - plane[ib]
                    gap2 += diff * diff
                gaps.append(gap2)
    if not found:
        return np.zeros((0, 4))
    keys, inverse, counts = np.unique(np.concatenate(found), return_inverse=True, return_counts=True)
    closest = np.full(len(keys), np.inf)
    np.minimum.at(closest, inverse, np.concatenate(gaps))
    return np.column_stack([keys // span, keys % span, counts, np.sqrt(closest)])


def _merge_across_veils(
    labels: np.ndarray,
    count: int,
    xyz: np.ndarray,
    rgb: np.ndarray,
    veil: np.ndarray,
    config: TabletopConfig,
    min_pairs: int = 3,
) -> np.ndarray:
    """Labels after merging segments facing each other (across at least min_pairs pixel pairs) across a
    veil band, close and alike in colour."""
    pairs = _label_pairs(labels, xyz, veil, config.veil_merge_radius)
    pairs = pairs[(pairs[:, 2] >= min_pairs) & (pairs[:, 3] < config.veil_merge_gap)]
    if not len(pairs):
        return labels
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    # Mean colours of the segments in these pairs.
    involved = np.zeros(count + 1, dtype=bool)  # label -1 maps to the last entry
    involved[a] = involved[b] = True
    vv, uu = np.nonzero(involved[labels])
    seg = labels[vv, uu]
    colours = rgb[vv, uu].astype(np.float64)
    sizes = np.maximum(np.bincount(seg, minlength=count), 1)
    mean = np.stack([np.bincount(seg, weights=colours[:, k], minlength=count) for k in range(3)], axis=1)
    mean /= sizes[:, None]
    # Shading scales a surface's colour: compare chromaticities (offset so that dark, noisy colours tend to
    # grey) and allow a bounded brightness ratio.
    brightness = mean.sum(axis=1) + 30.0
    chroma = (mean + 10.0) / brightness[:, None]
    ratio = np.maximum(brightness[a], brightness[b]) / np.minimum(brightness[a], brightness[b])
    similar = (np.linalg.norm(chroma[a] - chroma[b], axis=1) < config.merge_chroma_distance) & (
        ratio < config.merge_brightness_ratio
    )
    if not similar.any():
        return labels
    # Union-find with the smallest label as root; components are then numbered by their smallest label
    # (as scipy's connected_components would).
    parent = np.arange(count)
    for i, j in zip(a[similar].tolist(), b[similar].tolist(), strict=True):
        while parent[i] != i:
            i = parent[i]
        while parent[j] != j:
            j = parent[j]
        parent[max(i, j)] = min(i, j)
    for _ in range(count.bit_length()):
        parent = parent[parent]
    _, root = np.unique(parent, return_inverse=True)
    return np.append(root.astype(np.int32), -1)[labels]


def _grow_labels(labels: np.ndarray, allowed: np.ndarray, gaps: _Gaps, steps: int) -> np.ndarray:
    """Grow labelled regions into `allowed` pixels, one 4-neighbour ring per step (at most `steps`), from
    neighbours closer in 3D than the joining threshold at the pixel reached; a pixel reached by two regions
    at once takes the larger label."""
    # Pixels further than `steps` 4-neighbour steps from every label cannot be reached.
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    reach = cv2.dilate((labels >= 0).view(np.uint8), cross, iterations=steps).view(bool)
    vv, uu = np.nonzero(allowed & reach)
    if not len(vv):
        return labels
    h, w = labels.shape
    thr2 = gaps.threshold[vv, uu] ** 2
    neighbours = np.full((len(vv), 4), -1, dtype=np.intp)
    own = vv * w + uu
    with np.errstate(invalid="ignore"):
        for k, (inside, gap2, step) in enumerate(
            (
                (uu < w - 1, lambda s: gaps.horizontal[vv[s], uu[s]], 1),
                (uu > 0, lambda s: gaps.horizontal[vv[s], uu[s] - 1], -1),
                (vv < h - 1, lambda s: gaps.vertical[vv[s], uu[s]], w),
                (vv > 0, lambda s: gaps.vertical[vv[s] - 1, uu[s]], -w),
            )
        ):
            sel = np.flatnonzero(inside)
            sel = sel[gap2(sel) < thr2[sel]]
            neighbours[sel, k] = own[sel] + step
    flat = labels.ravel().copy()
    linked = neighbours >= 0
    pending = np.arange(len(own))
    for _ in range(steps):
        pending = pending[flat[own[pending]] < 0]
        if not len(pending):
            break
        nb = neighbours[pending]
        reached = np.where(linked[pending], flat[nb], -1).max(axis=1)
        if not (reached >= 0).any():
            break
        flat[own[pending]] = reached
    return flat.reshape(h, w)


def _segment_components(
    xyz: np.ndarray,
    rgb: np.ndarray,
    above: np.ndarray,
    low: np.ndarray,
    veil: tuple[np.ndarray, np.ndarray | None, np.ndarray | None],
    config: TabletopConfig,
    stride: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Object labels (HxW int32, -1 none, 0..K-1) of the above-table pixels of an organised cloud (given as
    3xHxW coordinate planes), and the mask of the pixels whose 3D points measure the objects (veil pixels
    excluded).

    Veil pixels (with the cut edges of _working_veil) are set aside and the rest is clustered; segments
    facing each other across a veil band are merged when close and alike in colour; segments of at least
    min_object_pixels are kept; the kept segments then grow into the veil pixels, small fragments and
    `low` pixels they are 3D-connected to.
    """
    veil, cut_h, cut_v = veil
    veil = veil & above
    gaps = _Gaps.of(xyz, config)
    labels, count = _cluster(above & ~veil, gaps, cut_h, cut_v)
    if count == 0:
        return labels, labels >= 0
    if config.veil_merge_radius > 0 and veil.any():
        # Fewer pixel pairs face each other across a band on a coarser grid (about 1 / stride^3 as many).
        min_pairs = max(1, round(3 / stride**2))
        labels = _merge_across_veils(labels, count, xyz, rgb, veil, config, min_pairs)
    core = labels >= 0
    sizes = np.bincount(labels[core], minlength=count)
    big = sizes >= config.min_object_pixels
    new_id = np.where(big, np.cumsum(big) - 1, -1).astype(np.int32)
    new_id = np.append(new_id, -1)  # label -1 maps to the last entry
    result = new_id[labels]
    anchor = result >= 0
    if not big.any():
        return result, anchor
    loose = (above | low) & ~anchor
    if config.grow_steps > 0:
        result = _grow_labels(result, loose, gaps, config.grow_steps)
    return result, anchor


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """The bool mask with its enclosed holes (4-connected background regions that do not reach the border,
    as scipy.ndimage.binary_fill_holes) filled."""
    h, w = mask.shape
    canvas = np.zeros((h + 2, w + 2), dtype=np.uint8)
    canvas[1:-1, 1:-1] = mask
    cv2.floodFill(canvas, np.zeros((h + 4, w + 4), dtype=np.uint8), (0, 0), 1, flags=4)
    return mask | (canvas[1:-1, 1:-1] == 0)


def _cell_spans(size: int, samples: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """First image row (or column) and row count of each working cell along one axis.

    Cell i spans the image rows from working row i (at offset + stride * i, offset = stride // 2) to just
    before working row i + 1; the first and last cells also take the image border beyond them.
    """
    offset = stride // 2
    start = offset + stride * np.arange(max(samples - 1, 1))
    stop = start + stride
    start[0], stop[-1] = 0, size
    return start, stop - start


def _upsample_labels(
    labels: np.ndarray,
    xyz: np.ndarray,
    depth: np.ndarray,
    intrinsics: Intrinsics,
    plane: np.ndarray,
    stride: int,
    config: TabletopConfig,
) -> np.ndarray:
    """Full-resolution labels (HxW int32, -1 none) from the working-grid labels.

    Each image pixel lies in a cell of four working pixels. Where the four agree the pixel takes their
    label. Elsewhere (object borders) it takes the label of a labelled corner it could be grown from: its
    3D distance to the corner below k joining thresholds, k the number of 4-neighbour steps between them
    (the corner with the smallest distance / k wins), provided the pixel itself has a valid depth and lies
    between grow_min_height and max_height above the table; otherwise none.
    """
    h, w = depth.shape
    hw, ww = labels.shape
    full = cv2.resize(labels, (ww * stride, hw * stride), interpolation=cv2.INTER_NEAREST)
    if full.shape[0] < h or full.shape[1] < w:
        full = cv2.copyMakeBorder(
            full, 0, max(h - full.shape[0], 0), 0, max(w - full.shape[1], 0), cv2.BORDER_REPLICATE
        )
    if full.shape != (h, w):
        full = np.ascontiguousarray(full[:h, :w])
    if hw < 2 or ww < 2:
        return full
    corner = labels[:-1, :-1]
    mixed = (corner != labels[1:, :-1]) | (corner != labels[:-1, 1:]) | (corner != labels[1:, 1:])
    ci, cj = np.nonzero(mixed)
    if not len(ci):
        return full
    # The image pixels of the mixed cells.
    row_start, row_count = _cell_spans(h, hw, stride)
    col_start, col_count = _cell_spans(w, ww, stride)
    span_c = int(col_count.max())
    dv, du = np.divmod(np.arange(int(row_count.max()) * span_c), span_c)
    keep = (dv < row_count[ci][:, None]) & (du < col_count[cj][:, None])
    cell = np.broadcast_to(np.arange(len(ci))[:, None], keep.shape)[keep]
    vb, ub = (row_start[ci][:, None] + dv)[keep], (col_start[cj][:, None] + du)[keep]
    base = (ci * ww + cj)[cell]

    z = depth[vb, ub]
    p = np.empty((3, len(z)), dtype=np.float32)
    np.multiply((ub.astype(np.float32) - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx), z, out=p[0])
    np.multiply((vb.astype(np.float32) - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy), z, out=p[1])
    p[2] = z
    flat_labels, coords = labels.ravel(), xyz.reshape(3, -1)
    # A pixel k 4-neighbour steps from a labelled corner could be reached by growth through pixels each
    # closer than the joining threshold to the last: its 3D distance to the corner is compared with k
    # thresholds. The corner with the smallest ratio wins.
    corner_v, corner_u = ci[cell] * stride + stride // 2, cj[cell] * stride + stride // 2
    limit = _join_threshold(z, config)
    limit *= limit
    best_ratio = np.full(len(z), np.inf, dtype=np.float32)
    best = np.full(len(z), -1, dtype=np.int32)
    with np.errstate(invalid="ignore"):
        for di, dj in ((0, 0), (1, 0), (0, 1), (1, 1)):
            corner = base + (di * ww + dj)
            lab = flat_labels[corner]
            d2 = np.zeros(len(z), dtype=np.float32)
            for k in range(3):
                diff = p[k] - coords[k][corner]
                d2 += diff * diff
            steps = np.abs(vb - (corner_v + di * stride)) + np.abs(ub - (corner_u + dj * stride))
            d2 /= np.maximum(steps, 1).astype(np.float32) ** 2
            better = (lab >= 0) & (d2 < best_ratio)
            np.copyto(best_ratio, d2, where=better)
            np.copyto(best, lab, where=better)
    height = _signed(p, plane)
    with np.errstate(invalid="ignore"):
        ok = (
            (z > 0)
            & (z >= config.min_depth)
            & (z <= config.max_depth)
            & (best_ratio < limit)
            & (height > config.grow_min_height)
            & (height < config.max_height)
        )
    full[vb, ub] = np.where(ok, best, -1)
    return full


def _upsample_mask(mask: np.ndarray, stride: int, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour upsampling of a working-grid bool mask to the height x width image."""
    full = cv2.resize(mask.view(np.uint8), (mask.shape[1] * stride, mask.shape[0] * stride), interpolation=0)
    if full.shape[0] < height or full.shape[1] < width:
        full = cv2.copyMakeBorder(
            full, 0, max(height - full.shape[0], 0), 0, max(width - full.shape[1], 0), cv2.BORDER_REPLICATE
        )
    return full[:height, :width].view(bool)


def _table_mask(
    depth: np.ndarray, intrinsics: Intrinsics, plane: np.ndarray, region: np.ndarray, threshold: float
) -> np.ndarray:
    """HxW bool: pixels of `region` whose back-projected point lies within threshold of the plane.

    The cloud is not built: the height is depth * (n . ray) + d, and n . ray is separable.
    """
    h, w = depth.shape
    a, b, c, d = (np.float32(x) for x in plane)
    ray_u = a * (np.arange(w, dtype=np.float32) - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx)
    ray_v = b * (np.arange(h, dtype=np.float32) - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy) + c
    table = np.zeros((h, w), dtype=bool)
    rows = np.flatnonzero(region.any(axis=1))
    if not len(rows):
        return table
    first, last = rows[0], rows[-1] + 1
    buffer = np.empty((max(1, _BAND_PIXELS // w), w), dtype=np.float32)
    with np.errstate(invalid="ignore"):
        for band in _row_bands(last - first, w):
            band = slice(first + band.start, first + band.stop)
            heights = buffer[: band.stop - band.start]
            np.add(ray_v[band, None], ray_u[None, :], out=heights)
            heights *= depth[band]
            heights += d
            np.less(np.abs(heights, out=heights), threshold, out=table[band])
            table[band] &= region[band]
    return table


def _percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (linear interpolation) of a non-empty 1D array, by partial sorting."""
    pos = q / 100.0 * (len(values) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(values) - 1)
    part = np.partition(values, (lo, hi))
    return float(part[lo]) + (float(part[hi]) - float(part[lo])) * (pos - lo)


def _describe_object(
    frame: RGBDFrame,
    own: np.ndarray,
    box: tuple[slice, slice],
    uvh: np.ndarray,
    plane: np.ndarray,
    basis: np.ndarray,
    config: TabletopConfig,
    mask: np.ndarray,
) -> SegmentedObject:
    """Measure one object from its image mask `own` (the part of the frame inside box) and the in-plane
    coordinates and heights (uvh, Nx3) of the points that measure it; `mask` (HxW, all False) receives own
    and becomes the object's mask."""
    mask8 = own.view(np.uint8)
    moments = cv2.moments(mask8, binaryImage=True)
    count = moments["m00"]
    us_any, vs_any = np.flatnonzero(own.any(axis=0)), np.flatnonzero(own.any(axis=1))
    v0, u0 = box[0].start, box[1].start
    x, y = pixel_to_normalized(u0 + moments["m10"] / count, v0 + moments["m01"] / count, frame.width, frame.height)
    mean_rgb = cv2.mean(frame.rgb[box], mask=mask8)
    height = _percentile(uvh[:, 2], config.height_percentile)
    (cx, cy), (sx, sy), _ = cv2.minAreaRect(np.ascontiguousarray(uvh[:, :2]))
    normal = plane[:3]
    centre = -plane[3] * normal + cx * basis[0] + cy * basis[1] + 0.5 * height * normal
    centre_base = transform_points(frame.T_base_camera, centre) if frame.T_base_camera is not None else None
    mask[box] = own
    return SegmentedObject(
        id=-1,
        mask=mask,
        bbox_2d=(int(u0 + us_any[0]), int(v0 + vs_any[0]), int(u0 + us_any[-1]), int(v0 + vs_any[-1])),
        pixel_count=int(round(count)),
        center_2d=(float(x), float(y)),
        centroid_camera=centre,
        extent=np.array([max(sx, sy), min(sx, sy), height]),
        height_m=height,
        centroid_base=centre_base,
        mean_rgb=(int(round(mean_rgb[0])), int(round(mean_rgb[1])), int(round(mean_rgb[2]))),
    )


def segment_tabletop(frame: RGBDFrame, config: TabletopConfig | None = None) -> TabletopScene:
    """Find the table plane of an RGB-D frame and segment the objects standing on it.

    Raises ValueError when the frame has no depth image or no table plane can be found.
    """
    config = config or TabletopConfig()
    if frame.depth is None:
        raise ValueError("tabletop segmentation needs depth, but this frame has no depth image")
    rng = np.random.default_rng(config.seed)
    full_h, full_w = frame.height, frame.width
    stride = _working_stride(full_h, full_w)
    offset = stride // 2
    cloud, xyz = _working_cloud(frame.depth, frame.intrinsics, stride, config)
    valid = np.flatnonzero(~np.isnan(xyz[2]))
    if len(valid) * stride**2 < max(100, config.plane_sample_size // 10):
        raise ValueError(f"no table plane found: only about {len(valid) * stride**2} valid depth points in range")

    up = None
    if frame.T_base_camera is not None:
        up = frame.T_base_camera[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    plane = _find_table_plane(xyz.reshape(3, -1), valid, config, up, rng)
    normal = plane[:3]
    basis = _plane_basis(normal)
    # In-plane coordinates and height above the table of every working pixel.
    uvh = cv2.transform(cloud, np.vstack([np.c_[basis, np.zeros(2)], plane]).astype(np.float32))
    heights = np.ascontiguousarray(uvh[..., 2])
    with np.errstate(invalid="ignore"):
        inliers = np.abs(heights) < config.plane_distance_threshold
        above = (heights > config.min_height) & (heights < config.max_height)
    table_blob, hull = _table_region(uvh, inliers)
    above[above] = _ConvexRegion.of(hull, config.table_margin).contains(uvh[above])

    # A working pixel stands for stride x stride image pixels: pixel counts and radii shrink.
    work = replace(
        config,
        min_object_pixels=int(np.ceil(config.min_object_pixels / stride**2)),
        veil_merge_radius=int(np.ceil(config.veil_merge_radius / stride)),
        grow_steps=int(np.ceil(config.grow_steps / stride)),
    )
    labels = np.full(cloud.shape[:2], -1, dtype=np.int32)
    kept: list[tuple[float, tuple[slice, slice], np.ndarray, np.ndarray]] = []  # centre, box, mask, points
    if above.any():
        # Work on the bounding box of the candidate pixels, with room for the veil merge and the growth.
        rows, cols = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
        pad = max(work.veil_merge_radius, work.grow_steps) + 2
        crop = (
            slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, labels.shape[0])),
            slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, labels.shape[1])),
        )
        with np.errstate(invalid="ignore"):
            low = (heights[crop] > config.grow_min_height) & (heights[crop] <= config.min_height)
        rgb = frame.rgb[offset::stride, offset::stride][crop]
        veil = _working_veil(frame.depth, crop, stride, frame.intrinsics, config)
        seg, measure = _segment_components(xyz[:, crop[0], crop[1]], rgb, above[crop], low, veil, work, stride)
        uvh_crop = uvh[crop]
        claimed = seg >= 0
        table_crop = inliers[crop]
        support = _ConvexRegion.of(hull, -config.support_inset)
        for k, box in enumerate(ndimage.find_objects(seg + 1)):
            if box is None:
                continue
            own = seg[box] == k
            points = uvh_crop[box][measure[box] & own]
            if len(points) < 3 or _percentile(points[:, 2], config.height_percentile) < config.min_object_height:
                continue
            if support.contains(points).mean() < config.min_supported_fraction:
                continue
            if config.fill_holes:
                # Holes take neither other objects' pixels nor table points seen through the object (the
                # table inside a ring, through a handle), only what the depth missed or set apart.
                own = _fill_holes(own) & (own | ~(claimed[box] | table_crop[box]))
                claimed[box] |= own
            working_box = (
                slice(crop[0].start + box[0].start, crop[0].start + box[0].stop),
                slice(crop[1].start + box[1].start, crop[1].start + box[1].stop),
            )
            kept.append((working_box[1].start + working_box[1].stop, working_box, own, points))
        # Working ids go left to right already, so that the final ids (by full-resolution centre) seldom
        # need renumbering.
        kept.sort(key=lambda item: item[0])
        for k, (_, box, own, _) in enumerate(kept):
            labels[box][own] = k

    if stride == 1:
        full = labels
    else:
        full = _upsample_labels(labels, xyz, frame.depth, frame.intrinsics, plane, stride, config)
    hw, ww = labels.shape
    objects: list[SegmentedObject] = []
    # One zeroed block for all the masks: its pages are only materialised where a mask is set.
    masks = np.zeros((len(kept), full_h, full_w), dtype=bool)
    for k, (_, box, _, points) in enumerate(kept):
        # An image pixel takes its label from the corners of its working cell: object k's pixels lie within
        # one working pixel of its working box (or out to the image border).
        image_box = (
            slice(max(box[0].start - 1, 0) * stride, full_h if box[0].stop + 1 >= hw else (box[0].stop + 1) * stride),
            slice(max(box[1].start - 1, 0) * stride, full_w if box[1].stop + 1 >= ww else (box[1].stop + 1) * stride),
        )
        own = full[image_box] == k
        if own.any():
            objects.append(_describe_object(frame, own, image_box, points, plane, basis, config, masks[k]))
            objects[-1].id = k

    # Ids go left to right (then top to bottom); the label image follows.
    objects.sort(key=lambda o: (o.center_2d[0], o.center_2d[1]))
    lut = np.full(len(kept) + 1, -1, dtype=np.int32)  # label -1 maps to the last entry
    for i, obj in enumerate(objects):
        lut[obj.id] = i
        obj.id = i
    if not np.array_equal(lut[:-1], np.arange(len(kept))):
        full = lut[full]

    region = table_blob if stride == 1 else _upsample_mask(table_blob, stride, full_h, full_w)
    table = _table_mask(frame.depth, frame.intrinsics, plane, region, config.plane_distance_threshold)
    table &= full < 0
    return TabletopScene(
        plane=TablePlane(
            coefficients=plane,
            inlier_mask=table,
            coefficients_base=None if frame.T_base_camera is None else transform_plane(frame.T_base_camera, plane),
            boundary_camera=-plane[3] * normal + hull @ basis,
        ),
        objects=objects,
        labels=full,
    )
