"""Describable attributes of segmented objects: colour names, coarse shape category, an interior point."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from spacetools_ros.frames.geometry import pixel_to_normalized
from spacetools_ros.perception.tabletop import SegmentedObject, TablePlane

# hue ranges on OpenCV's 0..179 scale, for pixels that are saturated and bright enough
_HUES = {"red": [(0, 8), (170, 180)], "orange": [(8, 20)], "yellow": [(20, 35)], "green": [(35, 80)],
         "teal": [(80, 95)], "blue": [(95, 130)], "purple": [(130, 150)], "pink": [(150, 170)]}
_LIGHT_V = 180  # reds brighter than this read as pink (coral, salmon)
COLOUR_NAMES = (*_HUES, "white", "black", "gray", "brown")
COLOUR_SYNONYMS = {"grey": "gray", "cyan": "teal", "turquoise": "teal", "violet": "purple", "magenta": "pink",
                   "salmon": "pink", "navy": "blue", "silver": "gray", "gold": "yellow", "tan": "brown",
                   "beige": "brown", "maroon": "red"}
SHAPES = ("box", "cylinder", "bowl", "cup", "bottle")
# shapes a single view easily confuses with the asked one: they still qualify, at a lower score
_SIMILAR_SHAPES = {"cup": {"cylinder", "bowl"}, "bowl": {"cup", "cylinder"}, "cylinder": {"cup", "bottle"},
                   "bottle": {"cylinder"}, "box": set()}


def shape_match(asked: str, seen: str) -> float:
    """1 for the asked shape, 0.9 for one a single view confuses with it, 0.6 otherwise."""
    if asked == seen:
        return 1.0
    return 0.9 if seen in _SIMILAR_SHAPES.get(asked, set()) else 0.6


def colour_fractions(rgb_pixels: np.ndarray) -> dict[str, float]:
    """Fraction of the pixels (Nx3 uint8 RGB) that look like each colour name."""
    if len(rgb_pixels) == 0:
        return dict.fromkeys(COLOUR_NAMES, 0.0)
    hsv = cv2.cvtColor(rgb_pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int32)
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    chromatic = (s >= 70) & (v >= 60)
    hue = {}
    for name, ranges in _HUES.items():
        hue[name] = np.zeros(len(h), dtype=bool)
        for lo, hi in ranges:
            hue[name] |= (h >= lo) & (h < hi)
    light_red = hue["red"] & (v >= _LIGHT_V)
    out = {name: float(np.mean(chromatic & in_hue)) for name, in_hue in hue.items()}
    out["red"] = float(np.mean(chromatic & hue["red"] & ~light_red))
    out["pink"] = float(np.mean(chromatic & (hue["pink"] | light_red)))
    # brown: dark, moderately saturated orange/red hues
    out["brown"] = float(np.mean((s >= 60) & (v >= 30) & (v < 150) & ((h < 20) | (h >= 170))))
    out["white"] = float(np.mean((s < 45) & (v >= 170)))
    out["black"] = float(np.mean(v < 55))
    out["gray"] = float(np.mean((s < 45) & (v >= 55) & (v < 170)))
    return out


def interior_point(mask: np.ndarray) -> tuple[float, float]:
    """The normalised point deepest inside the mask (farthest from its border): surely on the object."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("empty mask")
    v0, v1, u0, u1 = ys.min(), ys.max(), xs.min(), xs.max()
    crop = np.pad(mask[v0:v1 + 1, u0:u1 + 1].astype(np.uint8), 1)
    dist = cv2.distanceTransform(crop, cv2.DIST_L2, 3)
    v, u = np.unravel_index(int(np.argmax(dist)), dist.shape)
    x, y = pixel_to_normalized(u0 + u - 1, v0 + v - 1, mask.shape[1], mask.shape[0])
    return float(x), float(y)


@dataclass
class ObjectAttributes:
    """What a referring expression can say about one object."""

    obj: SegmentedObject
    colours: dict[str, float]
    shape: str
    volume: float
    point: tuple[float, float]
    opening: tuple[float, float] | None = None  # hollow objects (bowl, cup): the middle of the inside bottom

    @property
    def colour(self) -> str:
        """The dominant colour name."""
        return max(self.colours, key=self.colours.get)


BELOW_TABLE_M = 0.02  # points further below the table plane than this (depth noise) belong to no object on it


def _footprint(obj: SegmentedObject, cloud: np.ndarray, plane: TablePlane) -> tuple | None:
    """The object's finite points (Nx3), their heights above the table, their footprint on the plane (Nx2), the
    footprint rectangle (centre, (w, h), angle) and a keep mask over the mask's pixels; None for < 10 points."""
    points = cloud[obj.mask]
    keep = np.isfinite(points).all(axis=1)
    normal = plane.normal
    heights = np.full(len(points), -np.inf)
    heights[keep] = points[keep] @ normal + plane.coefficients[3]
    keep &= heights > -BELOW_TABLE_M  # a mask pixel seeing the floor past the table's edge is not the object
    points, height = points[keep], heights[keep]
    if len(points) < 10:
        return None
    a = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(normal, a)
    foot = np.stack([points @ a, points @ b], 1).astype(np.float32)
    return points, height, foot, cv2.minAreaRect(foot), keep


def shape_category(obj: SegmentedObject, cloud: np.ndarray, plane: TablePlane) -> str:
    """Coarse shape from geometry: bowl, cup, bottle, cylinder (cans) or box.

    Uses the footprint (points seen from above the table), the height-to-width ratio and whether
    the top is hollow (the middle of the footprint lower than its rim).
    """
    found = _footprint(obj, cloud, plane)
    if found is None:
        return "box"
    points, height, foot, (centre, (rw, rh), _), _ = found
    hull_area = cv2.contourArea(cv2.convexHull(foot))
    fill = hull_area / max(rw * rh, 1e-9)
    width = max(rw, rh)
    tall = obj.height_m / max(width, 1e-6)
    # the rectangle's centre, not the points' mean: visible points crowd on the side facing the camera
    radial = np.linalg.norm(foot - np.asarray(centre, dtype=np.float32), axis=1)
    inner = radial < 0.3 * width / 2
    hollow = inner.sum() >= 5 and np.median(height[inner]) < 0.6 * obj.height_m
    if hollow and tall < 0.6:
        return "bowl"
    if tall > 1.6 and fill < 0.93:
        return "bottle"
    if hollow:
        return "cup"
    return "box" if fill >= 0.9 else "cylinder"


def opening_point(obj: SegmentedObject, cloud: np.ndarray, plane: TablePlane) -> tuple[float, float] | None:
    """The normalised point of a hollow object (bowl, cup) at the middle of its opening: the visible point lower
    than half its height that lies nearest (on the table plane) to its footprint's centre, i.e. the middle of the
    inside bottom, where something put into it goes. None when no such point is seen."""
    found = _footprint(obj, cloud, plane)
    if found is None:
        return None
    _, height, foot, (centre, _, _), keep = found
    low = height < 0.5 * obj.height_m
    if not low.any():
        return None
    radial = np.linalg.norm(foot - np.asarray(centre, dtype=np.float32), axis=1)
    best = int(np.argmin(np.where(low, radial, np.inf)))
    vs, us = np.nonzero(obj.mask)
    v, u = vs[keep][best], us[keep][best]
    x, y = pixel_to_normalized(u, v, obj.mask.shape[1], obj.mask.shape[0])
    return float(x), float(y)


def describe(obj: SegmentedObject, frame_rgb: np.ndarray, cloud: np.ndarray, plane: TablePlane) -> ObjectAttributes:
    """Colours, shape, box volume, an interior point of one segmented object, and for a bowl or a cup the point
    in the middle of its opening (where things are put in)."""
    shape = shape_category(obj, cloud, plane)
    opening = opening_point(obj, cloud, plane) if shape in ("bowl", "cup") else None
    return ObjectAttributes(obj=obj, colours=colour_fractions(frame_rgb[obj.mask]), shape=shape,
                            volume=float(np.prod(obj.extent)), point=interior_point(obj.mask), opening=opening)
