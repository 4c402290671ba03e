"""Timing of the numpy <-> sensor_msgs conversions of one 640x480 frame beside per-point Python loops.

Six conversions of spacetools_ros.ros.conversions are timed, each beside the loop that naive ROS code writes for
the same job (struct.pack / struct.unpack_from once per point or pixel), measured in the same run:

    xyzrgb numpy -> PointCloud2   points_to_pointcloud2 (organised, packed rgb)  vs  struct.pack("<fffI") per point
    xyzrgb PointCloud2 -> numpy   pointcloud2_to_points                          vs  struct.unpack_from per point
    rgb8 numpy -> Image           rgb_to_image_msg                               vs  struct.pack("BBB") per pixel
    rgb8 Image -> numpy           image_msg_to_rgb                               vs  struct.unpack_from per pixel
    depth m -> 16UC1 Image        depth_to_image_msg (millimetres)               vs  struct.pack("<H") per pixel
    16UC1 Image -> depth m        image_msg_to_depth                             vs  struct.unpack_from per pixel

The loops produce the message's data bytes (numpy -> message) or the same arrays (message -> numpy); their output is
checked once against the vectorised one ("checked" in each row). The vectorised conversions are timed after one
warm-up call; the loops (pure Python, nothing to warm) are not. Medians; nothing is asserted about the times.

Run: .venv/bin/python benchmarks/bench_conversions.py [--quick] [--json]  (also part of `spacetools bench perf`)
"""

from __future__ import annotations

import os
import statistics
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

CONVERSIONS = (
    "xyzrgb numpy -> PointCloud2",
    "xyzrgb PointCloud2 -> numpy",
    "rgb8 numpy -> Image",
    "rgb8 Image -> numpy",
    "depth m -> 16UC1 Image",
    "16UC1 Image -> depth m",
)
"""The conversions timed, in order (the "name" of each row of result["rows"])."""
BASELINE = "per-element Python loop (struct)"
"""What every conversion is compared with."""
QUICK = {"repeats": 5, "loop_repeats": 1}
"""Settings of a quick run (CI): fewer timed runs, the same 640x480 frame."""


def _timed(fn: Callable[[], Any], repeats: int, warmup: bool) -> tuple[list[float], Any]:
    """Seconds of each of ``repeats`` calls of fn (after one untimed call when ``warmup``) and the last output."""
    out = fn() if warmup else None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def loop_to_cloud(points: np.ndarray, colours: np.ndarray) -> bytes:
    """Baseline: pack each point (x, y, z, 0x00RRGGBB) with struct, as naive ROS code does."""
    out = bytearray()
    for (x, y, z), (r, g, b) in zip(points.tolist(), colours.tolist(), strict=True):
        out += struct.pack("<fffI", x, y, z, (r << 16) | (g << 8) | b)
    return bytes(out)


def loop_from_cloud(data: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Baseline: unpack each point with struct; (Nx3 float32 xyz, Nx3 uint8 rgb)."""
    xyz, rgb = [], []
    for i in range(n):
        x, y, z, c = struct.unpack_from("<fffI", data, 16 * i)
        xyz.append((x, y, z))
        rgb.append(((c >> 16) & 255, (c >> 8) & 255, c & 255))
    return np.array(xyz, dtype=np.float32), np.array(rgb, dtype=np.uint8)


def loop_rgb_to_bytes(rgb: np.ndarray) -> bytes:
    """Baseline: an rgb8 Image's data, one struct.pack per pixel."""
    out = bytearray()
    for r, g, b in rgb.reshape(-1, 3).tolist():
        out += struct.pack("BBB", r, g, b)
    return bytes(out)


def loop_bytes_to_rgb(data: bytes, height: int, width: int) -> np.ndarray:
    """Baseline: an rgb8 Image's data as HxWx3 uint8, one struct.unpack_from per pixel."""
    pixels = [struct.unpack_from("BBB", data, 3 * i) for i in range(height * width)]
    return np.array(pixels, dtype=np.uint8).reshape(height, width, 3)


def loop_depth_to_bytes(depth: np.ndarray) -> bytes:
    """Baseline: a 16UC1 Image's data (millimetres, 0 where invalid), one struct.pack per pixel."""
    out = bytearray()
    for d in depth.reshape(-1).tolist():
        mm = round(d * 1000.0) if d > 0 and d == d and d != float("inf") else 0
        out += struct.pack("<H", min(mm, 65535))
    return bytes(out)


def loop_bytes_to_depth(data: bytes, height: int, width: int) -> np.ndarray:
    """Baseline: a 16UC1 Image's data as HxW float32 metres, one struct.unpack_from per pixel."""
    metres = [struct.unpack_from("<H", data, 2 * i)[0] * 0.001 for i in range(height * width)]
    return np.array(metres, dtype=np.float32).reshape(height, width)


def _stats(seconds: list[float]) -> dict[str, float]:
    """Median and minimum in milliseconds."""
    return {"median_ms": 1000.0 * statistics.median(seconds), "min_ms": 1000.0 * min(seconds)}


def run_conversions_benchmark(repeats: int = 30, loop_repeats: int = 3, height: int = 480, width: int = 640,
                              seed: int = 0) -> dict:
    """Time the six conversions (module docstring) on a random height x width frame beside their loops.

    repeats: timed runs of each vectorised conversion (after one warm-up call); loop_repeats: timed runs of each
    loop. Returns a JSON-serialisable dict: "resolution" [width, height], "points", "repeats", "loop_repeats",
    "baseline" (BASELINE), "load_average" and "rows", one per conversion (CONVERSIONS order):
    {"name", "median_ms", "min_ms", "baseline_median_ms", "baseline_min_ms", "ratio" (baseline / vectorised
    medians), "checked" (the loop's output equals the vectorised one)}.
    """
    from spacetools_ros.ros.conversions import (
        depth_to_image_msg,
        image_msg_to_depth,
        image_msg_to_rgb,
        pointcloud2_to_points,
        points_to_pointcloud2,
        rgb_to_image_msg,
    )

    if repeats < 1 or loop_repeats < 1:
        raise ValueError(f"repeats and loop_repeats must be at least 1, got {repeats} and {loop_repeats}")
    h, w, n = height, width, height * width
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 3)).astype(np.float32)
    colours = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = rng.integers(300, 3000, (h, w)).astype(np.float32) * np.float32(0.001)
    depth[0, :4] = 0.0  # a few invalid pixels, as a sensor has
    cloud = points_to_pointcloud2(points, colours, height=h)
    rgb_msg, depth_msg = rgb_to_image_msg(rgb), depth_to_image_msg(depth)
    cloud_bytes, rgb_bytes, depth_bytes = bytes(cloud.data), bytes(rgb_msg.data), bytes(depth_msg.data)

    def same_cloud(out: tuple[np.ndarray, np.ndarray]) -> bool:
        xyz, col = pointcloud2_to_points(cloud)
        return bool(np.array_equal(out[0], xyz) and np.array_equal(out[1], col))

    cases: list[tuple[Callable[[], Any], Callable[[], Any], Callable[[Any], bool]]] = [
        (lambda: points_to_pointcloud2(points, colours, height=h), lambda: loop_to_cloud(points, colours),
         lambda out: out == cloud_bytes),
        (lambda: pointcloud2_to_points(cloud), lambda: loop_from_cloud(cloud_bytes, n), same_cloud),
        (lambda: rgb_to_image_msg(rgb), lambda: loop_rgb_to_bytes(rgb), lambda out: out == rgb_bytes),
        (lambda: image_msg_to_rgb(rgb_msg), lambda: loop_bytes_to_rgb(rgb_bytes, h, w),
         lambda out: bool(np.array_equal(out, rgb))),
        (lambda: depth_to_image_msg(depth), lambda: loop_depth_to_bytes(depth), lambda out: out == depth_bytes),
        (lambda: image_msg_to_depth(depth_msg), lambda: loop_bytes_to_depth(depth_bytes, h, w),
         lambda out: bool(np.allclose(out, image_msg_to_depth(depth_msg), rtol=0, atol=1e-6))),
    ]
    load_before = os.getloadavg()
    rows = []
    for name, (vectorised, loop, check) in zip(CONVERSIONS, cases, strict=True):
        fast, _ = _timed(vectorised, repeats, warmup=True)
        slow, out = _timed(loop, loop_repeats, warmup=False)
        fast_stats, slow_stats = _stats(fast), _stats(slow)
        rows.append({"name": name, **fast_stats, "baseline_median_ms": slow_stats["median_ms"],
                     "baseline_min_ms": slow_stats["min_ms"],
                     "ratio": slow_stats["median_ms"] / fast_stats["median_ms"], "checked": check(out)})
    return {"resolution": [w, h], "points": n, "repeats": repeats, "loop_repeats": loop_repeats,
            "baseline": BASELINE, "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
            "rows": rows}


def format_conversions_report(result: dict) -> str:
    """The result as a table: median ms of each conversion, of its loop, and the speed-up (loop / vectorised)."""
    w, h = result["resolution"]
    lines = [f"{w}x{h} conversions (median ms of {result['repeats']} runs; loops: {result['loop_repeats']}; "
             "target for PointCloud2: <= 5 ms each way)",
             f"{'conversion':32s} {'vectorised':>11s} {'per-point loop':>15s} {'speed-up':>9s}  same output"]
    for row in result["rows"]:
        lines.append(f"{row['name']:32s} {row['median_ms']:11.2f} {row['baseline_median_ms']:15.1f} "
                     f"{row['ratio']:8.0f}x  {'yes' if row['checked'] else 'NO'}")
    load = result["load_average"]
    lines.append(f"load average {load['before'][0]:.2f} before, {load['after'][0]:.2f} after, "
                 f"on {os.cpu_count()} CPUs")
    return "\n".join(lines)
