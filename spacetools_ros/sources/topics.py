"""Camera topic names and the pairing of colour, depth and camera_info into frames.

Shared by the bag source, the live-topic source and the nodes, so that every place that speaks
realsense2_camera topic names and assembles frames does it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.ros.conversions import (
    camera_info_to_intrinsics,
    image_msg_to_depth,
    image_msg_to_rgb,
    stamp_to_seconds,
)


@dataclass(frozen=True)
class CameraTopics:
    """The four topics of an RGB-D camera; defaults are realsense2_camera's (align_depth on)."""

    color: str = "/camera/camera/color/image_raw"
    depth: str = "/camera/camera/aligned_depth_to_color/image_raw"
    color_info: str = "/camera/camera/color/camera_info"
    depth_info: str = "/camera/camera/aligned_depth_to_color/camera_info"

    @classmethod
    def under(cls, namespace: str) -> CameraTopics:
        """The realsense2_camera topic names under another camera namespace (e.g. /wrist/camera)."""
        ns = "/" + namespace.strip("/")
        return cls(
            color=f"{ns}/color/image_raw",
            depth=f"{ns}/aligned_depth_to_color/image_raw",
            color_info=f"{ns}/color/camera_info",
            depth_info=f"{ns}/aligned_depth_to_color/camera_info",
        )


class FrameAssembler:
    """Pairs colour and depth images (by stamp, within `slop` seconds) with the latest colour camera_info.

    Feed messages as they arrive with add_color / add_depth / add_info; take_frame() returns the
    newest complete frame (or None). Keeps only a few recent images of each kind.
    """

    def __init__(self, slop: float = 0.02, keep: int = 4, T_base_camera: np.ndarray | None = None,
                 base_frame_id: str = "base_link") -> None:
        self.slop = slop
        self.keep = keep
        self.T_base_camera = T_base_camera
        self.base_frame_id = base_frame_id
        self._colors: list = []
        self._depths: list = []
        self._info = None
        self._last_stamp: float | None = None
        self._cached: tuple[tuple, RGBDFrame] | None = None  # the last frame and the messages it was made of

    def add_color(self, msg) -> None:
        """A colour Image arrived."""
        self._colors = (self._colors + [msg])[-self.keep:]

    def add_depth(self, msg) -> None:
        """A depth Image (aligned to colour) arrived."""
        self._depths = (self._depths + [msg])[-self.keep:]

    def add_info(self, msg) -> None:
        """The colour camera's CameraInfo arrived."""
        self._info = msg

    def take_frame(self, allow_repeat: bool = False) -> RGBDFrame | None:
        """The newest colour image with a depth image within slop, as a frame; None if none is complete.

        A frame already returned is not returned again unless allow_repeat.
        """
        if self._info is None or not self._colors:
            return None
        for color in reversed(self._colors):
            t = stamp_to_seconds(color.header.stamp)
            if not allow_repeat and self._last_stamp is not None and t <= self._last_stamp:
                return None
            depth = self._closest_depth(t)
            if depth is None:
                continue
            self._last_stamp = t
            key = (color, depth, self._info)
            if self._cached is None or any(a is not b for a, b in zip(self._cached[0], key, strict=True)):
                self._cached = (key, messages_to_frame(color, depth, self._info, self.T_base_camera,
                                                       self.base_frame_id))
            return self._cached[1]
        return None

    def _closest_depth(self, t: float):
        best, best_dt = None, self.slop
        for depth in self._depths:
            dt = abs(stamp_to_seconds(depth.header.stamp) - t)
            if dt <= best_dt:
                best, best_dt = depth, dt
        return best


def messages_to_frame(color_msg, depth_msg, info_msg, T_base_camera: np.ndarray | None = None,
                      base_frame_id: str = "base_link") -> RGBDFrame:
    """An RGBDFrame from colour, aligned depth and colour camera_info messages."""
    rgb = image_msg_to_rgb(color_msg)
    depth = image_msg_to_depth(depth_msg) if depth_msg is not None else None
    intrinsics = camera_info_to_intrinsics(info_msg)
    return RGBDFrame(
        rgb=rgb,
        depth=depth,
        intrinsics=intrinsics,
        T_base_camera=T_base_camera,
        stamp=stamp_to_seconds(color_msg.header.stamp),
        frame_id=color_msg.header.frame_id or "camera_color_optical_frame",
        base_frame_id=base_frame_id,
    )
