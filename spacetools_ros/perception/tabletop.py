"""Classical tabletop segmentation: fit the table plane, then segment what stands on it.

Pipeline (vectorised numpy/scipy/OpenCV, no per-pixel Python loops):

1. Back-project the depth image into an organised camera-frame cloud; keep depths in range.
2. Table plane: RANSAC on a random subsample, hypotheses restricted to roughly horizontal planes when
   T_base_camera is known and to planes facing the camera otherwise; up to ``max_planes`` candidates are
   extracted one after the other. The table is the best-supported candidate, unless a parallel candidate
   well above it (a table above the floor) has comparable support. Least-squares refinement on inliers.
3. Table extent: convex hull, on the plane, of the largest image-connected blob of plane inliers.
4. Candidate pixels: between ``min_height`` and ``max_height`` above the plane, with their foot on the
   plane inside the table extent (so furniture, floor, walls and other tables are left out).
5. Segmentation of the candidates as an organised cloud. "Veil" pixels, whose surface runs almost along
   the viewing ray (the smeared depth edge between an object and whatever is behind it, or a surface seen
   edge-on), are set aside; the rest is split into connected components of the 4-neighbour pixel graph,
   neighbours being joined when their 3D distance is below a depth-dependent threshold. Segments that face
   each other across a veil band, are close in 3D and alike in colour are merged (one object broken at
   its own rim); small segments are dropped; the kept segments then grow into the veil pixels, small
   fragments and low pixels (just under ``min_height``) they are 3D-connected to.
6. Objects lower than ``min_object_height`` or not standing on the table (most of their footprint outside
   the table extent) are dropped; enclosed holes are filled; each object is measured with a table-aligned
   box (minimum-area footprint rectangle and a robust height).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import connected_components

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.frames.geometry import (
    backproject_depth,
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
        fill_holes: fill holes enclosed by an object's mask (pixels not claimed by another object).
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


def _orient_towards_origin(normal: np.ndarray, d: float) -> tuple[np.ndarray, float]:
    return (normal, d) if d >= 0 else (-normal, -d)


def _ransac_plane(
    points: np.ndarray,
    rng: np.random.Generator,
    config: TabletopConfig,
    up: np.ndarray | None,
) -> tuple[np.ndarray, int] | None:
    """Best-supported plane among random 3-point hypotheses passing the orientation prior."""
    idx = rng.integers(0, len(points), size=(config.plane_iterations, 3))
    a, b, c = points[idx[:, 0]], points[idx[:, 1]], points[idx[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1)
    keep = norms > 1e-9
    normals, a = normals[keep] / norms[keep, None], a[keep]
    d = -np.einsum("ij,ij->i", normals, a)
    flip = d < 0
    normals[flip] *= -1
    d[flip] *= -1
    if up is not None:
        keep = normals @ up >= np.cos(np.radians(config.max_tilt_deg))
    else:
        # n . (camera - a) / |a| = d / |a|: cosine between the normal and the direction to the camera.
        keep = d / np.maximum(np.linalg.norm(a, axis=1), 1e-9) >= np.cos(
            np.radians(config.max_view_angle_deg)
        )
    if not keep.any():
        return None
    normals, d = normals[keep].astype(np.float32), d[keep].astype(np.float32)
    counts = (np.abs(points @ normals.T + d) < config.plane_distance_threshold).sum(axis=0)
    best = int(np.argmax(counts))
    return np.append(normals[best], d[best]).astype(np.float64), int(counts[best])


def _signed(points: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Signed distances of float32 points (Nx3) to the plane, in float32."""
    return points @ plane[:3].astype(np.float32) + np.float32(plane[3])


def _refine_plane(points: np.ndarray, plane: np.ndarray, threshold: float, rounds: int = 2) -> np.ndarray:
    """Least-squares (total) refit of the plane on its inliers, a few rounds."""
    for _ in range(rounds):
        inliers = points[np.abs(_signed(points, plane)) < threshold]
        if len(inliers) < 3:
            break
        centroid = inliers.mean(axis=0, dtype=np.float64)
        q = inliers.astype(np.float64) - centroid
        _, vecs = np.linalg.eigh(q.T @ q)
        normal = vecs[:, 0]
        if normal @ plane[:3] < 0:
            normal = -normal
        plane = np.append(normal, -normal @ centroid)
    normal, d = _orient_towards_origin(plane[:3], float(plane[3]))
    return np.append(normal, d)


def _find_table_plane(
    points: np.ndarray, config: TabletopConfig, up: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Coefficients (camera frame) of the table plane among up to max_planes RANSAC candidates."""
    threshold = config.plane_distance_threshold
    sample = points[rng.choice(len(points), size=min(len(points), config.plane_sample_size), replace=False)]
    min_support = max(3, int(config.min_plane_fraction * len(sample)))
    remaining = sample
    candidates: list[tuple[np.ndarray, int]] = []
    for _ in range(config.max_planes):
        if len(remaining) < min_support:
            break
        found = _ransac_plane(remaining, rng, config, up)
        if found is None:
            break
        plane = _refine_plane(sample, found[0], threshold)
        support = int((np.abs(_signed(sample, plane)) < threshold).sum())
        if support < min_support:
            break
        candidates.append((plane, support))
        # A band wider than the inlier threshold is removed so that the noise tails of this plane cannot
        # form a slightly tilted "next" plane.
        band = 2.5 * threshold
        remaining = remaining[np.abs(_signed(remaining, plane)) >= band]
    if not candidates:
        prior = "roughly horizontal in the base frame" if up is not None else "facing the camera"
        raise ValueError(
            f"no table plane found: no plane {prior} has {config.min_plane_fraction:.0%} of the "
            f"{len(sample)} sampled valid points within {threshold} m"
        )
    best_plane, best_support = max(candidates, key=lambda c: c[1])
    cos_parallel = np.cos(np.radians(config.parallel_angle_deg))
    chosen, chosen_height = best_plane, 0.0
    for plane, support in candidates:
        if support < config.min_relative_support * best_support or plane[:3] @ best_plane[:3] < cos_parallel:
            continue
        height = float(np.mean(_signed(sample[np.abs(_signed(sample, plane)) < threshold], best_plane)))
        if height >= config.min_plane_separation and height > chosen_height:
            chosen, chosen_height = plane, height
    return _refine_plane(points, chosen, threshold)


def _plane_basis(normal: np.ndarray) -> np.ndarray:
    """2x3 orthonormal in-plane axes: the camera x axis (or y) made orthogonal to the normal, then n x e1."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = ref - (ref @ normal) * normal
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(normal, e1)])


def _table_region(
    cloud: np.ndarray, inliers: np.ndarray, basis: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Largest connected blob of plane inliers (HxW bool) and its convex hull on the plane (Kx2, CCW)."""
    count, blobs, stats, _ = cv2.connectedComponentsWithStats(inliers.astype(np.uint8), connectivity=8)
    if count < 2:
        raise ValueError("no table plane found: the plane has no inlier pixels")
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    blob = blobs == largest
    pts = cloud[blob]
    if len(pts) > 50000:
        pts = pts[rng.choice(len(pts), size=50000, replace=False)]
    uv = (pts.astype(np.float64) @ basis.T).astype(np.float32)
    hull = cv2.convexHull(uv).reshape(-1, 2).astype(np.float64)
    area2 = np.sum(hull[:, 0] * np.roll(hull[:, 1], -1) - np.roll(hull[:, 0], -1) * hull[:, 1])
    if area2 < 0:
        hull = hull[::-1]
    return blob, hull


def _inside_polygon(uv: np.ndarray, hull: np.ndarray, margin: float) -> np.ndarray:
    """Whether 2D points (Nx2) lie inside the convex CCW polygon grown by margin (mitred corners)."""
    if len(hull) < 3:
        return np.zeros(len(uv), dtype=bool)
    edges = np.roll(hull, -1, axis=0) - hull
    outward = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-12)
    offsets = np.einsum("ij,ij->i", outward, hull) + margin
    return np.all(uv @ outward.T <= offsets, axis=1)


def _veil_pixels(cloud: np.ndarray, mask: np.ndarray, max_angle_deg: float) -> np.ndarray:
    """HxW bool: masked pixels where the row or column central difference runs nearly along the ray."""
    veil = np.zeros(mask.shape, dtype=bool)
    if max_angle_deg <= 0:
        return veil
    sin_max = np.sin(np.radians(max_angle_deg))
    for centre, before, after in (
        ((slice(None), slice(1, -1)), (slice(None), slice(None, -2)), (slice(None), slice(2, None))),
        ((slice(1, -1), slice(None)), (slice(None, -2), slice(None)), (slice(2, None), slice(None))),
    ):
        sel = mask[centre]
        p = cloud[centre][sel]
        step = cloud[after][sel] - cloud[before][sel]
        ray = p / np.linalg.norm(p, axis=1, keepdims=True)
        # NaN neighbours (invalid depth) compare False: no evidence of a veil in that direction.
        with np.errstate(invalid="ignore"):
            steep = np.linalg.norm(np.cross(step, ray), axis=1) < sin_max * np.linalg.norm(step, axis=1)
        veil[centre][sel] |= steep
    return veil


def _join_threshold(z: np.ndarray, config: TabletopConfig) -> np.ndarray:
    return config.cluster_distance + config.cluster_distance_per_metre * z


def _cluster(cloud: np.ndarray, mask: np.ndarray, config: TabletopConfig) -> tuple[np.ndarray, int]:
    """Connected components of the masked organised cloud (HxW int32 labels, -1 outside) and their count."""
    h, w = mask.shape
    index = np.full((h, w), -1, dtype=np.int64)
    n = int(mask.sum())
    index[mask] = np.arange(n)
    threshold = _join_threshold(cloud[..., 2], config)
    rows, cols = [], []
    for sl_a, sl_b in (
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
    ):
        pair = mask[sl_a] & mask[sl_b]
        gap = np.linalg.norm(cloud[sl_a][pair] - cloud[sl_b][pair], axis=1)
        close = gap < np.minimum(threshold[sl_a][pair], threshold[sl_b][pair])
        rows.append(index[sl_a][pair][close])
        cols.append(index[sl_b][pair][close])
    i, j = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    count, comp = connected_components(graph, directed=False)
    labels = np.full((h, w), -1, dtype=np.int32)
    labels[mask] = comp
    return labels, count


def _label_pairs(labels: np.ndarray, cloud: np.ndarray, through: np.ndarray, radius: int) -> np.ndarray:
    """Pairs of labels facing each other across `through` pixels.

    Pixel pairs at most radius apart, with different labels (>= 0) and the pixel halfway between them in
    `through`, are collected. Returns a Kx4 float array: label a, label b (a < b), the number of such pixel
    pairs, and the smallest 3D distance between the two pixels of one of them.
    """
    h, w = labels.shape
    reach = (radius + 1) // 2
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near = cv2.dilate(through.astype(np.uint8), kernel).astype(bool) & (labels >= 0)
    av, au = np.nonzero(near)
    la = labels[av, au]
    span = int(labels.max()) + 1  # a label pair (a, b) is keyed a * span + b
    found, gaps = [], []
    for dv in range(radius + 1):
        for du in range(-radius, radius + 1):
            if (dv == 0 and du <= 0) or dv * dv + du * du > radius * radius:
                continue
            bv, bu = av + dv, au + du
            inside = (bv < h) & (bu >= 0) & (bu < w)
            sa = np.flatnonzero(inside)
            lb = labels[bv[sa], bu[sa]]
            mid = through[av[sa] + dv // 2, au[sa] + int(du / 2)]
            ok = (lb >= 0) & (lb != la[sa]) & mid
            if ok.any():
                sa, lb = sa[ok], lb[ok]
                found.append(np.minimum(la[sa], lb).astype(np.int64) * span + np.maximum(la[sa], lb))
                gaps.append(np.linalg.norm(cloud[av[sa], au[sa]] - cloud[bv[sa], bu[sa]], axis=1))
    if not found:
        return np.zeros((0, 4))
    keys, inverse, counts = np.unique(np.concatenate(found), return_inverse=True, return_counts=True)
    closest = np.full(len(keys), np.inf)
    np.minimum.at(closest, inverse, np.concatenate(gaps))
    return np.column_stack([keys // span, keys % span, counts, closest])


def _merge_across_veils(
    labels: np.ndarray,
    count: int,
    cloud: np.ndarray,
    rgb: np.ndarray,
    veil: np.ndarray,
    config: TabletopConfig,
) -> np.ndarray:
    """Labels after merging segments facing each other across a veil band, close and alike in colour."""
    pairs = _label_pairs(labels, cloud, veil, config.veil_merge_radius)
    pairs = pairs[(pairs[:, 2] >= 3) & (pairs[:, 3] < config.veil_merge_gap)]
    if not len(pairs):
        return labels
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    core = labels >= 0
    seg = labels[core]
    colours = rgb[core].astype(np.float64)
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
    graph = sparse.coo_matrix((np.ones(int(similar.sum())), (a[similar], b[similar])), shape=(count, count))
    _, root = connected_components(graph, directed=False)
    merged = labels.copy()
    merged[core] = root[seg]
    return merged


def _grow_labels(
    labels: np.ndarray, cloud: np.ndarray, allowed: np.ndarray, config: TabletopConfig
) -> np.ndarray:
    """Grow labelled regions into `allowed` pixels, one 4-neighbour ring per step (at most grow_steps),
    across neighbours closer in 3D than the joining threshold; a pixel reached by two regions at once takes
    the larger label."""
    h, w = labels.shape
    vv, uu = np.nonzero(allowed)
    n = len(vv)
    neighbours = np.full((n, 4), -1, dtype=np.int64)
    for k, (dv, du) in enumerate(((0, 1), (0, -1), (1, 0), (-1, 0))):
        nv, nu = vv + dv, uu + du
        inside = (nv >= 0) & (nv < h) & (nu >= 0) & (nu < w)
        nv, nu = nv[inside], nu[inside]
        gap = np.linalg.norm(cloud[vv[inside], uu[inside]] - cloud[nv, nu], axis=1)
        close = gap < _join_threshold(cloud[vv[inside], uu[inside], 2], config)
        rows = np.flatnonzero(inside)[close]
        neighbours[rows, k] = nv[close] * w + nu[close]
    flat = labels.ravel().copy()
    own = vv * w + uu
    linked = neighbours >= 0
    for _ in range(config.grow_steps):
        pending = flat[own] < 0
        if not pending.any():
            break
        reached = np.where(linked[pending], flat[np.maximum(neighbours[pending], 0)], -1).max(axis=1)
        if not (reached >= 0).any():
            break
        flat[own[pending]] = reached
    return flat.reshape(h, w)


def _segment_components(
    cloud: np.ndarray, rgb: np.ndarray, above: np.ndarray, low: np.ndarray, config: TabletopConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Object labels (HxW int32, -1 none, 0..K-1) of the above-table pixels, and the mask of the pixels
    whose 3D points measure the objects (veil pixels excluded).

    Veil pixels are set aside and the rest is clustered; segments facing each other across a veil band
    are merged when close and alike in colour; segments of at least min_object_pixels are kept; the kept
    segments then grow into the veil pixels, small fragments and `low` pixels they are 3D-connected to.
    """
    veil = _veil_pixels(cloud, above, config.veil_angle_deg)
    labels, count = _cluster(cloud, above & ~veil, config)
    if count == 0:
        return labels, labels >= 0
    if config.veil_merge_radius > 0 and veil.any():
        labels = _merge_across_veils(labels, count, cloud, rgb, veil, config)
    core = labels >= 0
    sizes = np.bincount(labels[core], minlength=count)
    big = sizes >= config.min_object_pixels
    anchor = core & big[np.maximum(labels, 0)]
    if not anchor.any():
        return np.full(labels.shape, -1, dtype=np.int32), anchor
    new_id = np.where(big, np.cumsum(big) - 1, -1).astype(np.int32)
    result = np.where(anchor, new_id[np.maximum(labels, 0)], -1).astype(np.int32)
    loose = (above | low) & ~anchor
    if loose.any() and config.grow_steps > 0:
        result = _grow_labels(result, cloud, loose, config)
    return result, anchor


def _describe_object(
    frame: RGBDFrame,
    mask: np.ndarray,
    box: tuple[slice, slice],
    points: np.ndarray,
    heights: np.ndarray,
    plane: np.ndarray,
    basis: np.ndarray,
    config: TabletopConfig,
) -> SegmentedObject:
    """Measure one object from its full-frame mask (inside box) and the camera-frame points (and their
    heights above the table) that measure it."""
    vs, us = np.nonzero(mask[box])
    vs, us = vs + box[0].start, us + box[1].start
    height = float(np.percentile(heights, config.height_percentile))
    (cx, cy), (sx, sy), _ = cv2.minAreaRect((points.astype(np.float64) @ basis.T).astype(np.float32))
    normal = plane[:3]
    centre = -plane[3] * normal + cx * basis[0] + cy * basis[1] + 0.5 * height * normal
    centre_base = transform_points(frame.T_base_camera, centre) if frame.T_base_camera is not None else None
    x, y = pixel_to_normalized(us.mean(), vs.mean(), frame.width, frame.height)
    mean_rgb = frame.rgb[vs, us].mean(axis=0)
    return SegmentedObject(
        id=-1,
        mask=mask,
        bbox_2d=(int(us.min()), int(vs.min()), int(us.max()), int(vs.max())),
        pixel_count=int(len(us)),
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
    cloud = backproject_depth(frame.depth, frame.intrinsics)
    z = cloud[..., 2]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(z) & (z >= config.min_depth) & (z <= config.max_depth)
    points = cloud[valid]
    if len(points) < max(100, config.plane_sample_size // 10):
        raise ValueError(f"no table plane found: only {len(points)} valid depth points in range")

    up = None
    if frame.T_base_camera is not None:
        up = frame.T_base_camera[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    plane = _find_table_plane(points, config, up, rng)
    normal = plane[:3]

    heights = np.full(z.shape, np.nan, dtype=np.float32)
    heights[valid] = _signed(points, plane)
    with np.errstate(invalid="ignore"):
        inliers = valid & (np.abs(heights) < config.plane_distance_threshold)
        above = valid & (heights > config.min_height) & (heights < config.max_height)
    basis = _plane_basis(normal)
    table_blob, hull = _table_region(cloud, inliers, basis, rng)
    above[above] = _inside_polygon(cloud[above].astype(np.float64) @ basis.T, hull, config.table_margin)

    labels = np.full(z.shape, -1, dtype=np.int32)
    objects: list[SegmentedObject] = []
    if above.any():
        # Work on the bounding box of the candidate pixels, with room for the veil merge and the growth.
        rows, cols = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
        pad = max(config.veil_merge_radius, config.grow_steps) + 2
        crop = (
            slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, z.shape[0])),
            slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, z.shape[1])),
        )
        with np.errstate(invalid="ignore"):
            low = (
                valid[crop] & (heights[crop] > config.grow_min_height) & (heights[crop] <= config.min_height)
            )
        seg, measure = _segment_components(cloud[crop], frame.rgb[crop], above[crop], low, config)
        claimed = seg >= 0
        for k, box in enumerate(ndimage.find_objects(seg + 1)):
            if box is None:
                continue
            own = seg[box] == k
            sel = measure[box] & own
            pts, hts = cloud[crop][box][sel], heights[crop][box][sel]
            if len(pts) < 3 or np.percentile(hts, config.height_percentile) < config.min_object_height:
                continue
            feet = pts.astype(np.float64) @ basis.T
            if _inside_polygon(feet, hull, -config.support_inset).mean() < config.min_supported_fraction:
                continue
            if config.fill_holes:
                own = ndimage.binary_fill_holes(own) & (own | ~claimed[box])
                claimed[box] |= own
            mask = np.zeros(z.shape, dtype=bool)
            full_box = (
                slice(crop[0].start + box[0].start, crop[0].start + box[0].stop),
                slice(crop[1].start + box[1].start, crop[1].start + box[1].stop),
            )
            mask[full_box] = own
            objects.append(_describe_object(frame, mask, full_box, pts, hts, plane, basis, config))

    objects.sort(key=lambda o: (o.center_2d[0], o.center_2d[1]))
    for i, obj in enumerate(objects):
        obj.id = i
        labels[obj.mask & (labels < 0)] = i

    table = TablePlane(
        coefficients=plane,
        inlier_mask=table_blob & (labels < 0),
        coefficients_base=None
        if frame.T_base_camera is None
        else transform_plane(frame.T_base_camera, plane),
        boundary_camera=-plane[3] * normal + hull @ basis,
    )
    return TabletopScene(plane=table, objects=objects, labels=labels)
