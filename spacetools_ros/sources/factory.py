"""Open a frame source from a user's spec: a folder, a bag, 'synthetic[:seed]' or 'realsense'."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spacetools_ros.sources.base import FrameSource, FrameSourceError


def _is_bag(path: Path) -> bool:
    if path.is_file():
        return path.suffix in (".mcap", ".db3")
    return (path / "metadata.yaml").exists() or any(path.glob("*.mcap")) or any(path.glob("*.db3"))


def open_source(spec: str, T_base_camera: np.ndarray | None = None, loop: bool = False) -> FrameSource:
    """The frame source a spec names (not yet opened).

    spec: a recorded folder, a rosbag2 folder or file, 'synthetic' / 'synthetic:SEED', 'realsense', or
    'topics' (live realsense2_camera topics on the ROS graph; needs rclpy).
    T_base_camera overrides the camera pose for sources that do not record one.
    """
    if spec == "realsense":
        from spacetools_ros.sources.realsense import RealSenseConfig, RealSenseSource

        pose = tuple(np.asarray(T_base_camera).reshape(-1)) if T_base_camera is not None else None
        return RealSenseSource(RealSenseConfig(T_base_camera=pose))
    if spec == "topics":
        from spacetools_ros.ros.topic_source import TopicSource

        return TopicSource(T_base_camera=T_base_camera)
    if spec == "synthetic" or spec.startswith("synthetic:"):
        from spacetools_ros.sources.synthetic import SyntheticSource

        seed = spec.partition(":")[2]
        if seed and not seed.isdigit():
            raise FrameSourceError(f"'{spec}': the seed after 'synthetic:' must be an integer")
        return SyntheticSource(seed=int(seed or 0))
    path = Path(spec).expanduser()
    if not path.exists():
        raise FrameSourceError(
            f"'{spec}' is neither an existing folder or bag, nor 'synthetic[:SEED]', 'realsense' or 'topics'")
    if _is_bag(path):
        from spacetools_ros.sources.bag import BagSource

        return BagSource(path, T_base_camera=T_base_camera)
    from spacetools_ros.sources.folder import FolderSource

    return FolderSource(path, loop=loop)
