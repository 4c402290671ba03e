"""Benchmarks that run anywhere the package is installed, each printing numbers beside a baseline measured in the
same run (never asserted in tests).

- suite: `spacetools bench perf`, every figure below gathered into one table / JSON;
- conversions, perf (perception chain), loop_overhead, replay_throughput, sim_speed: its sections;
- sim_bench (+ sim_report): `spacetools bench sim`, closed-loop task success in the simulator;
- task_flood: agent_node under a flood of garbage tasks (answers, liveness, memory).
"""
