"""Flood agent_node's /spacetools/task with garbage; print answered counts and agent_node's RSS before/after.

    python benchmarks/bench_task_flood.py [--count 10000] [--rounds 2] [--domain D] [--json OUT]
"""

import argparse
import json
import sys

from spacetools_ros.bench.task_flood import format_flood, run_flood


def main() -> int:
    """Run the flood and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2, help="floods one after another (memory must plateau)")
    parser.add_argument("--one-mb-every", type=int, default=70,
                        help="every N-th message is 1 MB (a multiple of 7; 0: none)")
    parser.add_argument("--domain", type=int, help="ROS_DOMAIN_ID for the nodes and the client (default: from the pid)")
    parser.add_argument("--json", help="also write the result as JSON here")
    args = parser.parse_args()
    result = run_flood(args.count, args.rounds, domain_id=args.domain, big_every=args.one_mb_every)
    print(format_flood(result))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    complete = all(r["answered"] == r["finished"] == result["messages_per_round"] for r in result["rounds"])
    return 0 if complete and result["nodes_alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
