"""Timing of the default perception chain on one RGB-D frame, beside a naive open3d pipeline.

The chain is what a "segment the object at this point, box it, grasp it" request runs:

    backproject       frames.geometry.backproject_depth: the organised camera-frame cloud
    segment_tabletop  perception.tabletop.segment_tabletop: the table plane and the objects on it
    segment_at_point  the object under a pixel (the centre of the largest object): a lookup in the scene's
                      label image, and that object's mask
    oriented_box      perception.boxes.oriented_box of the mask's valid points, upright on the table
    grasp             perception.grasp.compute_grasp(cloud, mask, plane)

The naive pipeline is what one would write with open3d alone: a full-resolution point cloud from the RGB-D
image, a RANSAC plane (1000 iterations), DBSCAN of the remaining points, the oriented box of the largest
cluster.

Each step is timed on its own (time.perf_counter), medians over the repeats after a warm-up run; the chain
repeats all run before the naive ones so that the two do not disturb each other. Nothing is asserted about
the times: the report shows them, with the machine's load average, which matters on a shared machine.

Run: spacetools bench perf [--frames SPEC] [--repeats N] [--naive-repeats N] [--quick] [--json]  (one section of
the project's figures, gathered by spacetools_ros.bench.suite)
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import spacetools_ros
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.frames.geometry import backproject_depth, normalized_to_pixel
from spacetools_ros.perception.boxes import oriented_box
from spacetools_ros.perception.grasp import GraspError, compute_grasp
from spacetools_ros.perception.tabletop import TabletopScene, segment_tabletop
from spacetools_ros.sources.base import FrameSourceError
from spacetools_ros.sources.folder import FolderSource
from spacetools_ros.sources.synthetic import generate_tabletop

STEPS = ("backproject", "segment_tabletop", "segment_at_point", "oriented_box", "grasp")
"""The chain's steps, in order (keys of result["steps"])."""
NAIVE_STEPS = ("point_cloud", "segment_plane", "cluster_dbscan", "oriented_box")
"""The naive open3d pipeline's steps, in order (keys of result["naive_steps"])."""
DEFAULT_NAIVE_REPEATS = 5
"""The naive pipeline takes seconds per run: by default it is repeated at most this many times."""


def shared_data_dir() -> Path:
    """The recorded data beside the repository (../shared/data), which users' clones may lack."""
    return Path(spacetools_ros.__file__).resolve().parents[1].parent / "shared" / "data"


def default_frame() -> tuple[RGBDFrame, str]:
    """The first frame of shared/data/ucn_demo_tabletop when it is there, else the generated tabletop of
    seed 0 (both 640x480), with a description."""
    folder = shared_data_dir() / "ucn_demo_tabletop"
    if folder.is_dir():
        try:
            return FolderSource(folder).frame_at(0), f"{folder.name} frame 0"
        except (FrameSourceError, IndexError, OSError):
            pass
    return generate_tabletop(seed=0).frame, "synthetic tabletop (seed 0)"


def _query_pixel(scene: TabletopScene, width: int, height: int) -> tuple[int, int] | None:
    """(u, v): the centre pixel of the largest object, or its mask pixel nearest to the centre when the
    centre falls outside the mask (a bowl, a mug seen from the side); None without objects."""
    if not scene.objects:
        return None
    obj = max(scene.objects, key=lambda o: o.pixel_count)
    u, v = (int(round(float(c))) for c in normalized_to_pixel(*obj.center_2d, width, height))
    u, v = min(max(u, 0), width - 1), min(max(v, 0), height - 1)
    if not obj.mask[v, u]:
        vs, us = np.nonzero(obj.mask)
        k = int(np.argmin((us - u) ** 2 + (vs - v) ** 2))
        u, v = int(us[k]), int(vs[k])
    return u, v


def _run_chain(frame: RGBDFrame, pixel: tuple[int, int] | None) -> tuple[dict[str, float], dict]:
    """One run of the chain: the seconds of each step (those that ran) and what the run produced."""
    times: dict[str, float] = {}
    out: dict = {}
    t0 = time.perf_counter()
    cloud = backproject_depth(frame.depth, frame.intrinsics)
    t1 = time.perf_counter()
    times["backproject"] = t1 - t0
    scene = segment_tabletop(frame)
    t2 = time.perf_counter()
    times["segment_tabletop"] = t2 - t1
    out["scene"] = scene
    if pixel is None:
        out["error"] = "no object segmented: nothing to box or grasp"
        return times, out
    u, v = pixel
    label = int(scene.labels[v, u])
    mask = scene.labels == label if label >= 0 else np.zeros(scene.labels.shape, dtype=bool)
    t3 = time.perf_counter()
    times["segment_at_point"] = t3 - t2
    out["label"], out["mask"] = label, mask
    try:
        points = cloud[mask]
        points = points[~np.isnan(points[:, 2])]
        out["box"] = oriented_box(points, up=scene.plane.normal)
    except ValueError as exc:
        out["box_error"] = str(exc)
    t4 = time.perf_counter()
    times["oriented_box"] = t4 - t3
    try:
        out["grasp"] = compute_grasp(cloud, mask, scene.plane.coefficients)
    except (GraspError, ValueError) as exc:
        out["grasp_error"] = f"{type(exc).__name__}: {exc}"
    times["grasp"] = time.perf_counter() - t4
    return times, out


def _run_naive(frame: RGBDFrame) -> dict[str, float]:
    """One run of the naive open3d pipeline: the seconds of each step."""
    import open3d as o3d

    times: dict[str, float] = {}
    intr = frame.intrinsics
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        t0 = time.perf_counter()
        depth = np.nan_to_num(frame.depth, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(frame.rgb)),
            o3d.geometry.Image(depth),
            depth_scale=1.0,
            depth_trunc=3.0,
            convert_rgb_to_intensity=False,
        )
        camera = o3d.camera.PinholeCameraIntrinsic(frame.width, frame.height, intr.fx, intr.fy, intr.cx, intr.cy)
        cloud = o3d.geometry.PointCloud.create_from_rgbd_image(rgbd, camera)
        t1 = time.perf_counter()
        times["point_cloud"] = t1 - t0
        _, inliers = cloud.segment_plane(distance_threshold=0.01, ransac_n=3, num_iterations=1000)
        t2 = time.perf_counter()
        times["segment_plane"] = t2 - t1
        rest = cloud.select_by_index(inliers, invert=True)
        labels = np.asarray(rest.cluster_dbscan(eps=0.02, min_points=10))
        t3 = time.perf_counter()
        times["cluster_dbscan"] = t3 - t2
        if (labels >= 0).any():
            largest = int(np.argmax(np.bincount(labels[labels >= 0])))
            rest.select_by_index(np.flatnonzero(labels == largest)).get_oriented_bounding_box()
        times["oriented_box"] = time.perf_counter() - t3
    return times


def _stats(seconds: list[float]) -> dict[str, float]:
    return {"median_ms": 1000.0 * statistics.median(seconds), "min_ms": 1000.0 * min(seconds)}


def run_chain_benchmark(
    frame: RGBDFrame | None = None, repeats: int = 20, naive_repeats: int | None = None, naive_warmup: bool = True
) -> dict:
    """Time the perception chain and the naive open3d pipeline on one frame.

    frame: an RGB-D frame with depth; by default the first frame of shared/data/ucn_demo_tabletop, or the
        generated tabletop of seed 0 when the recorded data is absent (default_frame).
    repeats: timed runs of the chain, after one warm-up run.
    naive_repeats: timed runs of the naive pipeline (after one warm-up run); default
        min(repeats, DEFAULT_NAIVE_REPEATS), as it takes seconds per run.
    naive_warmup: run the naive pipeline once untimed first (False in quick runs: open3d is imported beforehand,
        and the pipeline has no caches to warm, so only a few seconds are saved at a small cost in accuracy).
    Returns a JSON-serialisable dict: "frame", "repeats", "naive_repeats", "machine", "load_average"
    (before and after), "steps" and "naive_steps" ({step: {"median_ms", "min_ms"}}), "chain" and "naive"
    (totals per run, {"median_ms", "min_ms"}), "ratio" (naive / chain medians), "objects", "query_pixel",
    "selected_object", "box", "grasp" ({"ok", "error", "score", "pose"}) and "errors" (what failed).
    A failed grasp or box is recorded, not raised. Raises ValueError when the frame has no depth.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if frame is None:
        frame, description = default_frame()
    else:
        description = str(frame.metadata.get("source", "given frame"))
    if frame.depth is None:
        raise ValueError("the benchmark needs a frame with depth")
    naive_repeats = min(repeats, DEFAULT_NAIVE_REPEATS) if naive_repeats is None else max(1, naive_repeats)
    load_before = os.getloadavg()

    _, warm = _run_chain(frame, None)
    pixel = _query_pixel(warm["scene"], frame.width, frame.height)
    _run_chain(frame, pixel)
    runs, totals = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        times, out = _run_chain(frame, pixel)
        totals.append(time.perf_counter() - t0)
        runs.append(times)

    if naive_warmup:
        _run_naive(frame)
    else:
        import open3d  # noqa: F401  (its import stays outside the timed runs)
    naive_runs, naive_totals = [], []
    for _ in range(naive_repeats):
        t0 = time.perf_counter()
        naive_runs.append(_run_naive(frame))
        naive_totals.append(time.perf_counter() - t0)

    scene: TabletopScene = out["scene"]
    errors = [out[k] for k in ("error", "box_error", "grasp_error") if k in out]
    result: dict = {
        "frame": {"description": description, "width": frame.width, "height": frame.height},
        "repeats": repeats,
        "naive_repeats": naive_repeats,
        "naive_warmup": naive_warmup,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "steps": {name: _stats([r[name] for r in runs]) for name in STEPS if name in runs[0]},
        "chain": _stats(totals),
        "naive_steps": {name: _stats([r[name] for r in naive_runs]) for name in NAIVE_STEPS},
        "naive": _stats(naive_totals),
        "objects": len(scene.objects),
        "query_pixel": None if pixel is None else list(pixel),
        "selected_object": None,
        "box": None,
        "grasp": {"ok": False, "error": out.get("grasp_error"), "score": None, "pose": None},
        "errors": errors,
    }
    result["ratio"] = result["naive"]["median_ms"] / result["chain"]["median_ms"]
    if pixel is not None and out["label"] >= 0:
        result["selected_object"] = {"id": out["label"], "pixel_count": int(out["mask"].sum())}
    if "box" in out:
        center, rotation, extent = out["box"]
        result["box"] = {"center": np.round(center, 4).tolist(), "extent": np.round(extent, 4).tolist()}
    if "grasp" in out:
        grasp = out["grasp"]
        result["grasp"] = {"ok": True, "error": None, "score": float(grasp.score), "pose": grasp.pose.tolist()}
    return result


def format_report(result: dict) -> str:
    """The benchmark result as text: the frame, the machine and its load, a table of the step medians and
    minima (ms), the chain total, the naive open3d total and steps, and the ratio naive / chain."""
    frame, load = result["frame"], result["load_average"]
    lines = [
        f"Perception chain on {frame['description']} ({frame['width']}x{frame['height']}): "
        f"medians over {result['repeats']} runs (naive pipeline: {result['naive_repeats']}) after a warm-up"
        + ("" if result.get("naive_warmup", True) else " (none for the naive pipeline)"),
        f"machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}; load average "
        f"{' '.join(f'{x:.2f}' for x in load['before'])} before, {' '.join(f'{x:.2f}' for x in load['after'])} after",
        "",
        f"{'step':<34}{'median ms':>10}{'min ms':>10}",
    ]
    for name, stats in result["steps"].items():
        lines.append(f"  {name:<32}{stats['median_ms']:>10.2f}{stats['min_ms']:>10.2f}")
    chain = result["chain"]
    lines.append(f"{'chain total':<34}{chain['median_ms']:>10.2f}{chain['min_ms']:>10.2f}")
    lines.append("")
    for name, stats in result["naive_steps"].items():
        lines.append(f"  naive {name:<26}{stats['median_ms']:>10.1f}{stats['min_ms']:>10.1f}")
    naive = result["naive"]
    lines.append(f"{'naive open3d total':<34}{naive['median_ms']:>10.1f}{naive['min_ms']:>10.1f}")
    lines.append(f"{'ratio naive / chain':<34}{result['ratio']:>9.1f}x")
    lines.append("")
    selected = result["selected_object"]
    grasp = result["grasp"]
    what = f"{result['objects']} objects"
    if selected is not None:
        what += f"; object {selected['id']} ({selected['pixel_count']} px) under pixel {tuple(result['query_pixel'])}"
    if result["box"] is not None:
        what += f"; box extent {result['box']['extent']} m"
    what += f"; grasp ok, score {grasp['score']:.2f}" if grasp["ok"] else f"; grasp failed: {grasp['error']}"
    lines.append(what)
    return "\n".join(lines)
