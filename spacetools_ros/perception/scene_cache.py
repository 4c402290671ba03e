"""Per-frame perception results shared by the classical backends, computed once per frame."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.frames.geometry import backproject_depth
from spacetools_ros.perception.attributes import ObjectAttributes, describe
from spacetools_ros.perception.backends import BackendError
from spacetools_ros.perception.tabletop import TabletopConfig, TabletopScene, segment_tabletop


@dataclass
class FramePerception:
    """A frame's organised cloud (HxWx3, NaN invalid), table scene, and object attributes (lazy)."""

    cloud: np.ndarray
    scene: TabletopScene
    _attributes: list[ObjectAttributes] | None = None

    def attributes(self, rgb: np.ndarray) -> list[ObjectAttributes]:
        """Colour, shape, size and an interior point of every object (computed on first use)."""
        if self._attributes is None:
            self._attributes = [describe(o, rgb, self.cloud, self.scene.plane) for o in self.scene.objects]
        return self._attributes


class SceneCache:
    """Keeps the perception of the last few frames, keyed by frame identity."""

    def __init__(self, config: TabletopConfig | None = None, size: int = 4) -> None:
        self.config = config
        self.size = size
        self._entries: OrderedDict[int, tuple[RGBDFrame, FramePerception]] = OrderedDict()

    def get(self, frame: RGBDFrame) -> FramePerception:
        """The frame's perception; BackendError when it has no depth or no table."""
        key = id(frame)
        if key in self._entries and self._entries[key][0] is frame:
            self._entries.move_to_end(key)
            return self._entries[key][1]
        if frame.depth is None:
            raise BackendError("this image has no depth; the classical perception needs an RGB-D frame")
        try:
            scene = segment_tabletop(frame, self.config)
        except ValueError as exc:
            raise BackendError(str(exc)) from None
        result = FramePerception(backproject_depth(frame.depth, frame.intrinsics), scene)
        self._entries[key] = (frame, result)  # holding the frame keeps its id from being reused
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return result
