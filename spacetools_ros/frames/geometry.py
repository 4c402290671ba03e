"""Camera geometry: back-projection, projection and rigid transforms (all vectorised)."""

from __future__ import annotations

import numpy as np

from spacetools_ros.frames.frame import Intrinsics, RGBDFrame


def backproject_depth(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Organised HxWx3 float32 point cloud in the OpenCV camera frame (NaN where depth is invalid)."""
    h, w = depth.shape
    d = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float32)
    u = (np.arange(w, dtype=np.float32) - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx)
    v = (np.arange(h, dtype=np.float32) - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy)
    cloud = np.empty((h, w, 3), dtype=np.float32)
    cloud[..., 0] = d * u[None, :]
    cloud[..., 1] = d * v[:, None]
    cloud[..., 2] = d
    return cloud


def frame_to_organized_cloud(frame: RGBDFrame) -> np.ndarray:
    """The frame's organised HxWx3 camera-frame cloud; raises when the frame has no depth."""
    if frame.depth is None:
        raise ValueError("this frame has no depth image")
    return backproject_depth(frame.depth, frame.intrinsics)


def frame_to_points(frame: RGBDFrame) -> tuple[np.ndarray, np.ndarray]:
    """Valid points (Nx3 float32, camera frame) and their colours (Nx3 uint8)."""
    cloud = frame_to_organized_cloud(frame)
    valid = frame.valid_depth_mask()
    return cloud[valid], frame.rgb[valid]


def project_points(points: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Pixel coordinates (Nx2, u right, v down) of camera-frame points (Nx3, z > 0)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    z = p[:, 2]
    return np.stack([intrinsics.fx * p[:, 0] / z + intrinsics.cx, intrinsics.fy * p[:, 1] / z + intrinsics.cy], 1)


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply the 4x4 rigid transform T to Nx3 (or ...x3) points."""
    p = np.asarray(points)
    return p @ T[:3, :3].T + T[:3, 3]


def top_down_pose(x: float, y: float, z: float, closing_yaw: float = 0.0) -> np.ndarray:
    """A 4x4 base-frame TCP pose at (x, y, z) approaching straight down (its z = -z of the base), the fingers
    closing along the base-frame direction at closing_yaw (its y axis)."""
    y_axis = np.array([np.cos(closing_yaw), np.sin(closing_yaw), 0.0])
    z_axis = np.array([0.0, 0.0, -1.0])
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = np.cross(y_axis, z_axis), y_axis, z_axis, (x, y, z)
    return T


def transform_plane(T: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Express plane (a, b, c, d) with a*x+b*y+c*z+d=0 in the frame T maps into."""
    n = T[:3, :3] @ plane[:3]
    d = plane[3] - n @ T[:3, 3]
    return np.array([*n, d])


def pixel_to_normalized(u: np.ndarray | float, v: np.ndarray | float, width: int, height: int):
    """Pixel coordinates (pixel centres at integers) to the protocol's [0, 1] image coordinates."""
    return (np.asarray(u) + 0.5) / width, (np.asarray(v) + 0.5) / height


def normalized_to_pixel(x: np.ndarray | float, y: np.ndarray | float, width: int, height: int):
    """The protocol's [0, 1] image coordinates to pixel coordinates (inverse of pixel_to_normalized)."""
    return np.asarray(x) * width - 0.5, np.asarray(y) * height - 0.5
