"""Vectorised conversions between numpy and sensor_msgs Image, CameraInfo and PointCloud2.

Readers are duck-typed (they only read the message fields), so they accept rclpy message
classes and the message objects `rosbags` deserialises alike. Writers build sensor_msgs classes,
imported lazily so that this module imports without a ROS installation.
"""

from __future__ import annotations

import array
from typing import Any

import numpy as np

from spacetools_ros.frames.frame import Intrinsics

# encoding -> (numpy dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
DEPTH_MM_SCALE = 0.001

# PointField datatype codes (sensor_msgs/PointField)
_POINTFIELD_DTYPES = {
    1: np.int8, 2: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32, 7: np.float32, 8: np.float64,
}
_FLOAT32 = 7


def stamp_to_seconds(stamp) -> float:
    """builtin_interfaces/Time (or anything with sec/nanosec) to float seconds."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def seconds_to_stamp(seconds: float):
    """Float seconds to builtin_interfaces/Time."""
    from builtin_interfaces.msg import Time

    sec = int(np.floor(seconds))
    nanosec = min(int(round((seconds - sec) * 1e9)), 999_999_999)
    return Time(sec=sec, nanosec=nanosec)


def _data_buffer(data) -> np.ndarray:
    """A flat uint8 view of a message's data field (array.array, bytes, list or ndarray)."""
    if isinstance(data, np.ndarray):
        return data.view(np.uint8).reshape(-1)
    if isinstance(data, list):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _to_uint8_array(buffer: np.ndarray) -> array.array:
    """A message data field from a contiguous buffer (one copy; rclpy keeps an array('B') as is)."""
    data = array.array("B")
    data.frombytes(memoryview(np.ascontiguousarray(buffer)).cast("B"))
    return data


def image_msg_to_array(msg) -> np.ndarray:
    """The pixels of an Image as HxW or HxWxC in the message's own channel order and dtype.

    Any row step (padding at row ends) and either byte order is accepted. The result is a
    native-endian copy the caller owns.
    """
    encoding = msg.encoding
    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding '{encoding}' (supported: {', '.join(IMAGE_ENCODINGS)})")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(f"image step {step} is shorter than a row of {width} {encoding} pixels ({row_bytes} B)")
    buf = _data_buffer(msg.data)
    if buf.size < step * height:
        raise ValueError(f"image data has {buf.size} bytes, expected {step * height} ({height} rows of {step})")
    rows = buf[: step * height].reshape(height, step)[:, :row_bytes]
    stored = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ascontiguousarray(rows).view(stored).astype(dtype, copy=False)
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.array(pixels.reshape(shape), copy=True)


def image_msg_to_rgb(msg) -> np.ndarray:
    """A colour Image (rgb8, bgr8 or mono8) as uint8 HxWx3 RGB."""
    pixels = image_msg_to_array(msg)
    if msg.encoding == "rgb8":
        return pixels
    if msg.encoding == "bgr8":
        return np.ascontiguousarray(pixels[..., ::-1])
    if msg.encoding == "mono8":
        return np.repeat(pixels[..., None], 3, axis=2)
    raise ValueError(f"'{msg.encoding}' is not a colour encoding (expected rgb8, bgr8 or mono8)")


def image_msg_to_depth(msg) -> np.ndarray:
    """A depth Image as float32 metres: 16UC1/mono16 are millimetres, 32FC1 is metres."""
    pixels = image_msg_to_array(msg)
    if msg.encoding in ("16UC1", "mono16"):
        return pixels.astype(np.float32) * np.float32(DEPTH_MM_SCALE)
    if msg.encoding == "32FC1":
        return pixels
    raise ValueError(f"'{msg.encoding}' is not a depth encoding (expected 16UC1 or 32FC1)")


def array_to_image_msg(
    pixels: np.ndarray, encoding: str, stamp: float = 0.0, frame_id: str = "", step: int | None = None
):
    """Build a sensor_msgs/Image from pixels already in `encoding`'s dtype and channel order.

    step may exceed the packed row length (rows are then zero-padded), as some drivers do.
    """
    from sensor_msgs.msg import Image

    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding '{encoding}'")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    pixels = np.asarray(pixels)
    expected_ndim = 3 if channels > 1 else 2
    if pixels.dtype != dtype or pixels.ndim != expected_ndim or (channels > 1 and pixels.shape[2] != channels):
        raise ValueError(f"{encoding} needs {dtype} pixels of {channels} channel(s), got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    row_bytes = width * channels * dtype.itemsize
    step = row_bytes if step is None else int(step)
    if step < row_bytes:
        raise ValueError(f"step {step} is shorter than a row ({row_bytes} bytes)")
    little = pixels.astype(dtype.newbyteorder("<"), copy=False).reshape(height, row_bytes // dtype.itemsize)
    if step == row_bytes:
        data = _to_uint8_array(little)
    else:
        padded = np.zeros((height, step), dtype=np.uint8)
        padded[:, :row_bytes] = np.ascontiguousarray(little).view(np.uint8)
        data = _to_uint8_array(padded)
    msg = Image(check_fields=True)  # checked setters keep our array('B') without a per-byte copy
    msg.header.stamp = seconds_to_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = 0
    msg.step = step
    msg.data = data
    return msg


def rgb_to_image_msg(rgb: np.ndarray, stamp: float = 0.0, frame_id: str = "", encoding: str = "rgb8"):
    """A uint8 HxWx3 RGB image as an Image in rgb8 (default), bgr8 or mono8."""
    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = np.ascontiguousarray(rgb[..., ::-1])
    elif encoding == "mono8":
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        pixels = np.clip(np.rint(rgb.astype(np.float32) @ weights), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"'{encoding}' is not a colour encoding")
    return array_to_image_msg(pixels, encoding, stamp, frame_id)


def depth_to_image_msg(depth: np.ndarray, stamp: float = 0.0, frame_id: str = "", encoding: str = "16UC1"):
    """Float metres (0/NaN invalid) as 16UC1 millimetres (realsense2_camera's format) or 32FC1 metres."""
    depth = np.asarray(depth, dtype=np.float32)
    if encoding == "16UC1":
        valid = np.isfinite(depth) & (depth > 0)
        mm = np.where(valid, np.rint(depth / np.float32(DEPTH_MM_SCALE)), 0)
        pixels = np.clip(mm, 0, np.iinfo(np.uint16).max).astype(np.uint16)
    elif encoding == "32FC1":
        pixels = depth
    else:
        raise ValueError(f"'{encoding}' is not a depth encoding (expected 16UC1 or 32FC1)")
    return array_to_image_msg(pixels, encoding, stamp, frame_id)


def camera_info_to_intrinsics(msg) -> Intrinsics:
    """Intrinsics from a CameraInfo's K matrix and image size."""
    k = np.asarray(msg.k, dtype=np.float64)
    if k.size != 9 or k[0] <= 0:
        raise ValueError("camera_info has no valid K matrix")
    return Intrinsics.from_matrix(k, int(msg.width), int(msg.height))


def intrinsics_to_camera_info(intrinsics: Intrinsics, stamp: float = 0.0, frame_id: str = ""):
    """A distortion-free CameraInfo (plumb_bob, D = 0) for the intrinsics."""
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header.stamp = seconds_to_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.width, msg.height = intrinsics.width, intrinsics.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = intrinsics.matrix.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    p = np.zeros((3, 4))
    p[:, :3] = intrinsics.matrix
    msg.p = p.reshape(-1).tolist()
    return msg


def _cloud_dtype(fields, point_step: int, names: list[str]) -> np.dtype:
    """A structured dtype over one point of `point_step` bytes holding the named fields."""
    by_name = {f.name: f for f in fields}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"point cloud lacks field(s) {missing}; it has {sorted(by_name)}")
    formats = []
    for n in names:
        f = by_name[n]
        if f.datatype not in _POINTFIELD_DTYPES:
            raise ValueError(f"point field '{n}' has unknown datatype {f.datatype}")
        formats.append(_POINTFIELD_DTYPES[f.datatype])
    return np.dtype({"names": names, "formats": formats, "offsets": [by_name[n].offset for n in names],
                     "itemsize": point_step})


def pointcloud2_to_points(msg, skip_nans: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(Nx3 float32 xyz, Nx3 uint8 rgb or None) from a PointCloud2 (organised or not).

    rgb is read from a packed 'rgb' or 'rgba' field (PCL convention: 0x00RRGGBB in 4 bytes).
    """
    fields = list(msg.fields)
    field_names = {f.name for f in fields}
    colour_field = "rgb" if "rgb" in field_names else ("rgba" if "rgba" in field_names else None)
    names = ["x", "y", "z"] + ([colour_field] if colour_field else [])
    dtype = _cloud_dtype(fields, int(msg.point_step), names)
    if msg.is_bigendian:
        dtype = dtype.newbyteorder(">")
    count = int(msg.width) * int(msg.height)
    buf = _data_buffer(msg.data)
    row_step, point_step = int(msg.row_step), int(msg.point_step)
    if row_step == int(msg.width) * point_step:
        raw = np.frombuffer(buf[: count * point_step], dtype=dtype)
    else:  # rows carry padding: drop it before viewing the points
        rows = buf[: row_step * int(msg.height)].reshape(int(msg.height), row_step)
        raw = np.ascontiguousarray(rows[:, : int(msg.width) * point_step]).reshape(-1).view(dtype)
    xyz = np.empty((count, 3), dtype=np.float32)
    xyz[:, 0], xyz[:, 1], xyz[:, 2] = raw["x"], raw["y"], raw["z"]
    colours = None
    if colour_field:
        packed = np.ascontiguousarray(raw[colour_field]).view(np.uint32 if not msg.is_bigendian else ">u4")
        packed = packed.astype(np.uint32)
        colours = np.empty((count, 3), dtype=np.uint8)
        colours[:, 0], colours[:, 1], colours[:, 2] = packed >> 16, packed >> 8, packed
    if skip_nans:
        # x + y + z is non-finite exactly when one coordinate is; cheaper than a row-wise all()
        keep = np.isfinite(xyz[:, 0] + xyz[:, 1] + xyz[:, 2])
        if not keep.all():
            xyz = xyz[keep]
            colours = colours[keep] if colours is not None else None
    return xyz, colours


def points_to_pointcloud2(
    points: np.ndarray, colours: np.ndarray | None = None, stamp: float = 0.0, frame_id: str = "",
    height: int = 1,
):
    """A PointCloud2 with float32 x, y, z and, when colours are given, a packed float32 'rgb' field.

    height > 1 makes an organised cloud of height rows (N must divide evenly).
    """
    from sensor_msgs.msg import PointCloud2, PointField

    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    n = points.shape[0]
    if n % height:
        raise ValueError(f"{n} points cannot form {height} rows")
    with_colour = colours is not None
    if with_colour:
        colours = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
        if colours.shape[0] != n:
            raise ValueError(f"{colours.shape[0]} colours for {n} points")
    step = 16 if with_colour else 12
    if with_colour:  # PCL's packed 0x00RRGGBB, stored in a float32 field
        packed = (colours[:, 0].astype(np.uint32) << 16) | (colours[:, 1].astype(np.uint32) << 8) | colours[:, 2]
        cloud = np.hstack([points, packed.view(np.float32)[:, None]])
    else:
        cloud = points
    msg = PointCloud2(check_fields=True)  # see array_to_image_msg
    msg.header.stamp = seconds_to_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.height, msg.width = height, n // height
    names = ["x", "y", "z"] + (["rgb"] if with_colour else [])
    msg.fields = [PointField(name=name, offset=4 * i, datatype=_FLOAT32, count=1) for i, name in enumerate(names)]
    msg.is_bigendian = False
    msg.point_step = step
    msg.row_step = step * msg.width
    msg.is_dense = bool(np.isfinite(points.sum()))  # NaN/inf anywhere makes the sum non-finite
    msg.data = _to_uint8_array(cloud)
    return msg


def matrix_to_pose_msg(T: np.ndarray) -> Any:
    """A 4x4 rigid transform as a geometry_msgs/Pose (quaternion via scipy, x y z w)."""
    from geometry_msgs.msg import Pose
    from scipy.spatial.transform import Rotation

    M = np.asarray(T, dtype=np.float64)
    x, y, z, w = Rotation.from_matrix(M[:3, :3]).as_quat()
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in M[:3, 3])
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (
        float(x), float(y), float(z), float(w))
    return pose


def pose_msg_to_matrix(pose: Any) -> np.ndarray:
    """A geometry_msgs/Pose (or anything with position.x.. and orientation.x..w) as a 4x4 transform."""
    from scipy.spatial.transform import Rotation

    o, p = pose.orientation, pose.position
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([float(o.x), float(o.y), float(o.z), float(o.w)]).as_matrix()
    T[:3, 3] = (float(p.x), float(p.y), float(p.z))
    return T
