"""The arm as tools, under the SpaceTools names: capture, depth, execute_grasp, place, home, gripper.

Every motion goes through the Manipulator's skills, whose poses pass the MotionGuard (workspace
box, height above the table, rotation) and the execution gate before anything moves. Refusals and
failures come back to the model as tool errors; a motion tool returns a fresh image afterwards.
"""

from __future__ import annotations

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.frames.geometry import normalized_to_pixel, transform_points
from spacetools_ros.perception.backends import BackendError
from spacetools_ros.perception.classical import PerceptionBackends
from spacetools_ros.robot.backend import MotionError
from spacetools_ros.robot.safety import SafetyError
from spacetools_ros.robot.skills import Manipulator, SkillResult
from spacetools_ros.sources.base import FrameSourceError
from spacetools_ros.tools.arguments import normalized_points
from spacetools_ros.tools.base import Tool, ToolContext, ToolError, ToolResult, tool


def _posed_image(ctx: ToolContext) -> RGBDFrame:
    """The newest conversation image whose camera pose in the base frame is known."""
    for frame in reversed(ctx.images):
        if frame.T_base_camera is not None:
            return frame
    raise ToolError("no image with a known camera pose: capture one with robot.capture_image first")


def _capture(manipulator: Manipulator) -> RGBDFrame:
    try:
        return manipulator.backend.capture()
    except FrameSourceError as exc:
        raise ToolError(f"camera: {exc}") from None


def _perceived_objects(backends: PerceptionBackends, frame: RGBDFrame) -> list | None:
    """The objects the classical segmentation finds on a frame (cached), for the planner to avoid; None when
    there is no table in it."""
    try:
        return list(backends.cache.get(frame).scene.objects)
    except BackendError:
        return None


def _skill(ctx: ToolContext, manipulator: Manipulator, run, data: dict | None = None) -> ToolResult:
    """Run a skill; refusals and failures become tool errors; report time and a fresh image (and ``data``)."""
    try:
        result: SkillResult = run()
    except SafetyError as exc:
        raise ToolError(f"refused, nothing moved: {exc}") from None
    except MotionError as exc:
        raise ToolError(f"motion failed: {exc}") from None
    image = _capture(manipulator)
    new_index = len(ctx.images)
    text = f"{result.message} in {result.duration_s:.2f} s. New image {new_index}."
    if not result.success:
        raise ToolError(text)
    return ToolResult(text=text, data={"success": True, "execution_time_s": round(result.duration_s, 3),
                                       "moved": result.moved, "image_index": new_index, **(data or {})},
                      images=[image])


def make_robot_tools(manipulator: Manipulator, backends: PerceptionBackends) -> list[Tool]:
    """The robot.* tools over one manipulator."""

    @tool("robot.capture_image", robot=True)
    def capture_image(ctx: ToolContext) -> ToolResult:
        """Capture a new image from the robot's camera; it becomes addressable by the next image_index."""
        new_index = len(ctx.images)
        return ToolResult(text=f"Captured image {new_index}.", data={"image_index": new_index},
                          images=[_capture(manipulator)])

    def depth(ctx: ToolContext, with_cloud: bool) -> ToolResult:
        frame = _capture(manipulator)
        try:
            depth_map, focal = backends.depth.estimate(frame)
        except BackendError as exc:
            raise ToolError(str(exc)) from None
        new_index = len(ctx.images)
        variables = {"depth_map": depth_map, "focal_length_px": focal}
        if with_cloud:
            from spacetools_ros.frames.geometry import backproject_depth

            variables["point_cloud"] = backproject_depth(depth_map, frame.intrinsics).reshape(-1, 3)
        stored = ", ".join(f"${k}" for k in variables)
        return ToolResult(text=f"Captured image {new_index} with depth; stored {stored}.",
                          data={"image_index": new_index}, variables=variables, images=[frame])

    @tool("robot.get_depth", robot=True)
    def get_depth(ctx: ToolContext) -> ToolResult:
        """Capture a new image with metric depth; stores $depth_map and $focal_length_px."""
        return depth(ctx, with_cloud=False)

    @tool("robot.get_depth_with_pointcloud", robot=True)
    def get_depth_with_pointcloud(ctx: ToolContext) -> ToolResult:
        """Capture a new image with depth and its camera-frame point cloud; stores $depth_map, $focal_length_px
        and $point_cloud."""
        return depth(ctx, with_cloud=True)

    @tool("robot.execute_grasp", robot=True)
    def execute_grasp(ctx: ToolContext, grasp_pose: np.ndarray) -> ToolResult:
        """Grasp: move to a pre-grasp 10 cm back along the approach, approach straight, close, lift 12 cm.
        Returns success, execution time and a new image.

        Args:
            grasp_pose: 4x4 grasp pose in the camera frame, "$grasp_pose".
        """
        pose = np.asarray(grasp_pose)
        if pose.shape != (4, 4) or not np.issubdtype(pose.dtype, np.floating):
            raise ToolError(f"grasp_pose must be a 4x4 float pose (use $grasp_pose), got {pose.dtype} {pose.shape}")
        frame = _posed_image(ctx)
        objects = _perceived_objects(backends, frame)
        return _skill(ctx, manipulator, lambda: manipulator.execute_grasp(frame.T_base_camera @ pose, objects))

    def place(ctx: ToolContext, point_base: np.ndarray, frame: RGBDFrame) -> ToolResult:
        objects = _perceived_objects(backends, frame)
        point = np.asarray(point_base, dtype=float)
        return _skill(ctx, manipulator, lambda: manipulator.place_at(point, objects),
                      {"place_point_base": point.round(5).tolist()})

    @tool("robot.place_object_at_2d_location", robot=True)
    def place_object_at_2d_location(ctx: ToolContext, placement_point_2d: list[float],
                                    image_index: int | None = None) -> ToolResult:
        """Place the held object where a normalised image point meets the support surface, release, retreat.

        Args:
            placement_point_2d: [x, y] normalised image coordinates.
            image_index: the image the point refers to (default: the newest image with a known camera pose).
        """
        (x, y), = normalized_points([placement_point_2d], "placement_point_2d")
        frame = _posed_image(ctx) if image_index is None else ctx.image(image_index)
        if frame.T_base_camera is None:
            raise ToolError(f"image {image_index} has no known camera pose")
        try:
            plane = backends.cache.get(frame).scene.plane.coefficients
        except BackendError as exc:
            raise ToolError(f"cannot find the support surface: {exc}") from None
        u, v = normalized_to_pixel(x, y, frame.width, frame.height)
        intr = frame.intrinsics
        ray = np.array([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, 1.0])
        denominator = plane[:3] @ ray
        if abs(denominator) < 1e-6 or (t := -plane[3] / denominator) <= 0:
            raise ToolError("that image point does not look at the support surface")
        return place(ctx, transform_points(frame.T_base_camera, t * ray), frame)

    @tool("robot.place_object_at_3d_location", robot=True)
    def place_object_at_3d_location(ctx: ToolContext, placement_point_3d: list[float]) -> ToolResult:
        """Place the held object with its bottom at a 3D point (camera frame, metres), release, retreat.

        Args:
            placement_point_3d: [x, y, z] in the camera frame of the newest posed image.
        """
        point = normalized_points([placement_point_3d], "placement_point_3d", dims=3)[0]
        frame = _posed_image(ctx)
        return place(ctx, transform_points(frame.T_base_camera, point), frame)

    def primitive(ctx: ToolContext, run, done: str) -> ToolResult:
        backend = manipulator.backend
        try:
            if not backend.guard.check_can_move():
                return ToolResult(text=f"dry run: {done} planned, nothing moved.", data={"moved": False})
        except SafetyError as exc:
            raise ToolError(f"refused, nothing moved: {exc}") from None
        backend.gate.reset_cancel()
        result = run()
        if not result.success:
            raise ToolError(f"{done} failed: {result.message}")
        return ToolResult(text=f"{done} in {result.duration_s:.2f} s.", data={"moved": result.moved})

    @tool("robot.move_home", robot=True)
    def move_home(ctx: ToolContext) -> ToolResult:
        """Move the arm to its home configuration."""
        return primitive(ctx, manipulator.backend.move_home, "moved home")

    @tool("robot.open_gripper", robot=True)
    def open_gripper(ctx: ToolContext) -> ToolResult:
        """Open the gripper fully (releases what it holds)."""
        width = manipulator.backend.profile.gripper_max_opening
        return primitive(ctx, lambda: manipulator.backend.set_gripper(width), "gripper opened")

    @tool("robot.close_gripper", robot=True)
    def close_gripper(ctx: ToolContext) -> ToolResult:
        """Close the gripper with its grasping force."""
        return primitive(ctx, lambda: manipulator.backend.set_gripper(0.0), "gripper closed")

    return [capture_image, get_depth, get_depth_with_pointcloud, execute_grasp, place_object_at_2d_location,
            place_object_at_3d_location, move_home, open_gripper, close_gripper]
