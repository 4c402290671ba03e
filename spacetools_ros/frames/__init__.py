"""RGB-D frames and camera geometry."""

from spacetools_ros.frames.frame import Intrinsics, RGBDFrame

__all__ = ["Intrinsics", "RGBDFrame"]
