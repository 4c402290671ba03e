"""Checks of tool arguments that JSON types cannot express: point ranges, mask and cloud shapes."""

from __future__ import annotations

import re

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.tools.base import ToolContext, ToolError


def normalized_points(points, name: str = "points", dims: int = 2) -> np.ndarray:
    """Kxdims float array of a list of points; 2D points must lie in [0, 1]."""
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ToolError(f"{name} must be a list of [x, y] numbers") from None
    if array.ndim == 1 and array.size == dims:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dims or len(array) == 0:
        raise ToolError(f"{name} must be a non-empty list of {dims}-number points, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ToolError(f"{name} contains NaN or infinite values")
    if dims == 2 and ((array < 0) | (array > 1)).any():
        raise ToolError(f"{name} must be normalised image coordinates in [0, 1], got {array.round(3).tolist()}")
    return array


def normalized_point(x: float, y: float) -> np.ndarray:
    """A 1x2 array for one point; ToolError outside [0, 1]."""
    return normalized_points([[x, y]], "the point (x, y)")


def mask_array(mask: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """An HxW bool mask (a flat H*W mask is reshaped when shape is given); ToolError if unusable or empty."""
    m = np.asarray(mask)
    if m.dtype != bool and not (np.issubdtype(m.dtype, np.integer) and set(np.unique(m)) <= {0, 1}):
        raise ToolError(f"mask must be a boolean image, got {m.dtype} array of shape {m.shape}")
    if shape is not None and m.ndim == 1 and m.size == shape[0] * shape[1]:
        m = m.reshape(shape)
    if m.ndim != 2:
        raise ToolError(f"mask must be a 2D (HxW) array, got shape {m.shape}")
    if shape is not None and m.shape != tuple(shape):
        raise ToolError(f"mask is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}")
    m = m.astype(bool)
    if not m.any():
        raise ToolError("the mask is empty (no pixel selected)")
    return m


def flat_cloud(point_cloud: np.ndarray) -> np.ndarray:
    """An (H*W)x3 float32 view of a per-pixel cloud given as HxWx3 or (H*W)x3."""
    cloud = np.asarray(point_cloud)
    if cloud.ndim == 3 and cloud.shape[2] == 3:
        cloud = cloud.reshape(-1, 3)
    if cloud.ndim != 2 or cloud.shape[1] != 3 or not np.issubdtype(cloud.dtype, np.floating):
        raise ToolError(f"point_cloud must be a per-pixel Nx3 float array (use $point_cloud), got "
                        f"{cloud.dtype} {cloud.shape}")
    return cloud


def image_matching(ctx: ToolContext, pixels: int) -> RGBDFrame:
    """The newest conversation image with that many pixels (the one a per-pixel array belongs to)."""
    for frame in reversed(ctx.images):
        if frame.width * frame.height == pixels:
            return frame
    sizes = ", ".join(f"{f.width}x{f.height}" for f in ctx.images) or "none"
    raise ToolError(f"no image in the conversation has {pixels} pixels (images: {sizes})")


def per_pixel_grid(ctx: ToolContext, data: np.ndarray) -> tuple[RGBDFrame, np.ndarray]:
    """(image, HxW[xC] array) for a per-pixel array given as HxW[xC] or (H*W)[xC]."""
    array = np.asarray(data)
    if array.ndim == 0 or array.dtype == object:
        raise ToolError(f"data must be a per-pixel array variable, got {array.dtype} of shape {array.shape}")
    for frame in reversed(ctx.images):
        if array.shape[:2] == (frame.height, frame.width):
            return frame, array
        if array.shape[0] == frame.height * frame.width:
            return frame, array.reshape(frame.height, frame.width, *array.shape[1:])
    raise ToolError(f"data of shape {array.shape} is not a per-pixel array of any image in the conversation")


def variable_name(phrase: str) -> str:
    """A $variable-safe name from a phrase: 'the red cup' -> 'the_red_cup'."""
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")[:48] or "object"


def fmt_points(points: np.ndarray) -> str:
    """Points as the protocol writes them: [(0.412, 0.633), ...]."""
    return "[" + ", ".join("(" + ", ".join(f"{c:.3f}" for c in p) + ")" for p in np.asarray(points)) + "]"
