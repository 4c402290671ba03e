"""The RGB-D frame type shared by every layer: sources produce it, tools consume it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_CAMERA_FRAME_ID = "camera_color_optical_frame"
DEFAULT_BASE_FRAME_ID = "base_link"


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image (pixels); distortion is assumed already removed."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx} fy={self.fy}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    @classmethod
    def from_matrix(cls, k: np.ndarray | list, width: int, height: int) -> Intrinsics:
        """Build from a 3x3 (or flat 9-element) camera matrix."""
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), int(width), int(height))

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The intrinsics of the same camera with the image resized to width x height."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)


@dataclass
class RGBDFrame:
    """One colour image with registered depth.

    rgb is uint8 HxWx3; depth is float32 HxW metres, where 0 or NaN marks an invalid pixel.
    T_base_camera (4x4) maps camera-frame points to the robot base frame when known.
    stamp is seconds (float) in the source's clock.
    """

    rgb: np.ndarray
    depth: np.ndarray | None
    intrinsics: Intrinsics
    T_base_camera: np.ndarray | None = None
    stamp: float = 0.0
    frame_id: str = DEFAULT_CAMERA_FRAME_ID
    base_frame_id: str = DEFAULT_BASE_FRAME_ID
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rgb = np.asarray(self.rgb)
        if self.rgb.dtype != np.uint8 or self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(f"rgb must be uint8 HxWx3, got {self.rgb.dtype} {self.rgb.shape}")
        h, w = self.rgb.shape[:2]
        if self.depth is not None:
            self.depth = np.asarray(self.depth, dtype=np.float32)
            if self.depth.shape != (h, w):
                raise ValueError(f"depth shape {self.depth.shape} does not match rgb {(h, w)}")
        if (self.intrinsics.width, self.intrinsics.height) != (w, h):
            raise ValueError(
                f"intrinsics are for {self.intrinsics.width}x{self.intrinsics.height}, image is {w}x{h}"
            )
        if self.T_base_camera is not None:
            self.T_base_camera = np.asarray(self.T_base_camera, dtype=np.float64)
            if self.T_base_camera.shape != (4, 4):
                raise ValueError(f"T_base_camera must be 4x4, got {self.T_base_camera.shape}")

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self.rgb.shape[0]

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self.rgb.shape[1]

    @property
    def has_depth(self) -> bool:
        """Whether the frame carries a depth image."""
        return self.depth is not None

    def valid_depth_mask(self) -> np.ndarray:
        """HxW bool: pixels with a finite, positive depth."""
        if self.depth is None:
            return np.zeros((self.height, self.width), dtype=bool)
        d = self.depth
        return np.isfinite(d) & (d > 0)
