"""Classical grounding of referring expressions on segmented tabletop objects (no model needed).

Understands colour names, sizes (large/small/tall/short), positions (left/right/front/back,
nearest/farthest, closest to the robot), a coarse shape (box/cube, can/cylinder, bowl, cup, bottle),
relations to another object ("the cube left of the bowl", "the can nearest to the red box": of
the objects the description fits, the nearest one the relation holds for), free space ("an empty spot left of
the bowl") and the inside of a hollow object ("inside the blue bowl": the middle of its opening, where
something put into it goes, instead of a point on the object). Left/right/front/back are from the
camera's point of view, on the table plane. Object names ("the ketchup") need a model backend.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.frames.geometry import pixel_to_normalized
from spacetools_ros.perception.attributes import COLOUR_NAMES, COLOUR_SYNONYMS, ObjectAttributes, shape_match
from spacetools_ros.perception.backends import BackendError, Detection, PointingBackend
from spacetools_ros.perception.scene_cache import FramePerception, SceneCache

SHAPE_WORDS = {
    "box": "box", "boxes": "box", "cube": "box", "cubes": "box", "block": "box", "blocks": "box", "carton": "box",
    "can": "cylinder", "cans": "cylinder", "cylinder": "cylinder", "cylinders": "cylinder", "tin": "cylinder",
    "jar": "cylinder", "bowl": "bowl", "bowls": "bowl", "dish": "bowl", "cup": "cup", "cups": "cup",
    "mug": "cup", "mugs": "cup", "glass": "cup", "bottle": "bottle", "bottles": "bottle",
}
SUPERLATIVES = [
    # (pattern, key, larger_is_better)
    (r"\b(closest|nearest)\b.*\b(robot|arm|base)\b", "robot_distance", False),
    (r"\b(farthest|furthest)\b.*\b(robot|arm|base)\b", "robot_distance", True),
    (r"\b(leftmost|left-most|left most|on the left)\b", "right", False),
    (r"\b(rightmost|right-most|right most|on the right)\b", "right", True),
    (r"\b(largest|biggest|large|big)\b", "volume", True),
    (r"\b(smallest|little|small|tiny)\b", "volume", False),
    (r"\b(tallest|tall|highest)\b", "height", True),
    (r"\b(shortest|lowest|flattest|flat|short)\b", "height", False),
    (r"\b(closest|nearest|front|frontmost|front-most)\b", "camera_distance", False),
    (r"\b(farthest|furthest|back|backmost|rear)\b", "camera_distance", True),
]
RELATIONS = [
    (r"\b(?:to the )?left of\b", "left"), (r"\b(?:to the )?right of\b", "right"),
    (r"\bin front of\b", "front"), (r"\b(?:behind|in back of|at the back of)\b", "behind"),
    # "nearest to the bowl" is a relation; "nearest to the robot" stays a superlative (SUPERLATIVES)
    (r"\b(?:nearest|closest) to\b(?!\s+(?:the\s+)?(?:robot|arm|base|camera)\b)", "near"),
    (r"\b(?:next to|near|beside|close to|by)\b", "near"),
]
MATCH_TOLERANCE = 0.9
"""Objects related to the anchor whose description score is at least this fraction of the best one's (a cylinder
a single view takes for a bottle: 0.9) match equally well, and the nearest to the anchor wins."""
INSIDE = re.compile(r"\b(inside|into|interior)\b")
FREE_SPACE = re.compile(r"\b(empty|free|vacant|clear|open)\b|\b(space|spot|place|area|location|room)\b")
FREE_CLEARANCE_M = 0.06  # a free spot keeps this far from every object point
FREE_OFFSET_M = 0.10  # preferred distance of a free spot from the anchor object's centre


@dataclass
class Reference:
    """A parsed referring expression."""

    colour: str | None = None
    shape: str | None = None
    superlative: tuple[str, bool] | None = None
    relation: str | None = None
    anchor: Reference | None = None
    free_space: bool = False
    inside: bool = False

    @property
    def selective(self) -> bool:
        """Whether the expression says anything that picks among objects."""
        return bool(self.colour or self.shape or self.superlative or self.relation)


def parse_reference(phrase: str) -> Reference:
    """Parse a referring expression (case-insensitive); unknown words are ignored."""
    text = " " + re.sub(r"[^a-z0-9\- ]", " ", phrase.lower()) + " "
    for pattern, relation in RELATIONS:
        match = re.search(pattern, text)
        if match:
            ref = parse_reference(text[: match.start()])
            ref.relation, ref.anchor = relation, parse_reference(text[match.end():])
            return ref
    ref = Reference(free_space=bool(FREE_SPACE.search(text)), inside=bool(INSIDE.search(text)))
    words = text.split()
    for word in words:
        name = COLOUR_SYNONYMS.get(word, word)
        if name in COLOUR_NAMES and ref.colour is None:
            ref.colour = name
        if word in SHAPE_WORDS and ref.shape is None:
            ref.shape = SHAPE_WORDS[word]
    for pattern, key, larger in SUPERLATIVES:
        if re.search(pattern, text):
            ref.superlative = (key, larger)
            break
    return ref


class _Layout:
    """Object positions on the table plane, from the camera's point of view."""

    def __init__(self, frame: RGBDFrame, perception: FramePerception, objects: list[ObjectAttributes]) -> None:
        normal = perception.scene.plane.normal
        right = np.array([1.0, 0.0, 0.0]) - normal[0] * normal  # camera x on the table
        self.right_axis = right / np.linalg.norm(right)
        self.forward_axis = np.cross(normal, self.right_axis)  # away from the camera, on the table
        if self.forward_axis @ np.array([0.0, 0.0, 1.0]) < 0:
            self.forward_axis = -self.forward_axis
        self.frame = frame
        self.objects = objects

    def value(self, attrs: ObjectAttributes, key: str) -> float:
        """The quantity a superlative ranks by."""
        c = attrs.obj.centroid_camera
        if key == "right":
            return float(c @ self.right_axis)
        if key == "volume":
            return attrs.volume
        if key == "height":
            return float(attrs.obj.height_m)
        if key == "camera_distance":
            return float(np.hypot(c @ self.right_axis, c @ self.forward_axis))
        if key == "robot_distance":
            if attrs.obj.centroid_base is not None:
                return float(np.hypot(*attrs.obj.centroid_base[:2]))
            return float(np.linalg.norm(c))
        raise ValueError(key)

    def offset(self, point: np.ndarray, anchor: np.ndarray) -> tuple[float, float]:
        """(right, forward) metres from anchor to point on the table."""
        d = np.asarray(point) - np.asarray(anchor)
        return float(d @ self.right_axis), float(d @ self.forward_axis)


def _satisfies(relation: str, dx: float, dy: float) -> bool:
    if relation == "left":
        return dx < 0 and abs(dx) > 0.5 * abs(dy)
    if relation == "right":
        return dx > 0 and abs(dx) > 0.5 * abs(dy)
    if relation == "front":
        return dy < 0 and abs(dy) > 0.5 * abs(dx)
    if relation == "behind":
        return dy > 0 and abs(dy) > 0.5 * abs(dx)
    return True  # near


class ClassicalGrounding(PointingBackend):
    """PointingBackend over the table segmentation: filters by colour/shape, ranks by size/position."""

    def __init__(self, cache: SceneCache) -> None:
        self.cache = cache

    def detect(self, frame: RGBDFrame, phrase: str, max_results: int) -> list[Detection]:
        """Points on the referred objects (or free spots), best first."""
        perception = self.cache.get(frame)
        objects = perception.attributes(frame.rgb)
        ref = parse_reference(phrase)
        layout = _Layout(frame, perception, objects)
        if ref.free_space:
            return [self._free_spot(ref, perception, layout, phrase)]
        if not objects:
            raise BackendError("no objects found on the table")
        ranked = self._select(ref, objects, layout, phrase)
        return [Detection(a.opening if ref.inside and a.opening is not None else a.point, score, _box(a), a.shape)
                for a, score in ranked[:max(1, max_results)]]

    def _select(self, ref: Reference, objects: list[ObjectAttributes], layout: _Layout,
                phrase: str) -> list[tuple[ObjectAttributes, float]]:
        scored = [(a, 1.0) for a in objects]
        if ref.colour:
            scored = [(a, a.colours[ref.colour]) for a in objects if a.colours[ref.colour] >= 0.15]
            if not scored:
                found = ", ".join(sorted({a.colour for a in objects}))
                raise BackendError(f"no {ref.colour} object found (colours seen: {found})")
        if ref.shape:  # shape from one view is coarse: it weighs the choice rather than filters it
            scored = [(a, s * shape_match(ref.shape, a.shape)) for a, s in scored]
        if ref.relation and ref.anchor is not None:
            anchor = self._select(ref.anchor, objects, layout, phrase)[0][0]
            ac = anchor.obj.centroid_camera
            related = []
            for a, s in scored:
                if a is anchor:
                    continue
                dx, dy = layout.offset(a.obj.centroid_camera, ac)
                if _satisfies(ref.relation, dx, dy):
                    related.append((a, s, math.hypot(dx, dy)))
            if not related:
                raise BackendError(f"nothing {ref.relation} of the {anchor.colour} {anchor.shape} matches '{phrase}'")
            best = max(s for _, s, _ in related)
            scored = [(a, (best if s >= MATCH_TOLERANCE * best else s) / (1.0 + d)) for a, s, d in related]
        if ref.superlative:
            key, larger = ref.superlative
            scored.sort(key=lambda item: layout.value(item[0], key), reverse=larger)
            return [(a, 1.0 if i == 0 else 0.5) for i, (a, _) in enumerate(scored)]
        if not ref.selective and len(scored) > 1:
            raise BackendError(
                f"'{phrase}' could be any of {len(scored)} objects; the classical grounding understands colours, "
                "sizes, positions, shapes (box, can, bowl, cup, bottle) and relations; names need a model backend")
        return sorted(scored, key=lambda item: -item[1])

    def _free_spot(self, ref: Reference, perception: FramePerception, layout: _Layout, phrase: str) -> Detection:
        scene, cloud = perception.scene, perception.cloud
        table = scene.plane.inlier_mask & np.isfinite(cloud[..., 2])
        occupied = scene.labels >= 0
        ys, xs = np.nonzero(table)
        if len(xs) == 0:
            raise BackendError("no visible table surface to place on")
        step = max(1, int(np.sqrt(len(xs) / 4000)))  # a few thousand candidates are plenty
        ys, xs = ys[::step], xs[::step]
        candidates = cloud[ys, xs]
        object_points = cloud[occupied & np.isfinite(cloud[..., 2])][::4]
        if len(object_points):
            from scipy.spatial import cKDTree

            clearance, _ = cKDTree(object_points).query(candidates, distance_upper_bound=1.0)
        else:
            clearance = np.full(len(candidates), 1.0)
        # keep off the table's outer edge too (holes left by objects and shadows do not count as edges)
        z = float(np.nanmedian(candidates[:, 2]))
        radius = FREE_CLEARANCE_M * layout.frame.intrinsics.fx / max(z, 0.1)
        surface = binary_fill_holes(scene.plane.inlier_mask | occupied).astype(np.uint8)
        inner = cv2.distanceTransform(surface, cv2.DIST_L2, 3)[ys, xs] >= radius
        ok = (clearance >= FREE_CLEARANCE_M) & inner
        if ref.relation and ref.anchor is not None:
            objects = perception.attributes(layout.frame.rgb)
            if not objects:
                raise BackendError("no objects on the table to place relative to")
            anchor = self._select(ref.anchor, objects, layout, phrase)[0][0]
            d = candidates - anchor.obj.centroid_camera
            dx, dy = d @ layout.right_axis, d @ layout.forward_axis
            rel = {"left": (dx < 0) & (np.abs(dx) > np.abs(dy)), "right": (dx > 0) & (np.abs(dx) > np.abs(dy)),
                   "front": (dy < 0) & (np.abs(dy) > np.abs(dx)), "behind": (dy > 0) & (np.abs(dy) > np.abs(dx)),
                   "near": np.ones(len(d), bool)}[ref.relation]
            ok &= rel
            cost = np.abs(np.hypot(dx, dy) - (FREE_OFFSET_M + 0.5 * float(np.max(anchor.obj.extent[:2]))))
        else:
            cost = -clearance  # anywhere: the most open spot
        if not ok.any():
            raise BackendError(f"no free spot found for '{phrase}' (keeping {FREE_CLEARANCE_M:.2f} m from objects)")
        best = int(np.argmin(np.where(ok, cost, np.inf)))
        x, y = pixel_to_normalized(xs[best], ys[best], layout.frame.width, layout.frame.height)
        return Detection((float(x), float(y)), float(min(1.0, clearance[best] / 0.2)), None, "free space")


def _box(attrs: ObjectAttributes) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = attrs.obj.to_dict()["bbox_2d_normalized"]
    return x0, y0, x1, y1
