"""Oriented 3D bounding boxes of point sets: upright (about a given up axis) or free (minimal volume)."""

from __future__ import annotations

import cv2
import numpy as np

# corner k has bit 0 -> +x, bit 1 -> +y, bit 2 -> +z half-extent
_SIGNS = np.array([[1 if k & 1 else -1, 1 if k & 2 else -1, 1 if k & 4 else -1] for k in range(8)], dtype=np.float64)
# corner pairs differing in exactly one bit
BOX_EDGES = np.array([(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1], dtype=np.int64)
MAX_BOX_POINTS = 1500


def _basis(up: np.ndarray) -> np.ndarray:
    """Two unit vectors completing up to a right-handed frame (columns a, b, up)."""
    up = up / np.linalg.norm(up)
    a = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    return np.stack([a, np.cross(up, a), up], axis=1)


def oriented_box(points: np.ndarray, up: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(center (3,), rotation (3x3, columns = box axes), extent (3,)) of Nx3 points.

    With up, the box stands upright: its third axis is up and the footprint is the minimum-area
    rectangle of the points projected along up. Without, it is open3d's minimal oriented box of
    (at most MAX_BOX_POINTS of) the points.
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 4:
        raise ValueError(f"a box needs at least 4 points, got {len(points)}")
    if len(points) > MAX_BOX_POINTS:  # a spread subsample gives the same box at a fraction of the cost
        points = points[np.random.default_rng(0).choice(len(points), MAX_BOX_POINTS, replace=False)]
    if up is not None:
        frame = _basis(np.asarray(up, dtype=np.float64))
        local = points @ frame
        (cx, cy), (w, h), angle = cv2.minAreaRect(local[:, :2].astype(np.float32))
        t = np.radians(angle)
        r2 = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        z0, z1 = local[:, 2].min(), local[:, 2].max()
        rotation = frame @ np.block([[r2, np.zeros((2, 1))], [np.zeros((1, 2)), np.ones((1, 1))]])
        center = frame @ np.array([cx, cy, 0.5 * (z0 + z1)])
        return center, rotation, np.array([w, h, z1 - z0])
    import open3d as o3d

    box = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points)).get_minimal_oriented_bounding_box(robust=True)
    return np.asarray(box.center), np.asarray(box.R), np.asarray(box.extent)


def box_corners(center: np.ndarray, rotation: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """The 8 corners (8x3) of a box; corner k is +x/+y/+z along bits 0/1/2 of k (see BOX_EDGES)."""
    return np.asarray(center) + (_SIGNS * (0.5 * np.asarray(extent))) @ np.asarray(rotation).T


def box_edges() -> np.ndarray:
    """The 12 edges of box_corners as corner-index pairs (12x2)."""
    return BOX_EDGES.copy()
