"""The SpaceTools paper's metrics (see ../shared/notes/spacetools-protocol.md, "Scoring used in the paper").

Pure functions of parsed values; parsing model text is answers.py's job. Coordinates are the protocol's
normalised image coordinates: x right, y down, both in [0, 1], (0, 0) the top-left corner of the image.

Pixel convention (the one spacetools_ros.frames.geometry uses: pixel centres at (u + 0.5) / W): pixel
(u, v) of a W x H mask covers the *closed* square [u / W, (u + 1) / W] x [v / H, (v + 1) / H]. A region
is the union of the squares of its mask's non-zero pixels, so its border is the outline of those squares,
and a point on that border (e.g. x exactly u / W on the left edge of the region's leftmost pixel, or a
corner shared with a region pixel) counts as inside. A tolerance of BORDER_EPS_PX (in pixels) absorbs
floating-point rounding of x * W.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from spacetools_ros.eval.answers import Point

BORDER_EPS_PX = 1e-6
SQRT2 = math.sqrt(2.0)
NNDC_RATE = 5.0
_NNDC_FLOOR = math.exp(-NNDC_RATE * SQRT2)
BOX_CORNERS = 8
GRASP_POINTS = 5
NCE_CAP = 10.0  # the BOP-ASK scorer caps the normalised contact error at 10 gripper widths
# MACE as a score in [0, 100] (higher is better, as the notes' "success = MACE > 40" needs):
#   mace = 100 * max(0, 1 - nce / MACE_ZERO_NCE)
# MACE_ZERO_NCE = 10/3 puts the notes' success threshold MACE > 40 exactly at nce < 2.0, the success rule of
# the released SpaceTools (Toolshed) BOP-ASK evaluator. The paper's own formula was not found; see grasp_mace.
MACE_ZERO_NCE = 10.0 / 3.0
MACE_SUCCESS = 40.0


# --------------------------------------------------------------------------------------------- exact match


def yes_no_match(predicted: bool | None, gold: bool) -> float:
    """1.0 when the parsed yes/no answer equals the gold one, else 0.0 (None, i.e. no answer, is wrong)."""
    return 1.0 if predicted is not None and predicted == gold else 0.0


def choice_match(predicted: str | None, gold: str) -> float:
    """1.0 when the parsed option letter equals the gold letter (case-insensitive), else 0.0."""
    return 1.0 if predicted is not None and predicted.upper() == gold.upper() else 0.0


def count_match(predicted: int | None, gold: int) -> float:
    """1.0 when the parsed count equals the gold count exactly, else 0.0."""
    return 1.0 if predicted is not None and int(predicted) == int(gold) else 0.0


# --------------------------------------------------------------------------------------------- pointing


def _as_mask(region: np.ndarray) -> np.ndarray:
    mask = np.asarray(region)
    if mask.ndim == 3:
        mask = mask.any(axis=2)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"region mask must be a non-empty HxW array, got shape {mask.shape}")
    return mask.astype(bool, copy=False)


def point_in_region(point: Point, region: np.ndarray) -> bool:
    """Whether the normalised point lies in the region (the union of its non-zero pixels' closed squares).

    A point on the region's border counts as inside (see the module docstring); points outside the image,
    NaN or inf never hit.
    """
    mask = _as_mask(region)
    x, y = float(point[0]), float(point[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        return False
    h, w = mask.shape
    px, py = x * w, y * h
    # pixel u contains px when u - eps <= px <= u + 1 + eps
    u0, u1 = max(math.ceil(px - 1 - BORDER_EPS_PX), 0), min(math.floor(px + BORDER_EPS_PX), w - 1)
    v0, v1 = max(math.ceil(py - 1 - BORDER_EPS_PX), 0), min(math.floor(py + BORDER_EPS_PX), h - 1)
    if u0 > u1 or v0 > v1:
        return False
    return bool(mask[v0:v1 + 1, u0:u1 + 1].any())


def distance_to_region(point: Point, region: np.ndarray) -> float:
    """Euclidean distance, in normalised image coordinates, from the point to the nearest point of the region
    (0 inside or on the border; inf for an empty region or a non-finite point). Its largest value inside the
    image is the diagonal, sqrt(2)."""
    mask = _as_mask(region)
    x, y = float(point[0]), float(point[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        return math.inf
    if point_in_region((x, y), mask):
        return 0.0
    vs, us = np.nonzero(mask)
    if us.size == 0:
        return math.inf
    h, w = mask.shape
    dx = np.maximum(np.maximum(us / w - x, x - (us + 1) / w), 0.0)
    dy = np.maximum(np.maximum(vs / h - y, y - (vs + 1) / h), 0.0)
    return float(np.sqrt(dx * dx + dy * dy).min())


def nndc(distance: float) -> float:
    """The SpaceTools pointing reward for a normalised distance d to the region:
    (e^(-5d) - e^(-5*sqrt2)) / (1 - e^(-5*sqrt2)), i.e. 1 at d = 0 and 0 at d = sqrt(2), kept in [0, 1]."""
    if not math.isfinite(distance):
        return 0.0
    value = (math.exp(-NNDC_RATE * max(distance, 0.0)) - _NNDC_FLOOR) / (1.0 - _NNDC_FLOOR)
    return min(max(value, 0.0), 1.0)


def point_reward(point: Point, region: np.ndarray) -> float:
    """nndc(distance to the region), clipped below by the binary hit: 1.0 on a hit."""
    if point_in_region(point, region):
        return 1.0
    return nndc(distance_to_region(point, region))


def pointing_scores(points: Sequence[Point], region: np.ndarray) -> dict[str, float]:
    """{"hit": fraction of the points inside the region, "nndc": mean point_reward}; both 0 for no points.

    One point (the usual answer) scores 0 or 1; with several, each point counts equally (RefSpatial-Bench's
    convention), so an answer cannot win by scattering points.
    """
    if not points:
        return {"hit": 0.0, "nndc": 0.0}
    hits = [point_in_region(p, region) for p in points]
    rewards = [1.0 if hit else point_reward(p, region) for p, hit in zip(points, hits, strict=True)]
    return {"hit": float(np.mean(hits)), "nndc": float(np.mean(rewards))}


def polygon_mask(polygon: Sequence[Point], width: int, height: int) -> np.ndarray:
    """HxW bool mask of the pixels whose centre ((u + 0.5) / W, (v + 0.5) / H) lies inside a polygon given
    in normalised coordinates, by the even-odd (ray casting) rule the RoboSpatial-Home evaluator uses; how a
    polygon answer becomes a region."""
    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros((height, width), dtype=bool)
    if len(pts) < 3 or not np.all(np.isfinite(pts)):
        return inside
    xs = (np.arange(width) + 0.5) / width
    ys = ((np.arange(height) + 0.5) / height)[:, None]
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        if y0 == y1:
            continue  # a horizontal edge never crosses a horizontal ray
        crosses = (y0 > ys) != (y1 > ys)  # H x 1: rows whose ray the edge spans
        x_cross = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)  # H x 1
        inside ^= crosses & (xs[None, :] < x_cross)
    return inside


# --------------------------------------------------------------------------------------------- 3D boxes


def convex_hull(points: Sequence[Point]) -> np.ndarray:
    """The convex hull of 2D points as a counter-clockwise (in x-right, y-up terms) vertex array (K x 2);
    an empty array when the points span no area (fewer than 3, all coincident or collinear)."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3 or not np.all(np.isfinite(pts)):
        return np.zeros((0, 2))
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):
        return np.zeros((0, 2))
    return pts[hull.vertices]


def polygon_area(polygon: np.ndarray) -> float:
    """Area of a simple polygon (shoelace formula); 0 for fewer than 3 vertices."""
    if len(polygon) < 3:
        return 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def clip_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """The intersection of two convex polygons (both counter-clockwise vertex arrays), by Sutherland-Hodgman
    clipping of subject against each edge of clip; an empty array when they do not overlap."""
    output = [np.asarray(p, dtype=np.float64) for p in subject]
    n = len(clip)
    for i in range(n):
        a, b = clip[i], clip[(i + 1) % n]
        points, output = output, []
        if not points:
            break
        previous = points[-1]
        for current in points:
            inside_now, inside_before = _cross(a, b, current) >= 0, _cross(a, b, previous) >= 0
            if inside_now:
                if not inside_before:
                    output.append(_segment_cross(previous, current, a, b))
                output.append(current)
            elif inside_before:
                output.append(_segment_cross(previous, current, a, b))
            previous = current
    return np.array(output) if output else np.zeros((0, 2))


def _segment_cross(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where segment p-q crosses the line through a and b (the caller knows it does)."""
    dp, dl = q - p, b - a
    denominator = dp[0] * dl[1] - dp[1] * dl[0]
    if abs(denominator) < 1e-18:
        return q.copy()
    t = ((a[0] - p[0]) * dl[1] - (a[1] - p[1]) * dl[0]) / denominator
    return p + t * dp


def hull_iou(predicted: Sequence[Point], gold: Sequence[Point]) -> float:
    """IoU in [0, 1] of the convex hulls of two point sets (0 when either hull has no area)."""
    a, b = convex_hull(predicted), convex_hull(gold)
    area_a, area_b = polygon_area(a), polygon_area(b)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter = polygon_area(clip_convex(a, b))
    union = area_a + area_b - inter
    return float(min(max(inter / union, 0.0), 1.0)) if union > 0 else 0.0


def box_iou_x100(predicted: Sequence[Point], gold: Sequence[Point]) -> float:
    """The BOP-ASK 3D pose score: 100 x IoU of the convex hulls of the 8 projected box corners; 0 unless both
    sides have exactly 8 points."""
    if len(predicted) != BOX_CORNERS or len(gold) != BOX_CORNERS:
        return 0.0
    return 100.0 * hull_iou(predicted, gold)


# --------------------------------------------------------------------------------------------- grasps


def mirrored_grasp(points: Sequence[Point]) -> list[Point]:
    """The same physical parallel-jaw grasp with its fingers named the other way round (left and right
    swapped): center, right base, left base, right tip, left tip."""
    c, lb, rb, lt, rt = points
    return [c, rb, lb, rt, lt]


def gripper_width(gold: Sequence[Point]) -> float:
    """The gold grasp's width in normalised image units: |left finger base - right finger base|."""
    (x0, y0), (x1, y1) = gold[1], gold[2]
    return math.hypot(x1 - x0, y1 - y0)


def grasp_nce(predicted: Sequence[Point] | None, gold: Sequence[Point]) -> float:
    """Normalised contact error: the mean distance between the 5 predicted and gold gripper points (center,
    left/right base, left/right tip), divided by the gold gripper width, taking the smaller of the grasp as
    named and its mirror (a grasp with left and right swapped is the same grasp); lower is better, 0 is
    perfect, capped at NCE_CAP (also what a missing or malformed grasp gets).

    Raises ValueError when the gold grasp is not 5 points or has zero width (a dataset error, not the model's).
    """
    if len(gold) != GRASP_POINTS:
        raise ValueError(f"a gold grasp has 5 points, got {len(gold)}")
    width = gripper_width(gold)
    if not width > 0:
        raise ValueError("the gold grasp has zero width (its left and right finger bases coincide)")
    if predicted is None or len(predicted) != GRASP_POINTS:
        return NCE_CAP
    g = np.asarray(gold, dtype=np.float64)
    best = math.inf
    for candidate in (list(predicted), mirrored_grasp(predicted)):
        p = np.asarray(candidate, dtype=np.float64)
        if not np.all(np.isfinite(p)):
            return NCE_CAP
        best = min(best, float(np.linalg.norm(p - g, axis=1).mean()) / width)
    return min(best, NCE_CAP)


def grasp_mace(nce: float) -> float:
    """The grasp score in [0, 100], higher is better: 100 * max(0, 1 - nce / MACE_ZERO_NCE).

    The notes give "MACE over 5 gripper points normalised by gripper width; success = MACE > 40"; success
    above a threshold makes MACE a score, not an error. The paper's exact mapping from the normalised error
    to that score could not be confirmed; this linear one is 100 for a perfect grasp, reaches 0 at
    MACE_ZERO_NCE gripper widths and crosses 40 at nce = 2.0, the success rule of the released SpaceTools
    BOP-ASK evaluator (score < 2.0), so both definitions of success agree.
    """
    return 100.0 * max(0.0, 1.0 - nce / MACE_ZERO_NCE)


def grasp_success(mace: float) -> bool:
    """Success as the notes define it: MACE > 40."""
    return mace > MACE_SUCCESS
