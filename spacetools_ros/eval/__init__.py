"""Benchmark evaluation: run the agent on dataset items and score them with the SpaceTools paper's metrics.

- items.py: EvalItem (image, depth, intrinsics, question, gold answer) and how it becomes an RGBDFrame
- datasets/: one loader per format (jsonl, robospatial, blink, cvbench, refspatial, bopask)
- answers.py: parsing answers (never evaluated); metrics.py: the metrics; scoring.py: per answer type
- runner.py: running and writing results; summary.py: accuracies and the table; report.py: the HTML page

`spacetools eval --dataset PATH --format FORMAT` is the command-line entry point.
"""
