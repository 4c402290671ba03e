"""Frame sources: recorded folders, rosbag2 (mcap and sqlite3), RealSense without a device, the factory."""

import json

import cv2
import numpy as np
import pytest

from spacetools_ros.frames.frame import Intrinsics, RGBDFrame
from spacetools_ros.ros.conversions import depth_to_image_msg, intrinsics_to_camera_info, rgb_to_image_msg
from spacetools_ros.sources.bag import BagSource
from spacetools_ros.sources.base import FrameSourceError
from spacetools_ros.sources.factory import open_source
from spacetools_ros.sources.folder import FolderSource
from spacetools_ros.sources.realsense import RealSenseSource
from spacetools_ros.sources.topics import CameraTopics


def _frames(n=3, h=24, w=32):
    rng = np.random.default_rng(3)
    intr = Intrinsics(30.0, 31.0, w / 2, h / 2, w, h)
    out = []
    for i in range(n):
        depth = rng.integers(300, 2000, (h, w)).astype(np.float32) * np.float32(0.001)  # on the 16UC1 mm grid
        depth[0, :3] = 0.0
        out.append(RGBDFrame(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), depth, intr, stamp=100.0 + i))
    return out


def write_bag(path, frames, topics=None, storage="mcap", depth_offset_s=0.0):
    """Record frames as a rosbag2 with rosbags (what a user's `ros2 bag record` produces)."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    topics = topics or CameraTopics()
    typestore = get_typestore(Stores.ROS2_JAZZY)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns = {
            "color": writer.add_connection(topics.color, "sensor_msgs/msg/Image", typestore=typestore),
            "depth": writer.add_connection(topics.depth, "sensor_msgs/msg/Image", typestore=typestore),
            "info": writer.add_connection(topics.color_info, "sensor_msgs/msg/CameraInfo", typestore=typestore),
        }
        for f in frames:
            t = int(f.stamp * 1e9)
            writer.write(conns["info"], t, serialize_message(intrinsics_to_camera_info(f.intrinsics, f.stamp, "cam")))
            writer.write(conns["color"], t, serialize_message(rgb_to_image_msg(f.rgb, f.stamp, "cam")))
            depth_stamp = f.stamp + depth_offset_s
            writer.write(conns["depth"], t + 1, serialize_message(depth_to_image_msg(f.depth, depth_stamp, "cam")))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_frames_equal_the_recorded_frames(tmp_path, storage):
    frames = _frames()
    write_bag(tmp_path / "bag", frames, storage=storage)
    with BagSource(tmp_path / "bag") as source:
        got = list(source)
    assert len(got) == len(frames)
    for a, b in zip(got, frames, strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth, b.depth)
        assert a.intrinsics == b.intrinsics and a.stamp == b.stamp and a.frame_id == "cam"


def test_bag_with_custom_topics_and_depth_slightly_late(tmp_path):
    topics = CameraTopics.under("/wrist/camera")
    write_bag(tmp_path / "bag", _frames(2), topics=topics, depth_offset_s=0.01)
    assert len(list(BagSource(tmp_path / "bag", topics=topics))) == 2
    # beyond the slop, colour and depth are not one frame
    assert list(BagSource(tmp_path / "bag", topics=topics, slop=0.005)) == []


def test_bag_without_camera_topics_names_what_it_has(tmp_path):
    write_bag(tmp_path / "bag", _frames(1), topics=CameraTopics.under("/other"))
    with pytest.raises(FrameSourceError, match="lacks topic.*/other/color/image_raw"):
        BagSource(tmp_path / "bag").open()


def test_missing_and_corrupt_bags_raise_frame_source_errors(tmp_path):
    with pytest.raises(FrameSourceError, match="does not exist"):
        BagSource(tmp_path / "nope").open()
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(b"not a bag at all")
    with pytest.raises(FrameSourceError, match="cannot read bag"):
        BagSource(bad).open()


def test_shared_bag_matches_its_source_folder(shared_data):
    bag = list(BagSource(shared_data / "bags" / "ucn_rgbd_mcap"))
    folder = list(FolderSource(shared_data / "ucn_demo_tabletop"))
    assert len(bag) == len(folder) == 9
    for a, b in zip(bag, folder, strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth, b.depth)
        assert a.intrinsics == b.intrinsics


def test_folder_of_colour_depth_pairs(tmp_path):
    frames = _frames(2)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i:06d}-color.png"), f.rgb[..., ::-1])
        cv2.imwrite(str(tmp_path / f"{i:06d}-depth.png"), np.rint(f.depth * 1000).astype(np.uint16))
    intr = frames[0].intrinsics
    (tmp_path / "camera_params.json").write_text(json.dumps(
        {"fx": intr.fx, "fy": intr.fy, "x_offset": intr.cx, "y_offset": intr.cy}))
    got = list(FolderSource(tmp_path))
    assert len(got) == 2
    np.testing.assert_array_equal(got[1].rgb, frames[1].rgb)
    np.testing.assert_allclose(got[1].depth, frames[1].depth, atol=1e-6)
    assert got[0].intrinsics == intr and got[0].T_base_camera is None


def test_folder_scene_layout_carries_the_camera_pose(tmp_path):
    f = _frames(1)[0]
    cv2.imwrite(str(tmp_path / "rgb.png"), f.rgb[..., ::-1])
    np.save(tmp_path / "depth.npy", f.depth)
    pose = np.eye(4)
    pose[:3, 3] = [0.5, 0.1, 0.7]
    (tmp_path / "meta_data.json").write_text(json.dumps(
        {"intrinsics": f.intrinsics.matrix.tolist(), "camera_pose": pose.tolist()}))
    frame = FolderSource(tmp_path).read()
    np.testing.assert_array_equal(frame.depth, f.depth)
    np.testing.assert_array_equal(frame.T_base_camera, pose)


def test_shared_scene_folder_reads_real_pose_and_depth(shared_data):
    frame = FolderSource(shared_data / "m2t2_real_scene_00").read()
    assert frame.rgb.shape == (720, 1280, 3) and frame.depth.shape == (720, 1280)
    assert frame.T_base_camera is not None and frame.intrinsics.fx == pytest.approx(912.72, abs=0.01)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FrameSourceError, match="holds no frames"):
        FolderSource(tmp_path)


def test_realsense_without_a_device_reports_no_device():
    with pytest.raises(FrameSourceError, match="no RealSense device"):
        RealSenseSource().open()


def test_factory_picks_the_source_from_the_spec(tmp_path):
    write_bag(tmp_path / "bag", _frames(1))
    assert isinstance(open_source(str(tmp_path / "bag")), BagSource)
    assert isinstance(open_source("realsense"), RealSenseSource)
    with pytest.raises(FrameSourceError, match="neither an existing folder"):
        open_source(str(tmp_path / "missing"))
    with pytest.raises(FrameSourceError, match="seed"):
        open_source("synthetic:abc")


def test_frame_validates_its_arrays():
    intr = Intrinsics(30.0, 30.0, 16, 12, 32, 24)
    with pytest.raises(ValueError, match="uint8"):
        RGBDFrame(np.zeros((24, 32, 3), np.float32), None, intr)
    with pytest.raises(ValueError, match="depth shape"):
        RGBDFrame(np.zeros((24, 32, 3), np.uint8), np.zeros((10, 10), np.float32), intr)
    with pytest.raises(ValueError, match="intrinsics are for"):
        RGBDFrame(np.zeros((10, 32, 3), np.uint8), None, intr)
