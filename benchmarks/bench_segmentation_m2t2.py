"""Tabletop segmentation on the real M2T2 Franka scene (1280x720): plane error, object recall, timing.

Run: .venv/bin/python benchmarks/bench_segmentation_m2t2.py [--repeats N]
Targets: plane within 1 cm of the table top (z = 0 in the base frame); at least 80 % of the labelled objects
of >= 3000 pixels matched by a segmented object with mask IoU >= 0.5; at least 80 % of them with IoU >= 0.7
for the object found under the label's centroid pixel (segmentation from a point; the mask pixel nearest to
the centroid when the centroid falls outside the mask); well under 1.5 s per frame.
Exits 0 with a message when ../shared/data/m2t2_real_scene_00 is absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spacetools_ros.bench.masks import centroid_pixel, mask_iou  # noqa: E402
from spacetools_ros.frames.geometry import backproject_depth, transform_points  # noqa: E402
from spacetools_ros.perception.tabletop import segment_tabletop  # noqa: E402
from spacetools_ros.sources.folder import FolderSource  # noqa: E402

SCENE = ROOT.parent / "shared" / "data" / "m2t2_real_scene_00"
MIN_PIXELS = 3000
MIN_IOU = 0.5
MIN_POINT_IOU = 0.7


def main() -> int:
    """Segment the scene, print the plane error, the per-object IoU table and the timing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after one warm-up (default 5)")
    args = parser.parse_args()
    if not SCENE.is_dir():
        print(f"M2T2 scene not found at {SCENE}; nothing to benchmark")
        return 0

    frame = FolderSource(SCENE).read()
    result = segment_tabletop(frame)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        segment_tabletop(frame)
        times.append(time.perf_counter() - t0)

    a, b, c, d = result.plane.coefficients_base
    cloud = backproject_depth(frame.depth, frame.intrinsics)
    table = transform_points(frame.T_base_camera, cloud[result.plane.inlier_mask].astype(np.float64))
    z_plane = -(a * table[:, 0] + b * table[:, 1] + d) / c
    cx, cy = table[:, :2].mean(axis=0)
    z_centre = -(a * cx + b * cy + d) / c
    tilt = np.degrees(np.arccos(min(abs(c) / np.linalg.norm([a, b, c]), 1.0)))
    print(f"frame {frame.width}x{frame.height}, {len(result.objects)} objects segmented")
    print(f"plane (base frame): {np.round(result.plane.coefficients_base, 5).tolist()}")
    print(
        f"plane error: {100 * z_centre:+.2f} cm at the table inliers' centroid ({cx:.2f}, {cy:.2f}) m, "
        f"{100 * np.percentile(np.abs(z_plane), 95):.2f} cm at the 95th percentile over the table, "
        f"normal {tilt:.2f} deg from +z"
    )

    seg = cv2.imread(str(SCENE / "seg.png"), cv2.IMREAD_UNCHANGED)
    names = {v: k for k, v in json.loads((SCENE / "meta_data.json").read_text())["label_map"].items()}
    print(f"\n{'label':>6} {'name':>7} {'pixels':>7} {'best IoU':>8}  {'matched object':<25}{'at centroid':>12}")
    matched = counted = pointed = 0
    for label in range(101, 113):
        truth = seg == label
        pixels = int(truth.sum())
        scores = [mask_iou(truth, o.mask) for o in result.objects]
        k = int(np.argmax(scores)) if scores else -1
        best = float(scores[k]) if scores else 0.0
        counts = pixels >= MIN_PIXELS
        counted += counts
        matched += counts and best >= MIN_IOU
        flag = ("yes" if best >= MIN_IOU else "NO") if counts else "(small, not counted)"
        at_point = "-"
        if pixels:
            # segmentation from a point: the object under the label's centroid pixel
            found = int(result.labels[centroid_pixel(truth)])
            point_iou = 0.0
            if found >= 0:
                mask = result.labels == found
                point_iou = mask_iou(truth, mask)
            pointed += counts and point_iou >= MIN_POINT_IOU
            at_point = f"{point_iou:.3f} ({found if found >= 0 else 'none'})"
        print(
            f"{label:>6} {names.get(label, '?'):>7} {pixels:>7} {best:>8.3f}  "
            f"{k if k >= 0 else '-':>3} {flag:<21}{at_point:>12}"
        )
    print(
        f"\nmatched {matched}/{counted} = {matched / max(counted, 1):.0%} of labelled objects "
        f">= {MIN_PIXELS} px at IoU >= {MIN_IOU}"
    )
    print(
        f"object under the centroid pixel: {pointed}/{counted} = {pointed / max(counted, 1):.0%} "
        f"at IoU >= {MIN_POINT_IOU}"
    )
    print(
        f"segmentation time: median {1000 * statistics.median(times):.0f} ms, "
        f"min {1000 * min(times):.0f} ms over {len(times)} runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
