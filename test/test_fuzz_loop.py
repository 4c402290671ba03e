"""Fuzz: thousands of corrupted model outputs through the real loop and registry.

Every output is built to be invalid (truncated or nested tags, broken JSON, unknown tools, wrong
types, huge or non-finite arguments, unicode). Each must come back to the model as an error
message; no exception may escape the loop, and the robot tool must never run.
"""

import json
import random

import numpy as np
import pytest

from spacetools_ros.agent.loop import Agent, AgentConfig
from spacetools_ros.agent.protocol import render_answer
from spacetools_ros.frames.frame import Intrinsics, RGBDFrame
from spacetools_ros.planners.base import Planner
from spacetools_ros.tools.base import ToolResult, tool
from spacetools_ros.tools.registry import ToolRegistry

robot_runs: list[dict] = []


@tool("robot.move_to", robot=True)
def move_to(x: float, y: float, z: float, speed: float = 0.1) -> ToolResult:
    """Move the gripper to a point (records the call instead of moving).

    Args:
        x: metres.
        y: metres.
        z: metres.
        speed: metres per second.
    """
    robot_runs.append({"x": x, "y": y, "z": z, "speed": speed})
    return ToolResult(text="moved")


VALID = {"name": "robot.move_to", "arguments": {"x": 0.4, "y": -0.1, "z": 0.2, "speed": 0.05}}
WRONG_VALUES = ["0.4", "far", None, True, False, [0.4], {"v": 0.4}, "", "NaN", "1e3x", [], {}]
UNICODE = ["日本語", "🤖🦾", "\u202e\u0301", "ｒｏｂｏｔ", "\x00", "\ud800", "Ω≈ç√∫"]


def _wrap(body: str) -> str:
    return f"<think>plan</think>\n<tool_call>\n{body}\n</tool_call>"


def corrupted_outputs(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(category, text) pairs; every text is an invalid request for the robot tool."""
    valid_json = json.dumps(VALID)
    valid_text = _wrap(valid_json)
    out = []
    structural = [i for i, ch in enumerate(valid_json) if ch in '{}":,']
    close_at = valid_text.index("</tool_call>")
    while len(out) < count:
        kind = rng.randrange(9)
        if kind == 0:  # truncated inside the call
            out.append(("truncated", valid_text[: rng.randrange(valid_text.index("<tool_call>"), close_at)]))
        elif kind == 1:  # nested or doubled tags
            out.append(("nested", _wrap("<tool_call>" + valid_json + "</tool_call>")))
        elif kind == 2:  # broken JSON: drop a structural character
            i = rng.choice(structural)
            out.append(("broken_json", _wrap(valid_json[:i] + valid_json[i + 1:])))
        elif kind == 3:  # unknown tool names, unicode included
            name = rng.choice(["robot.moveto", "robot", "move_to", "ROBOT.MOVE_TO", "", " "] + UNICODE)
            out.append(("unknown_tool", _wrap(json.dumps({"name": name, "arguments": VALID["arguments"]}))))
        elif kind == 4:  # wrong type for one argument
            args = dict(VALID["arguments"])
            args[rng.choice(list(args))] = rng.choice(WRONG_VALUES)
            out.append(("wrong_type", _wrap(json.dumps({"name": "robot.move_to", "arguments": args}))))
        elif kind == 5:  # non-finite numbers (JSON's NaN/Infinity extensions)
            args = dict(VALID["arguments"])
            args[rng.choice(list(args))] = rng.choice([float("nan"), float("inf"), float("-inf")])
            out.append(("non_finite", _wrap(json.dumps({"name": "robot.move_to", "arguments": args}))))
        elif kind == 6:  # huge arguments: giant strings, deep nesting, extra keys
            args = dict(VALID["arguments"])
            choice = rng.randrange(3)
            if choice == 0:
                args[rng.choice(list(args))] = "x" * rng.randrange(10_000, 200_000)
            elif choice == 1:
                args["x"] = json.loads("[" * 500 + "]" * 500)
            else:
                args["payload"] = "y" * 50_000
            out.append(("huge", _wrap(json.dumps({"name": "robot.move_to", "arguments": args}))))
        elif kind == 7:  # missing arguments or arguments not an object
            args = dict(VALID["arguments"])
            del args[rng.choice(["x", "y", "z"])]
            bad = rng.choice([args, [0.4, -0.1, 0.2], "x=0.4", 42, None])
            if bad is None:
                out.append(("missing", _wrap('{"name": "robot.move_to", "arguments": null, "x": 0.4}')))
                continue
            out.append(("missing", _wrap(json.dumps({"name": "robot.move_to", "arguments": bad}))))
        else:  # unicode garbage in the call body or in argument names
            garbage = "".join(rng.choice(UNICODE) for _ in range(rng.randrange(1, 6)))
            if rng.random() < 0.5:
                out.append(("unicode", _wrap(garbage + valid_json[rng.randrange(len(valid_json)):])))
            else:
                args = dict(VALID["arguments"])
                args[garbage] = args.pop("x")
                out.append(("unicode", _wrap(json.dumps({"name": "robot.move_to", "arguments": args},
                                                        ensure_ascii=False))))
    return out


class OneShot(Planner):
    """Says one given text, then answers: what a misbehaving model would say once."""

    name = "one-shot"

    def __init__(self, text: str) -> None:
        self.text = text
        self.feedback: list[dict] = []

    def respond(self, messages, images):
        if messages[-1]["role"] == "user":
            return self.text
        self.feedback = [m for m in messages if m["role"] == "tool"]
        return render_answer("stopped")


@pytest.fixture(scope="module")
def frame():
    return RGBDFrame(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.float32), Intrinsics(10, 10, 4, 4, 8, 8))


def test_the_valid_call_does_run(frame):
    """The template itself is accepted: the corruptions below are what make the calls fail."""
    robot_runs.clear()
    Agent(OneShot(_wrap(json.dumps(VALID))), ToolRegistry([move_to])).run("move", frame)
    assert robot_runs == [VALID["arguments"]]


def test_thousands_of_corrupted_outputs_never_escape_and_never_move_the_robot(frame):
    rng = random.Random(20261121)
    cases = corrupted_outputs(rng, 1500)
    assert len({c for c, _ in cases}) == 9
    registry = ToolRegistry([move_to])
    robot_runs.clear()
    for category, text in cases:
        planner = OneShot(text)
        episode = Agent(planner, registry, AgentConfig(max_turns=3)).run("move the arm", frame)
        assert episode.state == "succeeded", (category, text[:200], episode.error)
        assert planner.feedback, (category, text[:200])
        assert all(m["content"].startswith("Error: ") for m in planner.feedback), (category, planner.feedback)
        assert all(len(m["content"]) <= 2048 for m in planner.feedback)
    assert robot_runs == []
