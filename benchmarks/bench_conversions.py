"""Time numpy <-> sensor_msgs conversions of a 640x480 frame beside per-point/per-pixel Python loops.

Run: .venv/bin/python benchmarks/bench_conversions.py   (target: PointCloud2 <= 5 ms each way)
"""

from __future__ import annotations

import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spacetools_ros.ros.conversions import (  # noqa: E402
    depth_to_image_msg,
    image_msg_to_depth,
    image_msg_to_rgb,
    pointcloud2_to_points,
    points_to_pointcloud2,
    rgb_to_image_msg,
)

H, W = 480, 640


def median_ms(fn, repeats: int) -> float:
    """Median wall time of fn() in milliseconds (one warm-up call first)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def loop_to_cloud(points: np.ndarray, colours: np.ndarray) -> bytes:
    """Baseline: pack each point with struct, as naive ROS code does."""
    out = bytearray()
    for (x, y, z), (r, g, b) in zip(points.tolist(), colours.tolist(), strict=True):
        out += struct.pack("<fffI", x, y, z, (r << 16) | (g << 8) | b)
    return bytes(out)


def loop_from_cloud(data: bytes, n: int) -> list:
    """Baseline: unpack each point with struct."""
    return [struct.unpack_from("<fffI", data, 16 * i) for i in range(n)]


def main() -> None:
    """Print a table of medians and ratios to the loop baselines."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(H * W, 3)).astype(np.float32)
    colours = rng.integers(0, 256, (H * W, 3), dtype=np.uint8)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = rng.integers(300, 3000, (H, W)).astype(np.float32) * np.float32(0.001)
    cloud = points_to_pointcloud2(points, colours, height=H)
    rgb_msg, depth_msg = rgb_to_image_msg(rgb), depth_to_image_msg(depth)

    to_msg = median_ms(lambda: points_to_pointcloud2(points, colours, height=H), 30)
    from_msg = median_ms(lambda: pointcloud2_to_points(cloud), 30)
    loop_to = median_ms(lambda: loop_to_cloud(points, colours), 3)
    loop_from = median_ms(lambda: loop_from_cloud(bytes(cloud.data), H * W), 3)
    rows = [
        ("xyzrgb numpy -> PointCloud2", to_msg, loop_to),
        ("xyzrgb PointCloud2 -> numpy", from_msg, loop_from),
        ("rgb8 numpy -> Image", median_ms(lambda: rgb_to_image_msg(rgb), 30), None),
        ("rgb8 Image -> numpy", median_ms(lambda: image_msg_to_rgb(rgb_msg), 30), None),
        ("depth m -> 16UC1 Image", median_ms(lambda: depth_to_image_msg(depth), 30), None),
        ("16UC1 Image -> depth m", median_ms(lambda: image_msg_to_depth(depth_msg), 30), None),
    ]
    print("640x480 conversions (median ms; target for PointCloud2: <= 5 ms each way)")
    print(f"{'conversion':32s} {'vectorised':>11s} {'per-point loop':>15s} {'speed-up':>9s}")
    for name, ms, base in rows:
        extra = f"{base:15.1f} {base / ms:8.0f}x" if base else f"{'':15s} {'':9s}"
        print(f"{name:32s} {ms:11.2f} {extra}")


if __name__ == "__main__":
    main()
