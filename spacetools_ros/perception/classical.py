"""Classical (model-free) segmentation and depth backends, and the bundle of backends the tools use."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.frames.geometry import normalized_to_pixel
from spacetools_ros.perception.backends import BackendError, DepthBackend, PointingBackend, SegmentationBackend
from spacetools_ros.perception.grasp import GraspConfig
from spacetools_ros.perception.grounding import ClassicalGrounding
from spacetools_ros.perception.scene_cache import SceneCache
from spacetools_ros.perception.tabletop import TabletopConfig

SNAP_FRACTION = 0.015  # a point this close (fraction of the image diagonal) to an object counts as on it


class ClassicalSegmentation(SegmentationBackend):
    """The object under the points, from the table segmentation of the frame's depth and colour."""

    def __init__(self, cache: SceneCache) -> None:
        self.cache = cache

    def segment(self, frame: RGBDFrame, points: np.ndarray) -> tuple[np.ndarray, float]:
        """Mask of the object most of the points fall on; score = the fraction of points on it."""
        labels = self.cache.get(frame).scene.labels
        h, w = labels.shape
        u, v = normalized_to_pixel(points[:, 0], points[:, 1], w, h)
        u = np.clip(np.rint(u).astype(int), 0, w - 1)
        v = np.clip(np.rint(v).astype(int), 0, h - 1)
        hits = labels[v, u]
        radius = max(2, int(SNAP_FRACTION * np.hypot(h, w)))
        for k in np.nonzero(hits < 0)[0]:  # a point just beside an object (mask border) snaps to it
            v0, v1, u0, u1 = max(v[k] - radius, 0), v[k] + radius + 1, max(u[k] - radius, 0), u[k] + radius + 1
            window = labels[v0:v1, u0:u1]
            if (window >= 0).any():
                ys, xs = np.nonzero(window >= 0)
                nearest = np.argmin((ys + v0 - v[k]) ** 2 + (xs + u0 - u[k]) ** 2)
                hits[k] = window[ys[nearest], xs[nearest]]
        on_objects = hits[hits >= 0]
        if on_objects.size == 0:
            raise BackendError("no object under the given point(s): they fall on the table or the background")
        ids, counts = np.unique(on_objects, return_counts=True)
        best = int(ids[np.argmax(counts)])
        return labels == best, float(counts.max() / len(hits))


class SensorDepth(DepthBackend):
    """The frame's own (sensor) depth; RGB-only frames need a depth model."""

    def estimate(self, frame: RGBDFrame) -> tuple[np.ndarray, float]:
        """(depth in metres with NaN where invalid, fx)."""
        if frame.depth is None:
            raise BackendError("this image has no sensor depth and no depth model is configured "
                               "(set models.depth in the configuration to use one)")
        depth = np.where(frame.valid_depth_mask(), frame.depth, np.nan).astype(np.float32)
        return depth, float(frame.intrinsics.fx)


@dataclass
class PerceptionBackends:
    """What the perception tools call: pointing, segmentation and depth backends, grasp settings."""

    pointing: PointingBackend
    segmentation: SegmentationBackend
    depth: DepthBackend
    cache: SceneCache
    grasp: GraspConfig = field(default_factory=GraspConfig)


def classical_backends(tabletop: TabletopConfig | None = None, grasp: GraspConfig | None = None) -> PerceptionBackends:
    """The embedded defaults: no GPU, no weights."""
    cache = SceneCache(tabletop)
    return PerceptionBackends(ClassicalGrounding(cache), ClassicalSegmentation(cache), SensorDepth(), cache,
                              grasp or GraspConfig())
