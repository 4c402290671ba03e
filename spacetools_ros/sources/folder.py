"""Frames from a folder of recorded RGB-D images.

Two layouts are read (those of the recorded data users commonly have):
- "pairs": NNNNNN-color.png + NNNNNN-depth.png (16-bit millimetres) with the intrinsics in
  camera_params.json (fx, fy, x_offset, y_offset) or meta.yml (INTRINSICS: 9 numbers);
- "scene": rgb.png + depth.npy (float32 metres) + meta_data.json (intrinsics 3x3,
  optional camera_pose = T_base_camera 4x4).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import yaml

from spacetools_ros.frames.frame import DEFAULT_BASE_FRAME_ID, Intrinsics, RGBDFrame
from spacetools_ros.sources.base import FrameSource, FrameSourceError


def read_rgb(path: Path) -> np.ndarray:
    """Read a colour image as uint8 HxWx3 RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FrameSourceError(f"cannot read colour image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_depth_png(path: Path, depth_scale: float) -> np.ndarray:
    """Read a 16-bit depth PNG as float32 metres (value * depth_scale)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 2:
        raise FrameSourceError(f"cannot read single-channel depth image {path}")
    return raw.astype(np.float32) * np.float32(depth_scale)


def _pairs_intrinsics(folder: Path, width: int, height: int) -> Intrinsics:
    params = folder / "camera_params.json"
    if params.exists():
        p = json.loads(params.read_text())
        return Intrinsics(p["fx"], p["fy"], p["x_offset"], p["y_offset"], width, height)
    meta = folder / "meta.yml"
    if meta.exists():
        k = yaml.safe_load(meta.read_text())["INTRINSICS"]
        return Intrinsics.from_matrix(k, width, height)
    raise FrameSourceError(f"{folder} has colour/depth pairs but neither camera_params.json nor meta.yml")


class FolderSource(FrameSource):
    """Reads every frame of a recorded folder in name order, once (or forever with loop=True)."""

    def __init__(self, path: str | Path, depth_scale: float = 0.001, loop: bool = False) -> None:
        self.path = Path(path)
        self.depth_scale = depth_scale
        self.loop = loop
        self._index = 0
        if not self.path.is_dir():
            raise FrameSourceError(f"frame folder {self.path} does not exist")
        self._colour_files = sorted(self.path.glob("*-color.png"))
        self._scene = (self.path / "rgb.png").exists()
        if not self._colour_files and not self._scene:
            raise FrameSourceError(
                f"{self.path} holds no frames: expected NNNNNN-color.png/-depth.png pairs "
                "or rgb.png + depth.npy + meta_data.json"
            )

    def __len__(self) -> int:
        return 1 if self._scene else len(self._colour_files)

    def read(self, timeout: float | None = None) -> RGBDFrame | None:
        """The next frame in name order; None after the last unless looping."""
        if self._index >= len(self):
            if not self.loop:
                return None
            self._index = 0
        frame = self.frame_at(self._index)
        self._index += 1
        return frame

    def frame_at(self, index: int) -> RGBDFrame:
        """The frame with the given index in name order."""
        if self._scene:
            return self._read_scene()
        colour = self._colour_files[index]
        rgb = read_rgb(colour)
        depth_path = colour.with_name(colour.name.replace("-color.png", "-depth.png"))
        depth = read_depth_png(depth_path, self.depth_scale) if depth_path.exists() else None
        h, w = rgb.shape[:2]
        return RGBDFrame(
            rgb=rgb,
            depth=depth,
            intrinsics=_pairs_intrinsics(self.path, w, h),
            stamp=float(index),
            metadata={"source": str(colour)},
        )

    def _read_scene(self) -> RGBDFrame:
        rgb = read_rgb(self.path / "rgb.png")
        h, w = rgb.shape[:2]
        meta_path = self.path / "meta_data.json"
        if not meta_path.exists():
            raise FrameSourceError(f"{self.path} has rgb.png but no meta_data.json with intrinsics")
        meta = json.loads(meta_path.read_text())
        depth_path = self.path / "depth.npy"
        depth = np.load(depth_path).astype(np.float32) if depth_path.exists() else None
        pose = meta.get("camera_pose")
        return RGBDFrame(
            rgb=rgb,
            depth=depth,
            intrinsics=Intrinsics.from_matrix(meta["intrinsics"], w, h),
            T_base_camera=np.asarray(pose, dtype=np.float64) if pose is not None else None,
            base_frame_id=meta.get("base_frame_id", DEFAULT_BASE_FRAME_ID),
            metadata={"source": str(self.path)},
        )
