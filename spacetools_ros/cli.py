"""The `spacetools` command: ask questions about recorded frames without ROS, and run the ROS demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from spacetools_ros.config import ConfigError, load_config
from spacetools_ros.perception.models import ModelConfigError
from spacetools_ros.sources.base import FrameSourceError


def _read_frame(spec: str, index: int, T_base_camera: np.ndarray | None):
    from spacetools_ros.sources.factory import open_source

    with open_source(spec, T_base_camera=T_base_camera) as source:
        frame = None
        for _ in range(index + 1):
            frame = source.read()
            if frame is None:
                raise FrameSourceError(f"{spec} gave fewer than {index + 1} frame(s)"
                                       + (" (no camera messages on the ROS graph?)" if spec == "topics" else ""))
        return frame


def _configured_pose(config) -> np.ndarray | None:
    pose = config.camera.T_base_camera
    return np.asarray(pose, dtype=np.float64).reshape(4, 4) if pose is not None else None


def _print_episode(episode) -> None:
    """The conversation (assistant turns and tool results), then the final line 'answer: ...'."""
    for message in episode.messages[1:]:
        role = message["role"]
        label = f"tool {message.get('name')}" if role == "tool" else role
        print(f"--- {label}\n{message['content']}")
    print(f"--- {episode.state} in {episode.timings['total_s']:.2f} s, {len(episode.tool_calls)} tool call(s)")
    if episode.error:
        print(f"error: {episode.error}")
    print(f"answer: {episode.answer if episode.answer is not None else '(none)'}")


def cmd_ask(args: argparse.Namespace) -> int:
    """Run one question through the agent on one frame and print the trace."""
    from spacetools_ros.agent.factory import build_agent

    overrides = list(args.set)
    for key, value in (("planner", args.planner), ("planner_options.model", args.model),
                       ("planner_options.base_url", args.base_url)):
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")  # quoted: a path or URL stays a string
    config = load_config(args.config, overrides)
    frame = _read_frame(args.frames, args.frame_index, _configured_pose(config))
    agent = build_agent(config)
    if args.trace:
        from spacetools_ros.agent.trace import TraceWriter, run_traced

        traced = run_traced(agent, args.question, frame)
        episode = traced.episode
        path = TraceWriter(Path(args.trace)).write_traced(traced)
        print(f"trace: {path}", file=sys.stderr)
    else:
        episode = agent.run(args.question, frame)
    if args.json:
        print(json.dumps(episode.summary()))
    else:
        _print_episode(episode)
    return 0 if episode.state == "succeeded" else 1


def _save_variable(folder: Path, name: str, value) -> str:
    """Write one variable as DIR/<name>.npy; values that are not numeric arrays are skipped (said why)."""
    try:
        array = np.asarray(value)
    except Exception:  # ragged or exotic objects
        array = np.asarray(None, dtype=object)
    if array.dtype == object:
        return f"skipped ${name}: {type(value).__name__} is not a numeric array"
    np.save(folder / f"{name}.npy", array)
    return f"wrote {folder / (name + '.npy')} ({array.dtype}, shape {array.shape})"


def cmd_tool(args: argparse.Namespace) -> int:
    """Run tool calls in sequence on one frame, sharing the variable store; print and optionally save."""
    import cv2

    from spacetools_ros.agent.factory import build_registry
    from spacetools_ros.tools.base import ToolContext

    config = load_config(args.config, args.set)
    registry = build_registry(config)
    frame = _read_frame(args.frames, args.frame_index, _configured_pose(config))
    context = ToolContext(images=[frame])
    failures = 0
    for name, raw in args.call:
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError as exc:
            print(f"--- {name} {raw}\nError: arguments are not valid JSON: {exc}")
            failures += 1
            continue
        record = registry.call(name, arguments, context)
        failures += not record.ok
        print(f"--- {name} {json.dumps(arguments)} ({1000 * record.duration_s:.1f} ms)\n{record.text}")
    if args.save_vars:
        folder = Path(args.save_vars)
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in context.variables.items():
            print(_save_variable(folder, key, value))
        for index, image in enumerate(context.images):
            path = folder / f"image_{index}.png"
            cv2.imwrite(str(path), cv2.cvtColor(image.rgb, cv2.COLOR_RGB2BGR))
            print(f"wrote {path}")
    return 1 if failures else 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write one self-contained HTML page per traced episode."""
    from spacetools_ros.agent.report import write_report

    trace = Path(args.trace)
    if not trace.exists():
        raise FrameSourceError(f"trace {trace} does not exist")
    for page in write_report(trace, Path(args.out) if args.out else None):
        print(page)
    return 0


def cmd_bench_perf(args: argparse.Namespace) -> int:
    """Time the default perception chain beside a naive open3d pipeline and print the table."""
    from spacetools_ros.bench.loop_overhead import format_loop_report, run_loop_overhead_benchmark
    from spacetools_ros.bench.perf import format_report, run_chain_benchmark

    frame = _read_frame(args.frames, args.frame_index, None) if args.frames else None
    result = run_chain_benchmark(frame, repeats=args.repeats, naive_repeats=args.naive_repeats)
    loop = run_loop_overhead_benchmark(repeats=args.repeats)
    if args.json:
        print(json.dumps({"perception_chain": result, "loop_overhead": loop}, indent=2))
    else:
        print(format_report(result) + "\n\n" + format_loop_report(loop))
    return 0


def cmd_bench_sim(args: argparse.Namespace) -> int:
    """Run pick / pick-and-place episodes in the PyBullet simulation, print the table, optionally write JSON."""
    from spacetools_ros.bench.sim_bench import format_sim_report, run_sim_benchmark

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    try:
        result = run_sim_benchmark(args.episodes, args.seed, tasks)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(format_sim_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Start camera_node and agent_node, send a task over ROS and print the result."""
    from spacetools_ros.ros.demo import run_demo

    return run_demo(args.question, frames=args.frames, timeout=args.timeout, domain_id=args.domain_id)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `spacetools`."""
    parser = argparse.ArgumentParser(prog="spacetools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer a question about a recorded frame (no ROS needed)")
    ask.add_argument("--frames", required=True,
                     help="folder, rosbag2 (mcap/db3), 'synthetic[:SEED]', 'realsense' or 'topics' (live ROS camera)")
    ask.add_argument("--frame-index", type=int, default=0, help="which frame of the source (default 0)")
    ask.add_argument("--config", help="YAML configuration (default: config/spacetools.yaml)")
    ask.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a configuration value, e.g. --set agent.max_turns=4")
    ask.add_argument("--json", action="store_true", help="print the episode summary as JSON")
    ask.add_argument("--planner", choices=["scripted", "transformers", "openai"], help="planner (default: config)")
    ask.add_argument("--model", help="transformers: local model folder; openai: the served model's name")
    ask.add_argument("--base-url", help="openai: the endpoint, e.g. http://localhost:8000/v1")
    ask.add_argument("--trace", metavar="DIR", help="append the episode (JSONL + images) to DIR")
    ask.add_argument("question")
    ask.set_defaults(func=cmd_ask)

    run_tool = sub.add_parser("tool", help="run tool calls on a frame, sharing $variables (for debugging tools)")
    run_tool.add_argument("--frames", required=True,
                          help="folder, rosbag2, 'synthetic[:SEED]', 'realsense' or 'topics'")
    run_tool.add_argument("--frame-index", type=int, default=0, help="which frame of the source (default 0)")
    run_tool.add_argument("--config", help="YAML configuration (default: config/spacetools.yaml)")
    run_tool.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    run_tool.add_argument("--save-vars", metavar="DIR", help="write every stored variable to DIR/<name>.npy")
    run_tool.add_argument("--call", nargs=2, action="append", required=True, metavar=("NAME", "JSON_ARGS"),
                          help="a tool call, e.g. --call sam2.segment_from_point '{\"x\": 0.5, \"y\": 0.5}'")
    run_tool.set_defaults(func=cmd_tool)

    report = sub.add_parser("report", help="one HTML page per episode of a trace (images, overlays, tool timeline)")
    report.add_argument("trace", help="a trace folder (or its episodes.jsonl) written with --trace")
    report.add_argument("--out", help="output folder (default: TRACE/report)")
    report.set_defaults(func=cmd_report)

    bench = sub.add_parser("bench", help="benchmarks that print numbers beside a baseline measured in the same run")
    bench_sub = bench.add_subparsers(dest="benchmark", required=True)
    perf = bench_sub.add_parser("perf", help="the default perception chain vs a naive open3d pipeline (640x480)")
    perf.add_argument("--frames", help="frame source (default: ucn_demo_tabletop frame 0 if present, else synthetic)")
    perf.add_argument("--frame-index", type=int, default=0, help="which frame of the source (default 0)")
    perf.add_argument("--repeats", type=int, default=20, help="timed runs of the chain (default 20)")
    perf.add_argument("--naive-repeats", type=int, help="timed runs of the naive pipeline (default 5)")
    perf.add_argument("--json", action="store_true", help="print the result as JSON instead of the table")
    perf.set_defaults(func=cmd_bench_perf)
    sim = bench_sub.add_parser("sim", help="pick / pick-and-place success in PyBullet (scripted planner)")
    sim.add_argument("--episodes", type=int, default=10, help="episodes per task family (default 10)")
    sim.add_argument("--seed", type=int, default=0, help="first scene seed (default 0)")
    sim.add_argument("--tasks", default="pick,pick_place", help="comma-separated families: pick, pick_place")
    sim.add_argument("--json", metavar="OUT", help="also write the result (with every episode) as JSON to OUT")
    sim.set_defaults(func=cmd_bench_sim)

    demo = sub.add_parser("demo", help="run camera_node + agent_node on a generated scene and ask over ROS")
    demo.add_argument("--frames", default="synthetic:0", help="what camera_node publishes (default synthetic:0)")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the result")
    demo.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID for the demo's nodes (default: from the pid)")
    demo.add_argument("question", nargs="?", default="How many objects are on the table?")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `spacetools` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ModelConfigError, FrameSourceError) as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
