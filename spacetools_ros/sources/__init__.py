"""Frame sources behind one interface: folder, rosbag2, live ROS topics, RealSense, synthetic."""

from spacetools_ros.sources.base import FrameSource, FrameSourceError
from spacetools_ros.sources.factory import open_source

__all__ = ["FrameSource", "FrameSourceError", "open_source"]
