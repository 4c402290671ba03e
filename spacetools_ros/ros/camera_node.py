"""camera_node: publishes any frame source on realsense2_camera topic names.

A folder, a bag or a generated scene then looks like a RealSense to the rest of the graph:
colour (rgb8), aligned depth (16UC1 millimetres) and both camera_info topics, stamped now.
"""

from __future__ import annotations

import sys

from spacetools_ros.ros.conversions import depth_to_image_msg, intrinsics_to_camera_info, rgb_to_image_msg
from spacetools_ros.ros.node_params import ParameterError, declare_parameters
from spacetools_ros.ros.node_runtime import spin_until_shutdown, stop_node
from spacetools_ros.ros.qos import camera_publisher_qos
from spacetools_ros.sources.base import FrameSourceError
from spacetools_ros.sources.factory import open_source
from spacetools_ros.sources.topics import CameraTopics

PARAMETERS = {
    "source": ("synthetic:0", "frames to publish: a folder, a rosbag2, 'synthetic[:SEED]' or 'realsense'"),
    "rate_hz": (5.0, "frames published per second"),
    "loop": (True, "start again at the first frame when the source is exhausted"),
    "camera_namespace": ("/camera/camera", "namespace of the realsense2_camera topic names"),
    "hold_frame": (-1, "publish only frame N of the source, again and again (-1: every frame in order)", -1),
}


def camera_publishers(node, namespace: str) -> dict:
    """Reliable publishers of the colour and aligned depth images and their camera_info under ``namespace``, on
    realsense2_camera's topic names (what :func:`publish_frame` publishes on)."""
    from sensor_msgs.msg import CameraInfo, Image

    topics = CameraTopics.under(namespace)
    qos = camera_publisher_qos()
    return {"color": node.create_publisher(Image, topics.color, qos),
            "depth": node.create_publisher(Image, topics.depth, qos),
            "color_info": node.create_publisher(CameraInfo, topics.color_info, qos),
            "depth_info": node.create_publisher(CameraInfo, topics.depth_info, qos)}


def publish_frame(publishers: dict, frame, stamp: float) -> None:
    """Publish one frame on the four camera topics with a shared stamp."""
    fid = frame.frame_id
    publishers["color"].publish(rgb_to_image_msg(frame.rgb, stamp, fid))
    if frame.depth is not None:
        publishers["depth"].publish(depth_to_image_msg(frame.depth, stamp, fid))
    info = intrinsics_to_camera_info(frame.intrinsics, stamp, fid)
    publishers["color_info"].publish(info)
    publishers["depth_info"].publish(info)  # depth is aligned to colour: same intrinsics


def main(argv: list[str] | None = None) -> int:
    """Run the node until shutdown."""
    import rclpy

    rclpy.init(args=argv if argv is not None else sys.argv)
    node = rclpy.create_node("spacetools_camera")
    try:
        params = declare_parameters(node, PARAMETERS)
    except ParameterError as exc:
        return stop_node(node, str(exc), 2)
    publishers = camera_publishers(node, params["camera_namespace"])
    try:
        source = open_source(params["source"])
        source.open()
    except FrameSourceError as exc:
        return stop_node(node, str(exc), 1)
    frames_published = 0
    held = None

    def next_frame():
        nonlocal source
        if params["hold_frame"] >= 0:
            nonlocal held
            if held is None:
                for _ in range(params["hold_frame"] + 1):
                    held = source.read(timeout=0.5)
                if held is None:
                    raise FrameSourceError(f"{params['source']} has no frame {params['hold_frame']}")
            return held
        frame = source.read(timeout=0.5)
        if frame is None and params["loop"] and frames_published:
            source.close()
            source = open_source(params["source"])
            source.open()
            frame = source.read(timeout=0.5)
        return frame

    def tick() -> None:
        nonlocal frames_published
        try:
            frame = next_frame()
        except FrameSourceError as exc:
            node.get_logger().error(f"reading {params['source']}: {exc}", throttle_duration_sec=5.0)
            return
        if frame is None:
            node.get_logger().info("source exhausted", once=True)
            return
        publish_frame(publishers, frame, node.get_clock().now().nanoseconds * 1e-9)
        frames_published += 1

    node.create_timer(1.0 / params["rate_hz"], tick)
    node.get_logger().info(f"publishing {params['source']} on {params['camera_namespace']} at {params['rate_hz']} Hz")
    return spin_until_shutdown(node, on_shutdown=lambda: source.close())


if __name__ == "__main__":
    sys.exit(main())
