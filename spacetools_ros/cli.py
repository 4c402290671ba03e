"""The `spacetools` command: ask questions about recorded frames without ROS, and run the ROS demo."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from spacetools_ros.config import ConfigError, load_config
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

    config = load_config(args.config, args.set)
    pose = config.camera.T_base_camera
    T = np.asarray(pose, dtype=np.float64).reshape(4, 4) if pose is not None else None
    frame = _read_frame(args.frames, args.frame_index, T)
    episode = build_agent(config).run(args.question, frame)
    if args.json:
        print(json.dumps(episode.summary()))
    else:
        _print_episode(episode)
    return 0 if episode.state == "succeeded" else 1


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
    ask.add_argument("question")
    ask.set_defaults(func=cmd_ask)

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
    except (ConfigError, FrameSourceError) as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
