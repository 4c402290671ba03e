"""Which perceived objects a motion planner must avoid during a grasp or a place.

Objects are anything with ``centroid_base`` (3, base frame, or None when the camera pose is unknown) and
``extent`` (length, width, height), like :class:`~spacetools_ros.perception.tabletop.SegmentedObject`. The footprint
of such an object is only known up to its yaw, so "over an object" means within its bounding circle,
0.5 * hypot(length, width), plus FOOTPRINT_MARGIN_M.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

FOOTPRINT_MARGIN_M = 0.01
HELD_RADIUS_M = 0.10  # an object this close (horizontally) to the TCP is the one in the hand


def _over(obj: Any, point: np.ndarray, margin: float = FOOTPRINT_MARGIN_M) -> bool:
    """Whether point (base frame) lies horizontally within the object's bounding circle."""
    centre = np.asarray(obj.centroid_base, dtype=float)
    radius = 0.5 * float(np.hypot(*np.asarray(obj.extent, dtype=float)[:2])) + margin
    return float(np.linalg.norm(centre[:2] - np.asarray(point, dtype=float)[:2])) <= radius


def _posed(objects: Iterable[Any]) -> list[Any]:
    return [o for o in objects if getattr(o, "centroid_base", None) is not None]


def grasp_obstacles(objects: Iterable[Any], grasp_position: Sequence[float]) -> list[Any]:
    """Every object but the one being grasped (the nearest one whose footprint holds the grasp point)."""
    objects = _posed(objects)
    point = np.asarray(grasp_position, dtype=float)
    targets = [o for o in objects if _over(o, point)]
    target = min(targets, key=lambda o: float(np.linalg.norm(np.asarray(o.centroid_base)[:2] - point[:2])),
                 default=None)
    return [o for o in objects if o is not target]


def place_obstacles(objects: Iterable[Any], place_point: Sequence[float], tcp_position: Sequence[float]) -> list[Any]:
    """Every object but the support the object goes onto or into (footprint holding the place point) and the
    object in the hand (near the TCP)."""
    tcp = np.asarray(tcp_position, dtype=float)
    return [o for o in _posed(objects)
            if not _over(o, place_point)
            and float(np.linalg.norm(np.asarray(o.centroid_base)[:2] - tcp[:2])) > HELD_RADIUS_M]
