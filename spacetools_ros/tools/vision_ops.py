"""vision_ops.*: small array and image operations over $variables (indexing, projection, crops, drawing)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from spacetools_ros.frames.geometry import normalized_to_pixel, pixel_to_normalized, project_points
from spacetools_ros.tools.arguments import (
    flat_cloud,
    fmt_points,
    image_matching,
    mask_array,
    normalized_point,
    normalized_points,
    per_pixel_grid,
)
from spacetools_ros.tools.base import Tool, ToolContext, ToolError, ToolResult, tool

COLOURS = {"red": (255, 0, 0), "green": (0, 200, 0), "blue": (0, 90, 255), "yellow": (255, 220, 0),
           "white": (255, 255, 255), "black": (0, 0, 0), "orange": (255, 140, 0), "purple": (160, 60, 200)}


def _pixel(frame_w: int, frame_h: int, x: float, y: float) -> tuple[int, int]:
    u, v = normalized_to_pixel(x, y, frame_w, frame_h)
    return int(np.clip(np.rint(u), 0, frame_w - 1)), int(np.clip(np.rint(v), 0, frame_h - 1))


def _depth_at(depth: np.ndarray, u: int, v: int, radius: int = 2) -> float:
    """Median valid depth in a small window (single pixels are often holes)."""
    window = depth[max(v - radius, 0):v + radius + 1, max(u - radius, 0):u + radius + 1]
    valid = window[np.isfinite(window) & (window > 0)]
    return float(np.median(valid)) if valid.size else float("nan")


def make_vision_ops_tools() -> list[Tool]:
    """vision_ops.index_at, project_2d_points_to_3d, project_3d_points_to_2d, point_crop, mask_crop,
    draw_polygon."""

    @tool("vision_ops.index_at")
    def index_at(ctx: ToolContext, data: np.ndarray, u: float, v: float) -> ToolResult:
        """Value of a per-pixel array variable ($depth_map, $segmentation_mask, $point_cloud) at a normalised pixel.

        Args:
            data: the array, e.g. "$depth_map".
            u: normalised horizontal coordinate in [0, 1].
            v: normalised vertical coordinate in [0, 1].
        """
        normalized_point(u, v)
        frame, grid = per_pixel_grid(ctx, data)
        col, row = _pixel(frame.width, frame.height, u, v)
        value = np.asarray(grid[row, col])
        shown = value.round(4).tolist() if value.dtype.kind == "f" else value.tolist()
        return ToolResult(text=f"Value at ({u:.3f}, {v:.3f}) = {shown}", data={"value": shown})

    @tool("vision_ops.project_2d_points_to_3d")
    def project_2d_points_to_3d(ctx: ToolContext, points: list[list[float]], image_index: int = 0) -> ToolResult:
        """3D camera-frame points (metres) under normalised image points, from the image's depth. Stores
        $points_3d.

        Args:
            points: normalised [x, y] points.
            image_index: 0-based index of the image (with depth) in the conversation.
        """
        pts = normalized_points(points)
        frame = ctx.image(image_index)
        if frame.depth is None:
            raise ToolError(f"image {image_index} has no depth; run depth_estimator first or use an RGB-D image")
        intr = frame.intrinsics
        out = []
        for x, y in pts:
            u, v = _pixel(frame.width, frame.height, x, y)
            z = _depth_at(frame.depth, u, v)
            out.append([(u - intr.cx) * z / intr.fx, (v - intr.cy) * z / intr.fy, z])
        points_3d = np.array(out)
        missing = int(np.isnan(points_3d[:, 2]).sum())
        note = f" ({missing} point(s) have no depth: NaN)" if missing else ""
        return ToolResult(text=f"3D points (m, camera frame): {fmt_points(points_3d)}{note}. Stored $points_3d.",
                          data={"points_3d": np.nan_to_num(points_3d, nan=-1).round(4).tolist()},
                          variables={"points_3d": points_3d})

    @tool("vision_ops.project_3d_points_to_2d")
    def project_3d_points_to_2d(ctx: ToolContext, points: list[list[float]] | np.ndarray,
                                image_index: int = 0) -> ToolResult:
        """Normalised image coordinates of 3D camera-frame points (metres). Stores $points_2d.

        Args:
            points: [x, y, z] points in metres, or a stored variable such as "$obb_corners_3d".
            image_index: 0-based index of the image whose camera to project into.
        """
        pts = normalized_points(points, "points", dims=3)
        if (pts[:, 2] <= 0).any():
            raise ToolError("every 3D point needs z > 0 (in front of the camera)")
        frame = ctx.image(image_index)
        u, v = project_points(pts, frame.intrinsics).T
        points_2d = np.stack(pixel_to_normalized(u, v, frame.width, frame.height), 1)
        return ToolResult(text=f"Image points: {fmt_points(points_2d)}. Stored $points_2d.",
                          data={"points_2d": points_2d.round(4).tolist()}, variables={"points_2d": points_2d})

    @tool("vision_ops.point_crop")
    def point_crop(ctx: ToolContext, point_cloud: np.ndarray, mask: np.ndarray) -> ToolResult:
        """The valid 3D points of the masked pixels. Stores $cropped_points (Nx3, camera frame).

        Args:
            point_cloud: the per-pixel cloud, "$point_cloud".
            mask: the mask, e.g. "$segmentation_mask".
        """
        cloud = flat_cloud(point_cloud)
        frame = image_matching(ctx, len(cloud))
        m = mask_array(mask, (frame.height, frame.width))
        points = cloud[m.reshape(-1)]
        points = points[np.isfinite(points).all(axis=1)]
        if len(points) == 0:
            raise ToolError("the mask selects no pixel with valid depth")
        centre = points.mean(axis=0)
        return ToolResult(text=f"{len(points)} points, centroid ({', '.join(f'{c:.3f}' for c in centre)}) m. "
                               "Stored $cropped_points.",
                          data={"count": len(points)}, variables={"cropped_points": points})

    @tool("vision_ops.mask_crop")
    def mask_crop(ctx: ToolContext, mask: np.ndarray, image_index: int = 0) -> ToolResult:
        """A new image: the image cropped to the mask's box, pixels outside the mask darkened. The new image is
        addressable by the next image_index.

        Args:
            mask: the mask, e.g. "$segmentation_mask".
            image_index: 0-based index of the image to crop.
        """
        frame = ctx.image(image_index)
        m = mask_array(mask, (frame.height, frame.width))
        ys, xs = np.nonzero(m)
        v0, v1, u0, u1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        rgb = frame.rgb[v0:v1, u0:u1].copy()
        rgb[~m[v0:v1, u0:u1]] //= 4
        intr = dataclasses.replace(frame.intrinsics, cx=frame.intrinsics.cx - u0, cy=frame.intrinsics.cy - v0,
                                   width=int(u1 - u0), height=int(v1 - v0))
        depth = frame.depth[v0:v1, u0:u1].copy() if frame.depth is not None else None
        cropped = dataclasses.replace(frame, rgb=rgb, depth=depth, intrinsics=intr, metadata={"crop_of": image_index})
        new_index = len(ctx.images)
        return ToolResult(text=f"New image {new_index}: image {image_index} cropped to the mask ({u1 - u0}x{v1 - v0}).",
                          data={"image_index": new_index}, images=[cropped])

    @tool("vision_ops.draw_polygon")
    def draw_polygon(ctx: ToolContext, points: list[list[float]] | np.ndarray, image_index: int = 0,
                     color: str = "red", closed: bool = True) -> ToolResult:
        """A new image with a polygon (or polyline) drawn over an image, e.g. "$obb_corners_2d". The new image is
        addressable by the next image_index.

        Args:
            points: normalised [x, y] vertices.
            image_index: 0-based index of the image to draw on.
            color: one of red, green, blue, yellow, white, black, orange, purple.
            closed: join the last vertex to the first.
        """
        pts = normalized_points(points)
        if color not in COLOURS:
            raise ToolError(f"unknown color '{color}'; use one of {', '.join(COLOURS)}")
        frame = ctx.image(image_index)
        pixels = np.array([_pixel(frame.width, frame.height, x, y) for x, y in pts], dtype=np.int32)
        rgb = frame.rgb.copy()
        thickness = max(1, round(frame.width / 320))
        cv2.polylines(rgb, [pixels.reshape(-1, 1, 2)], closed, COLOURS[color], thickness, cv2.LINE_AA)
        new_index = len(ctx.images)
        drawn = dataclasses.replace(frame, rgb=rgb, metadata={"drawn_on": image_index})
        return ToolResult(text=f"New image {new_index}: image {image_index} with a {color} polygon of {len(pts)} "
                               "points.", data={"image_index": new_index}, images=[drawn])

    return [index_at, project_2d_points_to_3d, project_3d_points_to_2d, point_crop, mask_crop, draw_polygon]
