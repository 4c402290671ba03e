"""Mask comparisons shared by the segmentation benchmarks and their tests."""

from __future__ import annotations

import numpy as np


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def centroid_pixel(mask: np.ndarray) -> tuple[int, int]:
    """(v, u): the pixel at the mask's centroid, or the mask pixel nearest to it when the centroid falls
    outside the mask."""
    vs, us = np.nonzero(mask)
    v, u = int(round(vs.mean())), int(round(us.mean()))
    if not mask[v, u]:
        k = int(np.argmin((vs - vs.mean()) ** 2 + (us - us.mean()) ** 2))
        v, u = int(vs[k]), int(us[k])
    return v, u
