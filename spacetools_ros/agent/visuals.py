"""What an episode saw and intended, for visualisation: objects, grasps, place targets and planned poses.

:func:`collect_visuals` gathers them (in the robot base frame) from an agent after a task; :func:`draw_debug_image`
draws them, with the answer's points, over the task's image. The ROS side turns :class:`SceneVisuals` into a
visualization_msgs/MarkerArray (:mod:`spacetools_ros.ros.markers`). Nothing here needs rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from spacetools_ros.agent.loop import Episode
from spacetools_ros.agent.report import answer_points
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.frames.geometry import project_points, transform_points

GRASP_TOOL = "grasp_generator.compute_grasp"
FINGER_LENGTH_M = 0.05  # drawn length of a finger, from its base to its tip along the approach


@dataclass
class VisualObject:
    """A perceived object: a table-aligned box (centre and extent in the base frame), its colour and a label."""

    id: int
    centre: np.ndarray
    extent: np.ndarray
    rgb: tuple[int, int, int]
    label: str
    mask: np.ndarray | None = None


@dataclass
class SceneVisuals:
    """Everything to show for one episode; poses and points in the base frame ``base_frame_id``."""

    base_frame_id: str = "base_link"
    frame: RGBDFrame | None = None
    objects: list[VisualObject] = field(default_factory=list)
    grasps: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (4x4 TCP pose, opening m)
    place_points: list[np.ndarray] = field(default_factory=list)
    planned: list[np.ndarray] = field(default_factory=list)  # 4x4 TCP poses a dry run planned
    answer_points: list[tuple[float, float]] = field(default_factory=list)  # normalised, on the frame


def collect_visuals(agent: Any, episode: Episode, planned_since: int = 0) -> SceneVisuals:
    """The visuals of the agent's last task: objects the classical segmentation finds on the task's image (when
    its camera pose is known), every grasp computed and place target used, and the poses a dry-run backend
    planned from index ``planned_since`` on."""
    context = getattr(agent, "last_context", None)
    images = list(context.images) if context is not None else []
    frame = images[0] if images else None
    visuals = SceneVisuals(frame=frame, answer_points=answer_points(episode.answer))
    if frame is None or frame.T_base_camera is None:
        return visuals
    visuals.base_frame_id = frame.base_frame_id
    backends = getattr(agent, "backends", None)
    if backends is not None:
        try:
            scene = backends.cache.get(frame).scene
        except Exception:  # no table: nothing to show but the rest
            scene = None
        for obj in scene.objects if scene is not None else []:
            if obj.centroid_base is not None:
                visuals.objects.append(VisualObject(obj.id, np.asarray(obj.centroid_base, dtype=float),
                                                    np.asarray(obj.extent, dtype=float), tuple(obj.mean_rgb),
                                                    f"object {obj.id}", obj.mask))
    for record in episode.tool_calls:
        if not record.ok:
            continue
        data = record.data or {}
        if record.name == GRASP_TOOL and "pose_camera" in data:
            index = int(data.get("image_index", 0))
            image = images[index] if 0 <= index < len(images) else frame
            if image.T_base_camera is not None:
                visuals.grasps.append((image.T_base_camera @ np.asarray(data["pose_camera"], dtype=float),
                                       float(data.get("width", 0.08))))
        if "place_point_base" in data:
            visuals.place_points.append(np.asarray(data["place_point_base"], dtype=float))
    manipulator = getattr(agent, "manipulator", None)
    planned = getattr(getattr(manipulator, "backend", None), "planned", None)
    if planned:
        visuals.planned = [np.asarray(T, dtype=float) for T in planned[planned_since:]]
    return visuals


def gripper_segments(T_base_tcp: np.ndarray, opening: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Line segments (base frame) drawing a parallel gripper at a TCP pose: the two fingers (closing along the
    TCP's y, approaching along its z) and the bridge between their bases."""
    half = 0.5 * max(float(opening), 0.01)
    local = np.array([[0.0, -half, 0.0], [0.0, half, 0.0],
                      [0.0, -half, -FINGER_LENGTH_M], [0.0, half, -FINGER_LENGTH_M]])
    tip_l, tip_r, base_l, base_r = transform_points(T_base_tcp, local)
    return [(base_l, tip_l), (base_r, tip_r), (base_l, base_r)]


def _project(frame: RGBDFrame, points_base: np.ndarray) -> np.ndarray | None:
    """Pixel coordinates (N x 2) of base-frame points, None where any lies behind the camera."""
    cam = transform_points(np.linalg.inv(frame.T_base_camera), np.asarray(points_base, dtype=float).reshape(-1, 3))
    return None if np.any(cam[:, 2] <= 1e-6) else project_points(cam, frame.intrinsics)


def draw_debug_image(visuals: SceneVisuals) -> np.ndarray | None:
    """The task's image (RGB) with object outlines and labels, grasps, place targets, planned TCP positions and
    the answer's points drawn over it; None when there is no image."""
    frame = visuals.frame
    if frame is None:
        return None
    image = np.ascontiguousarray(frame.rgb.copy())
    h, w = image.shape[:2]
    thick = max(1, round(max(h, w) / 320))

    def pt(p: np.ndarray) -> tuple[int, int]:
        return int(round(float(p[0]))), int(round(float(p[1])))

    for obj in visuals.objects:
        if obj.mask is not None and obj.mask.shape == (h, w):
            contours, _ = cv2.findContours(obj.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(image, contours, -1, (0, 200, 255), thick)
        centre = _project(frame, obj.centre) if frame.T_base_camera is not None else None
        if centre is not None:
            cv2.putText(image, obj.label, pt(centre[0]), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (255, 255, 255),
                        thick, cv2.LINE_AA)
    if frame.T_base_camera is not None:
        for T, opening in visuals.grasps:
            for a, b in gripper_segments(T, opening):
                ends = _project(frame, np.stack([a, b]))
                if ends is not None:
                    cv2.line(image, pt(ends[0]), pt(ends[1]), (0, 255, 0), 2 * thick, cv2.LINE_AA)
        for p in visuals.place_points:
            uv = _project(frame, p)
            if uv is not None:
                cv2.drawMarker(image, pt(uv[0]), (255, 160, 0), cv2.MARKER_TILTED_CROSS, 12 * thick, 2 * thick)
        for T in visuals.planned:
            uv = _project(frame, T[:3, 3])
            if uv is not None:
                cv2.circle(image, pt(uv[0]), 3 * thick, (180, 120, 255), -1)
    for x, y in visuals.answer_points:
        cv2.drawMarker(image, (int(x * w), int(y * h)), (255, 0, 255), cv2.MARKER_CROSS, 16 * thick, 2 * thick)
    return image
