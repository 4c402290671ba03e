"""The SpaceTools perception tools (names and arguments as the released checkpoint calls them).

roborefer.* and vlm.* point at referred objects or free space, sam2.* segments, depth_estimator.*
gives metric depth and a per-pixel point cloud, bounding_box.compute_bbox an oriented 3D box and
grasp_generator.compute_grasp a parallel-jaw grasp. Backends are swappable (classical by default).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from spacetools_ros.frames.geometry import backproject_depth, pixel_to_normalized, project_points
from spacetools_ros.perception.backends import BackendError
from spacetools_ros.perception.boxes import box_corners, box_edges, oriented_box
from spacetools_ros.perception.classical import PerceptionBackends
from spacetools_ros.perception.grasp import GraspError, compute_grasp
from spacetools_ros.tools.arguments import (
    flat_cloud,
    fmt_points,
    image_matching,
    mask_array,
    normalized_point,
    normalized_points,
    variable_name,
)
from spacetools_ros.tools.base import Tool, ToolContext, ToolError, ToolResult, tool


def _backend_call(fn, *args):
    """Run a backend; its BackendError becomes the tool's error text."""
    try:
        return fn(*args)
    except BackendError as exc:
        raise ToolError(str(exc)) from None


def _normalise_2d(points_3d: np.ndarray, focal_px: float, frame) -> np.ndarray:
    """Camera-frame points to normalised image coordinates, with the model-given focal length (the image's
    principal point and aspect ratio)."""
    intr = frame.intrinsics
    scaled = dataclasses.replace(intr, fx=focal_px, fy=focal_px * intr.fy / intr.fx)
    u, v = project_points(points_3d, scaled).T
    return np.stack(pixel_to_normalized(u, v, frame.width, frame.height), 1)


def make_pointing_tools(backends: PerceptionBackends) -> list[Tool]:
    """roborefer.detect_one/detect_all and vlm.detect_one/detect_all, all served by the pointing backend."""

    def detect(ctx: ToolContext, obj_name: str, image_index: int, many: bool) -> ToolResult:
        if not obj_name.strip():
            raise ToolError("obj_name is empty: describe the object or place to point at")
        frame = ctx.image(image_index)
        found = _backend_call(backends.pointing.detect, frame, obj_name, 20 if many else 1)
        points = np.array([d.point for d in found], dtype=np.float64)
        name = f"{variable_name(obj_name)}_detections"
        text = f"Detected {len(points)} point(s) for '{obj_name}' in image {image_index}: {fmt_points(points)}"
        return ToolResult(text=text, data={"points": points.round(4).tolist(), "scores": [d.score for d in found]},
                          variables={name: points})

    tools = []
    for family in ("roborefer", "vlm"):
        @tool(f"{family}.detect_one")
        def detect_one(ctx: ToolContext, obj_name: str, image_index: int = 0) -> ToolResult:
            """Point at the object (or free space) an expression refers to. Returns one normalised point [(x, y)]
            and stores $<obj_name>_detections.

            Args:
                obj_name: the referring expression, e.g. "the red cup" or "an empty spot left of the bowl".
                image_index: 0-based index of the image in the conversation.
            """
            return detect(ctx, obj_name, image_index, many=False)

        @tool(f"{family}.detect_all")
        def detect_all(ctx: ToolContext, obj_name: str, image_index: int = 0) -> ToolResult:
            """Point at every object matching an expression. Returns normalised points [(x, y), ...] and stores
            $<obj_name>_detections.

            Args:
                obj_name: the expression, e.g. "the cups" or "blue objects".
                image_index: 0-based index of the image in the conversation.
            """
            return detect(ctx, obj_name, image_index, many=True)

        tools += [detect_one, detect_all]
    return tools


def make_segmentation_tools(backends: PerceptionBackends) -> list[Tool]:
    """sam2.segment_from_point and sam2.segment_from_points."""

    def segment(ctx: ToolContext, points: np.ndarray, image_index: int) -> ToolResult:
        frame = ctx.image(image_index)
        mask, score = _backend_call(backends.segmentation.segment, frame, points)
        return ToolResult(text=f"Segmented mask in image {image_index}: {int(mask.sum())} pixels, score {score:.2f}. "
                               "Stored as $segmentation_mask.",
                          data={"pixels": int(mask.sum()), "score": score},
                          variables={"segmentation_mask": mask})

    @tool("sam2.segment_from_point")
    def segment_from_point(ctx: ToolContext, x: float, y: float, image_index: int = 0) -> ToolResult:
        """Segment the object under a point; stores $segmentation_mask (HxW bool).

        Args:
            x: normalised horizontal coordinate in [0, 1] (0 = left).
            y: normalised vertical coordinate in [0, 1] (0 = top).
            image_index: 0-based index of the image in the conversation.
        """
        return segment(ctx, normalized_point(x, y), image_index)

    @tool("sam2.segment_from_points")
    def segment_from_points(ctx: ToolContext, points: list[list[float]] | np.ndarray,
                            image_index: int = 0) -> ToolResult:
        """Segment the object under several points on it; stores $segmentation_mask (HxW bool).

        Args:
            points: normalised [x, y] points, all on the same object (or e.g. "$cup_detections").
            image_index: 0-based index of the image in the conversation.
        """
        return segment(ctx, normalized_points(points), image_index)

    return [segment_from_point, segment_from_points]


def make_depth_tools(backends: PerceptionBackends) -> list[Tool]:
    """depth_estimator.estimate_depth and depth_estimator.estimate_depth_with_pointcloud."""

    def estimate(ctx: ToolContext, image_index: int, with_cloud: bool) -> ToolResult:
        frame = ctx.image(image_index)
        depth, focal = _backend_call(backends.depth.estimate, frame)
        valid = np.isfinite(depth) & (depth > 0)
        if not valid.any():
            raise ToolError(f"image {image_index} has no valid depth")
        d = depth[valid]
        text = (f"Depth of image {image_index}: min {d.min():.3f} m, median {np.median(d):.3f} m, max {d.max():.3f} m, "
                f"{100 * valid.mean():.0f}% valid pixels; focal length {focal:.1f} px. "
                "Stored $depth_map (HxW metres) and $focal_length_px")
        variables = {"depth_map": depth, "focal_length_px": focal}
        if with_cloud:
            variables["point_cloud"] = backproject_depth(depth, frame.intrinsics).reshape(-1, 3)
            text += " and $point_cloud (one camera-frame XYZ point per pixel, row-major, NaN where invalid)"
        return ToolResult(text=text + ".", data={"median_m": float(np.median(d)), "focal_length_px": focal},
                          variables=variables)

    @tool("depth_estimator.estimate_depth")
    def estimate_depth(ctx: ToolContext, image_index: int = 0) -> ToolResult:
        """Metric depth of an image (the sensor's, or a depth model's for RGB-only images). Stores $depth_map
        and $focal_length_px.

        Args:
            image_index: 0-based index of the image in the conversation.
        """
        return estimate(ctx, image_index, with_cloud=False)

    @tool("depth_estimator.estimate_depth_with_pointcloud")
    def estimate_depth_with_pointcloud(ctx: ToolContext, image_index: int = 0) -> ToolResult:
        """Metric depth of an image and its point cloud in the camera frame (X right, Y down, Z forward).
        Stores $depth_map, $focal_length_px and $point_cloud.

        Args:
            image_index: 0-based index of the image in the conversation.
        """
        return estimate(ctx, image_index, with_cloud=True)

    return [estimate_depth, estimate_depth_with_pointcloud]


def _masked_points(ctx: ToolContext, point_cloud: np.ndarray, mask: np.ndarray):
    """(frame, flat cloud, HxW mask, valid masked points) with every check a model's call needs."""
    cloud = flat_cloud(point_cloud)
    frame = image_matching(ctx, len(cloud))
    m = mask_array(mask, (frame.height, frame.width))
    points = cloud[m.reshape(-1)]
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 10:
        raise ToolError(f"the mask selects only {len(points)} valid 3D point(s); need at least 10")
    return frame, cloud, m, points


def make_geometry_tools(backends: PerceptionBackends) -> list[Tool]:
    """bounding_box.compute_bbox and grasp_generator.compute_grasp."""

    @tool("bounding_box.compute_bbox")
    def compute_bbox(ctx: ToolContext, point_cloud: np.ndarray, mask: np.ndarray, focal_length_px: float,
                     gravity_aligned: bool = False) -> ToolResult:
        """Oriented 3D bounding box of the masked points. Stores $obb_corners_3d (8x3 m, camera frame),
        $obb_corners_2d (8x2 normalised), $extent (3, m) and $edges (12 corner-index pairs).

        Args:
            point_cloud: the per-pixel cloud, "$point_cloud".
            mask: the object's mask, e.g. "$segmentation_mask".
            focal_length_px: focal length in pixels, "$focal_length_px".
            gravity_aligned: keep the box upright (needs the camera pose in the robot base frame).
        """
        frame, _, _, points = _masked_points(ctx, point_cloud, mask)
        up = None
        if gravity_aligned:
            if frame.T_base_camera is None:
                raise ToolError("gravity_aligned needs the camera pose in the base frame, unknown for this image")
            up = frame.T_base_camera[:3, :3].T @ np.array([0.0, 0.0, 1.0])
        try:
            center, rotation, extent = oriented_box(points, up=up)
        except (ValueError, RuntimeError) as exc:  # degenerate (e.g. coplanar) points
            raise ToolError(f"cannot fit a box to the masked points: {exc}") from None
        corners = box_corners(center, rotation, extent)
        corners_2d = _normalise_2d(corners, float(focal_length_px), frame)
        text = (f"3D box: center ({', '.join(f'{c:.3f}' for c in center)}) m, extent "
                f"({', '.join(f'{e:.3f}' for e in extent)}) m; corners in the image: {fmt_points(corners_2d)}")
        return ToolResult(text=text, data={"center": center.round(4).tolist(), "extent": extent.round(4).tolist()},
                          variables={"obb_corners_3d": corners, "obb_corners_2d": corners_2d, "extent": extent,
                                     "edges": box_edges()})

    @tool("grasp_generator.compute_grasp")
    def compute_grasp_tool(ctx: ToolContext, point_cloud: np.ndarray, mask: np.ndarray, focal_length_px: float,
                           image_index: int = 0) -> ToolResult:
        """A collision-free parallel-jaw grasp (Franka hand, 0.08 m opening) for the masked object. Text gives the
        confidence and 5 projected gripper points (center, left base, right base, left tip, right tip); stores
        $grasp_pose (4x4, camera frame).

        Args:
            point_cloud: the per-pixel cloud, "$point_cloud".
            mask: the object's mask, e.g. "$segmentation_mask".
            focal_length_px: focal length in pixels, "$focal_length_px".
            image_index: 0-based index of the image the cloud was computed from.
        """
        frame = ctx.image(image_index)
        _, cloud, m, _ = _masked_points(ctx, point_cloud, mask)
        if len(cloud) != frame.width * frame.height:
            raise ToolError(f"point_cloud has {len(cloud)} points but image {image_index} has "
                            f"{frame.width * frame.height} pixels")
        plane = None
        if frame.depth is not None:
            try:
                plane = backends.cache.get(frame).scene.plane.coefficients
            except BackendError:
                plane = None  # no table found: the grasp still avoids every scene point
        try:
            grasp = compute_grasp(cloud.reshape(frame.height, frame.width, 3), m, plane, None, backends.grasp)
        except GraspError as exc:
            raise ToolError(str(exc)) from None
        pts = _normalise_2d(grasp.gripper_points(), float(focal_length_px), frame)
        names = ("center", "left base", "right base", "left tip", "right tip")
        listed = ", ".join(f"{n} ({p[0]:.3f}, {p[1]:.3f})" for n, p in zip(names, pts, strict=True))
        text = (f"Grasp found: confidence {grasp.score:.2f}, opening {grasp.width:.3f} m. Gripper points: {listed}. "
                "Stored $grasp_pose.")
        return ToolResult(text=text, data={"score": float(grasp.score), "width": float(grasp.width),
                                           "gripper_points_2d": pts.round(4).tolist(),
                                           "pose_camera": grasp.pose.round(6).tolist(), "image_index": image_index},
                          variables={"grasp_pose": grasp.pose})

    return [compute_bbox, compute_grasp_tool]
