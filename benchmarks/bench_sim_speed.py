"""Real-time factor of the PyBullet simulator with the camera streaming at 10 Hz, 640x480: ray-casting camera
vs PyBullet's TinyRenderer, measured in the same run (see spacetools_ros.bench.sim_speed).

Run: .venv/bin/python benchmarks/bench_sim_speed.py [--seconds 5] [--repeats 3] [--camera-hz 10] [--json]
Target (issue 5): the default renderer runs the simulation at >= 5x real time with the camera at 10 Hz on a
2-core machine. Prints simulated and wall seconds, the real-time factor, frames rendered, ms per render and ms
per physics step for each renderer, their ratios, and the pure stepping cost. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spacetools_ros.bench.sim_speed import (  # noqa: E402
    DEFAULT_RENDERERS,
    format_sim_speed_report,
    run_sim_speed_benchmark,
)


def main() -> int:
    """Run the benchmark and print its report (or its JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="simulated seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per renderer (interleaved; medians)")
    parser.add_argument("--camera-hz", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0, help="generate_tabletop seed of the world")
    parser.add_argument("--renderers", default=",".join(DEFAULT_RENDERERS),
                        help="comma-separated; the last is the baseline the others are compared with")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = run_sim_speed_benchmark(args.seconds, args.repeats, args.camera_hz, args.seed,
                                     tuple(args.renderers.split(",")))
    print(json.dumps(result, indent=2) if args.json else format_sim_speed_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
