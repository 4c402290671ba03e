"""Time numpy <-> sensor_msgs conversions of a 640x480 frame beside per-point/per-pixel Python loops.

The measuring code is spacetools_ros.bench.conversions (run_conversions_benchmark), which `spacetools bench perf`
calls as well; this script prints its table (or its JSON).

Run: .venv/bin/python benchmarks/bench_conversions.py [--quick] [--repeats N] [--loop-repeats N] [--json]
Target: PointCloud2 <= 5 ms each way. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spacetools_ros.bench.conversions import (  # noqa: E402
    QUICK,
    format_conversions_report,
    run_conversions_benchmark,
)


def main() -> int:
    """Run the benchmark and print its table (or its JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of each vectorised conversion")
    parser.add_argument("--loop-repeats", type=int, default=3, help="timed runs of each per-point loop")
    parser.add_argument("--quick", action="store_true",
                        help=f"CI settings ({QUICK['repeats']} and {QUICK['loop_repeats']} runs)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    settings = dict(QUICK) if args.quick else {"repeats": args.repeats, "loop_repeats": args.loop_repeats}
    result = run_conversions_benchmark(**settings)
    print(json.dumps(result, indent=2) if args.json else format_conversions_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
