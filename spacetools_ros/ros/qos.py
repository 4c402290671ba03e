"""QoS profiles shared by the nodes."""

from __future__ import annotations


def sensor_qos(depth: int = 5):
    """Best-effort, volatile, keep-last: matches both reliable and best-effort camera publishers."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT)


def camera_publisher_qos(depth: int = 5):
    """Reliable keep-last, as realsense2_camera publishes by default (readable by any subscriber)."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def task_qos(depth: int = 100):
    """Reliable keep-last for task, status and result messages; deep enough for bursts of tasks."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE)
