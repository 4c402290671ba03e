"""Frames from live ROS topics (colour, aligned depth, camera_info), behind the FrameSource interface."""

from __future__ import annotations

import threading
import time

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.ros.qos import sensor_qos
from spacetools_ros.sources.base import FrameSource
from spacetools_ros.sources.topics import CameraTopics, FrameAssembler


class TopicSource(FrameSource):
    """Subscribes to the camera topics on a node and assembles frames.

    With node=None the source creates (and spins) a node of its own; given a node that some
    executor already spins (as agent_node does), it only adds subscriptions to it.
    """

    def __init__(self, node=None, topics: CameraTopics | None = None, slop: float = 0.02,
                 T_base_camera: np.ndarray | None = None, base_frame_id: str = "base_link") -> None:
        self.topics = topics or CameraTopics()
        self._node = node
        self._owns_node = node is None
        self._assembler = FrameAssembler(slop, T_base_camera=T_base_camera, base_frame_id=base_frame_id)
        self._lock = threading.Condition()
        self._subscriptions: list = []

    def open(self) -> None:
        """Subscribe (creating and initialising a node first when none was given)."""
        if self._subscriptions:
            return
        from sensor_msgs.msg import CameraInfo, Image

        if self._node is None:
            import rclpy

            if not rclpy.ok():
                rclpy.init()
            self._node = rclpy.create_node("spacetools_topic_source")
        qos = sensor_qos()
        for topic, kind, add in ((self.topics.color, Image, self._assembler.add_color),
                                 (self.topics.depth, Image, self._assembler.add_depth),
                                 (self.topics.color_info, CameraInfo, self._assembler.add_info)):
            self._subscriptions.append(self._node.create_subscription(kind, topic, self._feed(add), qos))

    def _feed(self, add):
        def callback(msg) -> None:
            with self._lock:
                add(msg)
                self._lock.notify_all()
        return callback

    def close(self) -> None:
        """Drop the subscriptions (and the node, when the source made it)."""
        if self._node is not None:
            for sub in self._subscriptions:
                self._node.destroy_subscription(sub)
            if self._owns_node:
                self._node.destroy_node()
                self._node = None
        self._subscriptions = []

    def latest(self, timeout: float) -> RGBDFrame | None:
        """The newest complete frame, even one returned before; waits up to timeout for the first."""
        return self._wait(timeout, allow_repeat=True)

    def read(self, timeout: float | None = None) -> RGBDFrame | None:
        """The next new complete frame; None when none arrives within timeout (default 10 s)."""
        return self._wait(10.0 if timeout is None else timeout, allow_repeat=False)

    def _wait(self, timeout: float, allow_repeat: bool) -> RGBDFrame | None:
        if not self._subscriptions:
            self.open()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                frame = self._assembler.take_frame(allow_repeat=allow_repeat)
                remaining = deadline - time.monotonic()
                if frame is not None or remaining <= 0:
                    return frame
                if not self._owns_node:
                    self._lock.wait(min(remaining, 0.1))
                    continue
            import rclpy

            rclpy.spin_once(self._node, timeout_sec=min(remaining, 0.05))
