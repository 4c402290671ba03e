"""numpy <-> sensor_msgs conversions: exact round trips for every encoding, padded rows, byte order."""

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from spacetools_ros.frames.frame import Intrinsics
from spacetools_ros.ros.conversions import (
    array_to_image_msg,
    camera_info_to_intrinsics,
    depth_to_image_msg,
    image_msg_to_array,
    image_msg_to_depth,
    image_msg_to_rgb,
    intrinsics_to_camera_info,
    pointcloud2_to_points,
    points_to_pointcloud2,
    rgb_to_image_msg,
    seconds_to_stamp,
    stamp_to_seconds,
)

RNG = np.random.default_rng(7)
H, W = 37, 53  # odd sizes catch stride mistakes

SAMPLES = {
    "rgb8": RNG.integers(0, 256, (H, W, 3), dtype=np.uint8),
    "bgr8": RNG.integers(0, 256, (H, W, 3), dtype=np.uint8),
    "mono8": RNG.integers(0, 256, (H, W), dtype=np.uint8),
    "16UC1": RNG.integers(0, 65536, (H, W), dtype=np.uint16),
    "32FC1": RNG.normal(1.0, 0.3, (H, W)).astype(np.float32),
}


def _wire(msg, kind):
    """Serialise and deserialise with rclpy, as a message crossing processes would."""
    return deserialize_message(serialize_message(msg), kind)


@pytest.mark.parametrize("encoding", sorted(SAMPLES))
@pytest.mark.parametrize("padding", [0, 3, 64])
def test_image_round_trip_is_exact_for_every_encoding_and_row_step(encoding, padding):
    pixels = SAMPLES[encoding]
    row_bytes = pixels[0].nbytes
    msg = array_to_image_msg(pixels, encoding, stamp=12.5, frame_id="cam", step=row_bytes + padding)
    assert msg.step == row_bytes + padding
    back = image_msg_to_array(_wire(msg, Image))
    assert back.dtype == pixels.dtype
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_big_endian_images_are_read_correctly(encoding):
    pixels = SAMPLES[encoding]
    msg = Image(height=H, width=W, encoding=encoding, is_bigendian=1, step=pixels[0].nbytes)
    msg.data = pixels.astype(pixels.dtype.newbyteorder(">")).tobytes()
    np.testing.assert_array_equal(image_msg_to_array(msg), pixels)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_colour_helpers_return_rgb_whatever_the_encoding(encoding):
    rgb = SAMPLES["rgb8"]
    msg = rgb_to_image_msg(rgb, encoding=encoding)
    assert msg.encoding == encoding
    np.testing.assert_array_equal(image_msg_to_rgb(_wire(msg, Image)), rgb)
    if encoding == "bgr8":
        np.testing.assert_array_equal(image_msg_to_array(msg), rgb[..., ::-1])


def test_mono8_becomes_grey_rgb():
    grey = SAMPLES["mono8"]
    rgb = image_msg_to_rgb(array_to_image_msg(grey, "mono8"))
    assert rgb.shape == (H, W, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey)


def test_depth_millimetres_and_metres_round_trip():
    mm = RNG.integers(1, 9000, (H, W)).astype(np.uint16)
    mm[0, :5] = 0
    metres = mm.astype(np.float32) * np.float32(0.001)
    as_16 = depth_to_image_msg(metres, encoding="16UC1")
    np.testing.assert_array_equal(image_msg_to_array(as_16), mm)
    np.testing.assert_array_equal(image_msg_to_depth(as_16), metres)
    as_32 = depth_to_image_msg(metres, encoding="32FC1")
    np.testing.assert_array_equal(image_msg_to_depth(_wire(as_32, Image)), metres)


def test_invalid_depth_becomes_zero_millimetres():
    depth = np.full((4, 4), 0.5, dtype=np.float32)
    depth[0, 0], depth[1, 1], depth[2, 2] = np.nan, 0.0, -1.0
    mm = image_msg_to_array(depth_to_image_msg(depth))
    assert mm[0, 0] == mm[1, 1] == mm[2, 2] == 0
    assert mm[3, 3] == 500


def test_bad_images_raise_clear_errors():
    with pytest.raises(ValueError, match="unsupported image encoding"):
        image_msg_to_array(Image(height=1, width=1, encoding="yuv422", step=2, data=b"\0\0"))
    with pytest.raises(ValueError, match="expected"):
        image_msg_to_array(Image(height=4, width=4, encoding="mono8", step=4, data=b"\0" * 8))
    with pytest.raises(ValueError, match="shorter than a row"):
        image_msg_to_array(Image(height=1, width=4, encoding="rgb8", step=4, data=b"\0" * 12))
    with pytest.raises(ValueError, match="not a depth encoding"):
        image_msg_to_depth(array_to_image_msg(SAMPLES["rgb8"], "rgb8"))


def test_camera_info_round_trip():
    intr = Intrinsics(612.9, 613.2, 322.5, 248.1, 640, 480)
    msg = _wire(intrinsics_to_camera_info(intr, stamp=3.25, frame_id="cam"), CameraInfo)
    assert camera_info_to_intrinsics(msg) == intr
    assert msg.header.frame_id == "cam" and stamp_to_seconds(msg.header.stamp) == 3.25
    assert list(msg.p)[:3] == [intr.fx, 0.0, intr.cx]


def test_stamps_round_trip_to_the_nanosecond():
    for t in (0.0, 1.5, 1700000000.123456789):
        stamp = seconds_to_stamp(t)
        assert 0 <= stamp.nanosec < 1_000_000_000
        assert abs(stamp_to_seconds(stamp) - t) < 1e-6


@pytest.mark.parametrize("with_colour", [False, True])
@pytest.mark.parametrize("height", [1, 48])
def test_pointcloud_round_trip_is_exact(with_colour, height):
    n = 48 * 64
    points = RNG.normal(size=(n, 3)).astype(np.float32)
    colours = RNG.integers(0, 256, (n, 3), dtype=np.uint8) if with_colour else None
    msg = _wire(points_to_pointcloud2(points, colours, stamp=2.0, frame_id="cam", height=height), PointCloud2)
    assert (msg.height, msg.width) == (height, n // height)
    assert [f.name for f in msg.fields] == ["x", "y", "z"] + (["rgb"] if with_colour else [])
    xyz, rgb = pointcloud2_to_points(msg)
    np.testing.assert_array_equal(xyz, points)
    if with_colour:
        np.testing.assert_array_equal(rgb, colours)
    else:
        assert rgb is None


def test_pointcloud_nans_are_skipped_on_request_and_mark_cloud_not_dense():
    points = RNG.normal(size=(10, 3)).astype(np.float32)
    points[3, 1] = np.nan
    msg = points_to_pointcloud2(points)
    assert not msg.is_dense
    assert pointcloud2_to_points(msg)[0].shape == (9, 3)
    assert pointcloud2_to_points(msg, skip_nans=False)[0].shape == (10, 3)


def test_pointcloud_with_foreign_layout_padding_and_rgba_is_read():
    """A driver-style cloud: extra field, 32-byte points, padded rows, packed rgba."""
    from sensor_msgs.msg import PointField

    rows, cols = 3, 5
    layout = np.dtype({"names": ["x", "y", "z", "intensity", "rgba"],
                       "formats": ["<f4", "<f4", "<f4", "<f4", "<u4"],
                       "offsets": [0, 4, 8, 16, 20], "itemsize": 32})
    cloud = np.zeros(rows * cols, dtype=layout)
    xyz = RNG.normal(size=(rows * cols, 3)).astype(np.float32)
    cloud["x"], cloud["y"], cloud["z"] = xyz.T
    rgb = RNG.integers(0, 256, (rows * cols, 3), dtype=np.uint8)
    cloud["rgba"] = (0xFF << 24) | (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]
    row_step = cols * 32 + 8
    data = np.zeros((rows, row_step), dtype=np.uint8)
    data[:, : cols * 32] = cloud.view(np.uint8).reshape(rows, cols * 32)
    msg = PointCloud2(height=rows, width=cols, point_step=32, row_step=row_step, is_bigendian=False)
    msg.fields = [PointField(name=n, offset=o, datatype=d, count=1)
                  for n, o, d in (("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("intensity", 16, 7), ("rgba", 20, 6))]
    msg.data = data.tobytes()
    got_xyz, got_rgb = pointcloud2_to_points(msg)
    np.testing.assert_array_equal(got_xyz, xyz)
    np.testing.assert_array_equal(got_rgb, rgb)


def test_pointcloud_without_xyz_is_rejected():
    from sensor_msgs.msg import PointField

    msg = PointCloud2(height=1, width=1, point_step=4, row_step=4, data=b"\0" * 4,
                      fields=[PointField(name="intensity", offset=0, datatype=7, count=1)])
    with pytest.raises(ValueError, match="lacks field"):
        pointcloud2_to_points(msg)
