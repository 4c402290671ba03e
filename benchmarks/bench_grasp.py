"""Time compute_grasp (Franka hand grasp sampling) per object on 640x480 frames.

Run: .venv/bin/python benchmarks/bench_grasp.py [--repeats N]
Target: a median of at most ~15 ms per grasp (it feeds a 50 ms perception chain).
Frames: ucn_demo_tabletop frame 0 (recorded, segmented with segment_tabletop; skipped when
../shared/data is absent) and a generated scene (generate_tabletop, ground-truth masks). Segmentation is
done once, outside the timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spacetools_ros.frames.geometry import backproject_depth, transform_plane  # noqa: E402
from spacetools_ros.perception.grasp import GraspError, compute_grasp  # noqa: E402
from spacetools_ros.perception.tabletop import segment_tabletop  # noqa: E402
from spacetools_ros.sources.folder import FolderSource  # noqa: E402
from spacetools_ros.sources.synthetic import generate_tabletop  # noqa: E402

UCN = ROOT.parent / "shared" / "data" / "ucn_demo_tabletop"


def time_objects(name: str, cloud: np.ndarray, masks: list[np.ndarray], plane: np.ndarray, repeats: int) -> list[float]:
    """Print one line per object (median ms, outcome) and return every timed run (seconds)."""
    runs: list[float] = []
    for i, mask in enumerate(masks):
        try:
            grasp = compute_grasp(cloud, mask, plane)
            outcome = f"width {grasp.width:.3f} m, score {grasp.score:.2f}"
        except GraspError as error:
            outcome = f"GraspError: {error}"
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            try:
                compute_grasp(cloud, mask, plane)
            except GraspError:
                pass
            times.append(time.perf_counter() - t0)
        runs += times
        print(f"  {name} object {i}: {1000 * statistics.median(times):6.1f} ms  {outcome[:90]}")
    return runs


def report(name: str, runs: list[float]) -> None:
    """Print the median and 90th percentile over all objects' runs."""
    ms = 1000 * np.asarray(runs)
    print(f"{name}: median {np.median(ms):.1f} ms, p90 {np.percentile(ms, 90):.1f} ms over {len(ms)} runs\n")


def main() -> int:
    """Time the grasp of every object of the recorded and the generated frame."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per object (default 15)")
    args = parser.parse_args()

    if UCN.is_dir():
        frame = FolderSource(UCN).frame_at(0)
        scene = segment_tabletop(frame)
        cloud = backproject_depth(frame.depth, frame.intrinsics)
        masks = [o.mask for o in scene.objects]
        print(f"ucn_demo_tabletop frame 0 ({frame.width}x{frame.height}), {len(masks)} segmented objects")
        report("ucn_demo_tabletop/0", time_objects("ucn", cloud, masks, scene.plane.coefficients, args.repeats))
    else:
        print(f"recorded frames not found at {UCN}; timing the generated scene only\n")

    generated = generate_tabletop(seed=3, num_objects=6)
    frame = generated.frame
    cloud = backproject_depth(frame.depth, frame.intrinsics)
    plane = transform_plane(np.linalg.inv(frame.T_base_camera), np.array([0.0, 0.0, 1.0, 0.0]))
    masks = [generated.labels == i for i in range(len(generated.objects))]
    print(f"generated scene seed 3 ({frame.width}x{frame.height}), {len(masks)} objects")
    report("generated/3", time_objects("generated", cloud, masks, plane, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
