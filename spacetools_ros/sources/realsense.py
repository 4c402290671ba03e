"""Frames straight from an Intel RealSense device through pyrealsense2, depth aligned to colour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacetools_ros.frames.frame import Intrinsics, RGBDFrame
from spacetools_ros.sources.base import FrameSource, FrameSourceError


@dataclass(frozen=True)
class RealSenseConfig:
    """Stream settings; serial selects one device when several are attached."""

    width: int = 640
    height: int = 480
    fps: int = 30
    serial: str | None = None
    T_base_camera: tuple[float, ...] | None = None


class RealSenseSource(FrameSource):
    """Colour (rgb8) and depth (z16, aligned to colour with rs.align) from a connected camera."""

    def __init__(self, config: RealSenseConfig | None = None) -> None:
        self.config = config or RealSenseConfig()
        self._pipeline = None
        self._align = None
        self._depth_scale = 0.001
        self._intrinsics: Intrinsics | None = None

    def open(self) -> None:
        """Start streaming; raises FrameSourceError("no RealSense device ...") when none is connected."""
        if self._pipeline is not None:
            return
        try:
            import pyrealsense2 as rs
        except ImportError as exc:
            raise FrameSourceError("pyrealsense2 is not installed (pip install pyrealsense2)") from exc
        devices = rs.context().query_devices()
        if len(devices) == 0:
            raise FrameSourceError("no RealSense device connected (rs.context().query_devices() is empty)")
        cfg = rs.config()
        if self.config.serial:
            cfg.enable_device(self.config.serial)
        c = self.config
        cfg.enable_stream(rs.stream.color, c.width, c.height, rs.format.rgb8, c.fps)
        cfg.enable_stream(rs.stream.depth, c.width, c.height, rs.format.z16, c.fps)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(cfg)
        except RuntimeError as exc:
            raise FrameSourceError(f"cannot start the RealSense streams: {exc}") from exc
        self._depth_scale = profile.get_device().first_depth_sensor().get_depth_scale()
        video = profile.get_stream(rs.stream.color).as_video_stream_profile().intrinsics
        self._intrinsics = Intrinsics(video.fx, video.fy, video.ppx, video.ppy, video.width, video.height)
        self._align = rs.align(rs.stream.color)
        self._pipeline = pipeline

    def close(self) -> None:
        """Stop streaming."""
        if self._pipeline is not None:
            self._pipeline.stop()
        self._pipeline = None

    def read(self, timeout: float | None = None) -> RGBDFrame | None:
        """The next aligned frame; None when none arrives within timeout (default 5 s)."""
        if self._pipeline is None:
            self.open()
        ok, frames = self._pipeline.try_wait_for_frames(int(1000 * (timeout or 5.0)))
        if not ok:
            return None
        aligned = self._align.process(frames)
        color, depth = aligned.get_color_frame(), aligned.get_depth_frame()
        if not color or not depth:
            return None
        rgb = np.asanyarray(color.get_data()).copy()
        depth_m = np.asanyarray(depth.get_data()).astype(np.float32) * np.float32(self._depth_scale)
        T = np.asarray(self.config.T_base_camera, dtype=np.float64).reshape(4, 4) if self.config.T_base_camera else None
        return RGBDFrame(rgb=rgb, depth=depth_m, intrinsics=self._intrinsics, T_base_camera=T,
                         stamp=color.get_timestamp() / 1000.0)
