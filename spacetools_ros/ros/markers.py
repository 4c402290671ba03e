"""visualization_msgs/MarkerArray and sensor_msgs/Image of an episode's :class:`SceneVisuals` (for RViz)."""

from __future__ import annotations

from typing import Any

import numpy as np

from spacetools_ros.agent.visuals import SceneVisuals, gripper_segments
from spacetools_ros.ros.conversions import matrix_to_pose_msg

NAMESPACES = ("objects", "object_labels", "grasps", "place_targets", "planned")


def visuals_to_markers(visuals: SceneVisuals, stamp: Any) -> Any:
    """A MarkerArray: DELETEALL first (the previous task's markers go), then a CUBE per object (its colour) with
    a TEXT label above it, a LINE_LIST gripper per grasp, a SPHERE per place target and an ARROW (along the
    approach) per planned TCP pose; all in the visuals' base frame."""
    from geometry_msgs.msg import Point
    from visualization_msgs.msg import Marker, MarkerArray

    out = MarkerArray()
    clear = Marker()
    clear.action = Marker.DELETEALL
    out.markers.append(clear)

    def marker(ns: str, k: int, kind: int, rgba: tuple[float, float, float, float]) -> Any:
        m = Marker()
        m.header.frame_id = visuals.base_frame_id
        m.header.stamp = stamp
        m.ns, m.id, m.type, m.action = ns, k, kind, Marker.ADD
        m.pose.orientation.w = 1.0
        m.color.r, m.color.g, m.color.b, m.color.a = (float(v) for v in rgba)
        out.markers.append(m)
        return m

    for k, obj in enumerate(visuals.objects):
        m = marker("objects", k, Marker.CUBE, (*(c / 255.0 for c in obj.rgb), 0.6))
        m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in obj.centre)
        m.scale.x, m.scale.y, m.scale.z = (max(float(v), 1e-3) for v in obj.extent)
        label = marker("object_labels", k, Marker.TEXT_VIEW_FACING, (1.0, 1.0, 1.0, 1.0))
        label.pose.position.x, label.pose.position.y = float(obj.centre[0]), float(obj.centre[1])
        label.pose.position.z = float(obj.centre[2] + 0.5 * obj.extent[2] + 0.03)
        label.scale.z = 0.03
        label.text = obj.label
    for k, (T, opening) in enumerate(visuals.grasps):
        m = marker("grasps", k, Marker.LINE_LIST, (0.0, 1.0, 0.0, 1.0))
        m.scale.x = 0.005
        for a, b in gripper_segments(T, opening):
            m.points.extend([Point(x=float(a[0]), y=float(a[1]), z=float(a[2])),
                             Point(x=float(b[0]), y=float(b[1]), z=float(b[2]))])
    for k, p in enumerate(visuals.place_points):
        m = marker("place_targets", k, Marker.SPHERE, (1.0, 0.6, 0.0, 0.9))
        m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in p)
        m.scale.x = m.scale.y = m.scale.z = 0.03
    for k, T in enumerate(visuals.planned):
        m = marker("planned", k, Marker.ARROW, (0.7, 0.45, 1.0, 0.8))
        # an ARROW points along its pose's x axis: turn the TCP's approach (z) into x
        m.pose = matrix_to_pose_msg(np.asarray(T, dtype=float) @ np.array(
            [[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]))
        m.scale.x, m.scale.y, m.scale.z = 0.06, 0.006, 0.006
    return out
