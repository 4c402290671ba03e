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


def _config_from_args(args: argparse.Namespace):
    """The configuration of --config with the --set overrides and the --planner / --model / --base-url shortcuts."""
    overrides = list(args.set)
    for key, value in (("planner", args.planner), ("planner_options.model", args.model),
                       ("planner_options.base_url", args.base_url)):
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")  # quoted: a path or URL stays a string
    return load_config(args.config, overrides)


def cmd_ask(args: argparse.Namespace) -> int:
    """Run one question through the agent on one frame and print the trace."""
    from spacetools_ros.agent.factory import build_agent

    config = _config_from_args(args)
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


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the agent on a benchmark's items, score them with the paper's metrics, print the per-category table
    and write OUT/results.jsonl, OUT/summary.json, OUT/report.html and OUT/trace/ (and --json OUT)."""
    from spacetools_ros.agent.factory import build_agent
    from spacetools_ros.eval.datasets import DatasetError, load_dataset
    from spacetools_ros.eval.runner import run_eval
    from spacetools_ros.eval.summary import format_table

    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    config = _config_from_args(args)
    try:
        items = load_dataset(args.dataset, args.format)
    except DatasetError as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    items = items[: args.limit] if args.limit is not None else items
    agent = build_agent(config)
    out = Path(args.out) if args.out else Path("eval_results") / args.format

    def progress(k: int, n: int, record: dict) -> None:
        state = record.get("error_kind") or "ok"
        print(f"[{k}/{n}] {record['id']}: score {record['score']:.2f} ({state})", file=sys.stderr)

    metadata = {"dataset": str(args.dataset), "format": args.format, "planner": config.planner}
    run = run_eval(items, agent, out, metadata=metadata, progress=progress)
    print(format_table(run.summary))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(run.summary, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    print(f"results: {run.results_path}\nreport: {run.report_path}\ntrace: {run.trace_dir}", file=sys.stderr)
    return 0


def cmd_bench_perf(args: argparse.Namespace) -> int:
    """Gather every performance figure beside its baseline (spacetools_ros.bench.suite); print the table or JSON."""
    from spacetools_ros.bench.suite import SECTIONS, format_perf_table, run_perf_suite

    frame = _read_frame(args.frames, args.frame_index, None) if args.frames else None
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip()) if args.sections else SECTIONS
    try:
        result = run_perf_suite(args.quick, sections, frame, args.repeats, args.naive_repeats, args.domain_id,
                                progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(json.dumps(result, indent=2) if args.json else format_perf_table(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 1 if result["errors"] else 0


def cmd_bench_sim(args: argparse.Namespace) -> int:
    """Run pick / relational pick / pick-and-place episodes in the PyBullet simulation, print the table (and one
    progress line per episode on stderr), optionally write JSON and the HTML summary (beside the JSON by default)."""
    from spacetools_ros.bench.sim_bench import format_sim_report, run_sim_benchmark
    from spacetools_ros.bench.sim_report import write_sim_report

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]

    def progress(family: str, run: dict) -> None:
        outcome = f"score {run['score']}" if run.get("score") is not None else (
            "success" if run["success"] else "failed")
        first = run["time_to_first_motion_s"]
        print(f"{family} seed {run['seed']}: {outcome}, first motion "
              f"{'-' if first is None else f'{first:.2f} s'}: {run['task']}", file=sys.stderr, flush=True)

    try:
        result = run_sim_benchmark(args.episodes, args.seed, tasks, progress=progress)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(format_sim_report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    html_path = args.html or (str(Path(args.json).with_suffix(".html")) if args.json else None)
    if html_path:
        write_sim_report(html_path, result, run={"episodes": args.episodes, "seed": args.seed, "tasks": tasks})
        print(f"wrote {html_path}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the nodes, send a task over ROS and print the result."""
    from spacetools_ros.ros.demo import run_demo

    return run_demo(args.question, frames=args.frames, timeout=args.timeout, domain_id=args.domain_id,
                    seed=args.seed)


def cmd_up(args: argparse.Namespace) -> int:
    """Start a mode's node set (the launch files' description) as processes until Ctrl-C."""
    from spacetools_ros.ros.up import run_up

    return run_up(args.mode, args.set, domain_id=args.domain_id, log_dir=args.log_dir)


def cmd_record(args: argparse.Namespace) -> int:
    """Record ROS topics into a new rosbag2 until Ctrl-C or --duration; print the message count per topic."""
    from spacetools_ros.ros.bag_record import RecordError, run_record

    try:
        run_record(args.out, args.topics, args.storage, args.duration, args.domain_id)
    except RecordError as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Publish a rosbag2's messages with their recorded timing (scaled by --rate) until its end or Ctrl-C."""
    from spacetools_ros.ros.bag_replay import ReplayError, run_replay

    try:
        run_replay(args.bag, rate=args.rate, loop=args.loop, topics=args.topics, start_offset=args.start_offset,
                   duration=args.duration, clock_hz=args.clock, reliable=args.reliable, delay=args.delay,
                   domain_id=args.domain_id)
    except ReplayError as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    return 0


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

    evaluate = sub.add_parser("eval", help="run the agent on a benchmark and score it with the SpaceTools metrics")
    evaluate.add_argument("--dataset", required=True, help="the dataset: a folder or file in the format's layout")
    evaluate.add_argument("--format", required=True,
                          choices=["robospatial", "blink", "cvbench", "refspatial", "bopask", "jsonl"],
                          help="the dataset's layout (see README, Evaluation)")
    evaluate.add_argument("--out", help="output folder (default: eval_results/FORMAT)")
    evaluate.add_argument("--json", metavar="OUT", help="also write the summary as JSON to OUT")
    evaluate.add_argument("--limit", type=int, help="evaluate only the first N items")
    evaluate.add_argument("--config", help="YAML configuration (default: config/spacetools.yaml)")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="override a configuration value, e.g. --set agent.max_turns=4")
    evaluate.add_argument("--planner", choices=["scripted", "transformers", "openai"],
                          help="planner (default: config)")
    evaluate.add_argument("--model", help="transformers: local model folder; openai: the served model's name")
    evaluate.add_argument("--base-url", help="openai: the endpoint, e.g. http://localhost:8000/v1")
    evaluate.set_defaults(func=cmd_eval)

    bench = sub.add_parser("bench", help="benchmarks that print numbers beside a baseline measured in the same run")
    bench_sub = bench.add_subparsers(dest="benchmark", required=True)
    perf = bench_sub.add_parser("perf", help="every performance figure (conversions, perception chain, agent loop, "
                                             "bag replay, simulator) beside a baseline measured in the same run")
    perf.add_argument("--quick", action="store_true", help="short settings, a few seconds per section (CI)")
    perf.add_argument("--sections", help="comma-separated subset of: conversions, perception_chain, loop_overhead, "
                                         "replay, sim_speed (default: all)")
    perf.add_argument("--frames", help="the perception chain's frame source (default: ucn_demo_tabletop frame 0 if "
                                       "present, else synthetic)")
    perf.add_argument("--frame-index", type=int, default=0, help="which frame of the source (default 0)")
    perf.add_argument("--repeats", type=int, help="timed runs of the chain and the agent loop (default 20; quick 3)")
    perf.add_argument("--naive-repeats", type=int, help="timed runs of the naive pipeline (default 5; quick 1)")
    perf.add_argument("--domain-id", type=int, help="private ROS_DOMAIN_ID of the replay (default: from the pid)")
    perf.add_argument("--json", action="store_true", help="print the result as JSON instead of the table")
    perf.add_argument("--out", metavar="FILE", help="also write the result as JSON to FILE")
    perf.set_defaults(func=cmd_bench_perf)
    sim = bench_sub.add_parser("sim", help="pick / relational pick / pick-and-place success in PyBullet (scripted "
                               "planner)")
    sim.add_argument("--episodes", type=int, default=10, help="episodes per task family (default 10)")
    sim.add_argument("--seed", type=int, default=0, help="first scene seed (default 0)")
    sim.add_argument("--tasks", default="pick,relational_pick,pick_place",
                     help="comma-separated families: pick, relational_pick, pick_place (default all three)")
    sim.add_argument("--json", metavar="OUT", help="also write the result (with every episode) as JSON to OUT, and "
                     "the HTML summary beside it (OUT with .html)")
    sim.add_argument("--html", metavar="PATH", help="write the HTML summary to PATH (default: beside --json OUT)")
    sim.set_defaults(func=cmd_bench_sim)

    demo = sub.add_parser("demo", help="the simulated arm carries out a command over ROS (sim_node + agent_node); "
                                       "with --frames, camera_node + agent_node answer a question")
    demo.add_argument("--frames", help="run the camera demo: what camera_node publishes (e.g. synthetic:0, a bag)")
    demo.add_argument("--seed", type=int, default=0, help="scene seed of the simulated demo (default 0)")
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result")
    demo.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID for the demo's nodes (default: from the pid)")
    demo.add_argument("question", nargs="?", help="the task (default: 'put the red cube in the blue bowl'; with "
                                                  "--frames: 'How many objects are on the table?')")
    demo.set_defaults(func=cmd_demo)

    up = sub.add_parser("up", help="start the node set of sim, replay or robot (as the launch files do) until Ctrl-C")
    up.add_argument("mode", choices=["sim", "replay", "robot"], help="which node set (see README, On the robot PC)")
    up.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a launch argument (robot=fr3, rviz=true, scene_seed=3), a configuration key for agent_node "
                         "(agent.max_turns=4) or a node parameter (sim_node.speed=2)")
    up.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID of the nodes (default: the environment's)")
    up.add_argument("--log-dir", help="folder for the nodes' logs (default: a new temporary folder)")
    up.set_defaults(func=cmd_up)

    record = sub.add_parser("record", help="record ROS topics into a rosbag2 (mcap or sqlite3) until Ctrl-C")
    record.add_argument("out", help="the bag folder to create (must not exist)")
    record.add_argument("--topics", nargs="+", help="topics to record (default: the camera topics, /joint_states, "
                                                    "/spacetools/task, status, result and /clock)")
    record.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap", help="storage plugin (default mcap)")
    record.add_argument("--duration", type=float, help="stop after this many seconds (default: at Ctrl-C)")
    record.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: the environment's)")
    record.set_defaults(func=cmd_record)

    replay = sub.add_parser("replay", help="publish a rosbag2's messages with their recorded timing")
    replay.add_argument("bag", help="a bag folder or .mcap / .db3 file")
    replay.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1)")
    replay.add_argument("--loop", action="store_true", help="start again at the end (until Ctrl-C)")
    replay.add_argument("--topics", nargs="+", help="replay only these topics (default: all)")
    replay.add_argument("--start-offset", type=float, default=0.0, metavar="S",
                        help="start S seconds after the bag's first message (default 0)")
    replay.add_argument("--duration", "--playback-duration", type=float, metavar="S",
                        help="replay only S seconds of the bag (a window; with --loop, that window again and again)")
    replay.add_argument("--clock", type=float, nargs="?", const=40.0, metavar="HZ",
                        help="publish /clock with the bag time at HZ (default 40) for use_sim_time nodes")
    replay.add_argument("--reliable", action="store_true",
                        help="publish every topic reliable (default: sensor topics with sensor-data QoS)")
    replay.add_argument("--delay", type=float, default=0.0, metavar="S",
                        help="wait S seconds before publishing (lets subscribers discover the publishers)")
    replay.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: the environment's)")
    replay.set_defaults(func=cmd_replay)
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
