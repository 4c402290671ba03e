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


def task_qos():
    """Reliable keep-all for /spacetools/task: a burst of tasks is delivered in full and every one gets a status
    (a keep-last history would silently drop what a busy node has not taken yet)."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)


def report_qos(depth: int = 1000):
    """Reliable keep-last for what agent_node reports (status, result, trace, markers): deep enough that a reader
    keeps up with a burst of statuses, bounded so that a reader that stops reading costs the node nothing more."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def command_qos(depth: int = 10):
    """Reliable keep-last for commands (joint trajectories, gripper widths)."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE)
