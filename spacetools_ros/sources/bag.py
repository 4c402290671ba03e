"""Frames from a rosbag2 recording (mcap or sqlite3), read with `rosbags` — no ROS install needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.sources.base import FrameSource, FrameSourceError
from spacetools_ros.sources.topics import CameraTopics, FrameAssembler


def open_bag_reader(path: str | Path):
    """An opened rosbags AnyReader over a bag folder or a single .mcap/.db3 file."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    if not path.exists():
        raise FrameSourceError(f"bag {path} does not exist")
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_JAZZY))
        reader.open()
    except Exception as exc:  # rosbags raises several unrelated types for unreadable bags
        raise FrameSourceError(f"cannot read bag {path}: {exc}") from exc
    return reader


class BagSource(FrameSource):
    """Replays the RGB-D frames of a bag in time order.

    Colour and depth are paired by header stamp within `slop` seconds; the intrinsics come from the
    colour camera_info. Topic names default to realsense2_camera's.
    """

    def __init__(self, path: str | Path, topics: CameraTopics | None = None, slop: float = 0.02,
                 T_base_camera: np.ndarray | None = None, base_frame_id: str = "base_link") -> None:
        self.path = Path(path)
        self.topics = topics or CameraTopics()
        self.slop = slop
        self.T_base_camera = T_base_camera
        self.base_frame_id = base_frame_id
        self._reader = None
        self._frames: Iterator[RGBDFrame] | None = None

    def open(self) -> None:
        """Open the bag and check that it holds the camera topics."""
        if self._reader is not None:
            return
        self._reader = open_bag_reader(self.path)
        present = {c.topic for c in self._reader.connections}
        wanted = [self.topics.color, self.topics.depth, self.topics.color_info]
        missing = [t for t in wanted if t not in present]
        if missing:
            self.close()
            raise FrameSourceError(
                f"bag {self.path} lacks topic(s) {missing}; it has {sorted(present)}. "
                "Set the camera topics to match the recording."
            )
        self._frames = self._iter_frames()

    def close(self) -> None:
        """Close the bag."""
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._frames = None

    def read(self, timeout: float | None = None) -> RGBDFrame | None:
        """The next complete frame in the bag, or None at its end."""
        if self._reader is None:
            self.open()
        return next(self._frames, None)

    def _iter_frames(self) -> Iterator[RGBDFrame]:
        reader = self._reader
        wanted = {self.topics.color, self.topics.depth, self.topics.color_info}
        connections = [c for c in reader.connections if c.topic in wanted]
        assembler = FrameAssembler(self.slop, T_base_camera=self.T_base_camera, base_frame_id=self.base_frame_id)
        add = {self.topics.color: assembler.add_color, self.topics.depth: assembler.add_depth,
               self.topics.color_info: assembler.add_info}
        for connection, _, raw in reader.messages(connections=connections):
            add[connection.topic](reader.deserialize(raw, connection.msgtype))
            frame = assembler.take_frame()
            if frame is not None:
                yield frame
