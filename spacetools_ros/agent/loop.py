"""The multi-turn tool loop: planner speaks, tools run, results go back, until an answer or max turns."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from spacetools_ros.agent.protocol import parse_turn, render_tools_block
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.planners.base import Planner, PlannerError
from spacetools_ros.tools.base import ToolContext
from spacetools_ros.tools.registry import ToolCallRecord, ToolRegistry

SYSTEM_PROMPT = (
    "You are an expert in 3D spatial reasoning for robotics. You see RGB-D images of a scene and can call "
    "tools to perceive it and act in it. Reason inside <think>...</think>. To call a tool, write "
    '<tool_call>{"name": <tool name>, "arguments": <JSON object>}</tool_call>; several calls per turn are '
    "allowed and results come back in tool messages. A tool may store objects as $variables; pass the exact "
    'string "$name" as an argument to use one. Images are addressed by image_index, 0-based in the order they '
    "appear in the conversation. 2D points are normalised to [0, 1] with (0, 0) at the top-left; 3D points are "
    "in metres in the OpenCV camera frame (X right, Y down, Z forward). When done, give the final answer inside "
    "<answer>...</answer>: a count as an integer, points as a list like [(0.41, 0.63)], lengths in metres with "
    "the unit.\n\nYou may call these functions:\n"
)


class _DeadlinePassed(Exception):
    """The task's deadline passed between two steps."""


class _Cancelled(Exception):
    """The task was cancelled between two steps."""


NO_CALL_NOR_ANSWER = "Error: the reply has neither a <tool_call> nor an <answer>."


@dataclass
class AgentConfig:
    """Loop limits: assistant turns, characters of tool text shown to the model, seconds one tool call
    may take, and seconds a whole task may take (checked between planner turns and tool calls)."""

    max_turns: int = 8
    tool_text_limit: int = 2048
    tool_timeout_s: float = 60.0
    task_deadline_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_turns < 1 or self.tool_text_limit < 100:
            raise ValueError("agent: max_turns must be >= 1 and tool_text_limit >= 100")
        if self.tool_timeout_s <= 0 or self.task_deadline_s <= 0:
            raise ValueError("agent: tool_timeout_s and task_deadline_s must be positive")


@dataclass
class Episode:
    """The record of one task: the conversation, every tool call, the outcome and timings."""

    task: str
    state: str = "running"  # running | succeeded | failed | cancelled
    answer: str | None = None
    error: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    turns: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (what result topics and the CLI report)."""
        return {"task": self.task, "state": self.state, "answer": self.answer, "error": self.error,
                "turns": self.turns, "tool_calls": [c.summary() for c in self.tool_calls],
                "timings": {k: round(v, 4) for k, v in self.timings.items()}}


def _tool_message(name: str, content: str, data: dict | None = None, ok: bool = False,
                  image_indices: list[int] | None = None) -> dict[str, Any]:
    """A tool-role message: content is what a model reads, data what a program may read; image_indices
    are the images the call added (a model sees them after the text)."""
    return {"role": "tool", "name": name, "content": content, "data": data or {}, "ok": ok,
            "image_indices": image_indices or []}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ...[truncated]"


class Agent:
    """Runs tasks on frames with a planner and a tool registry. run() never raises."""

    def __init__(self, planner: Planner, registry: ToolRegistry, config: AgentConfig | None = None) -> None:
        self.planner = planner
        self.registry = registry
        self.config = config or AgentConfig()
        self.manipulator = None  # set by the factory when the agent has robot tools
        self.backends = None  # set by the factory: the perception backends behind the tools

    def system_prompt(self) -> str:
        """The system message: instructions and the hermes <tools> block."""
        return SYSTEM_PROMPT + render_tools_block(self.registry.schemas())

    def run(self, task: str, frame: RGBDFrame, cancel: threading.Event | None = None) -> Episode:
        """Answer one task about one frame; setting cancel ends it as "cancelled" at the next step."""
        start = time.perf_counter()
        episode = Episode(task=task)
        episode.messages = [
            {"role": "system", "content": self.system_prompt()},
            {"role": "user", "content": "<image>\n" + task, "image_indices": [0]},
        ]
        context = ToolContext(images=[frame])
        self.last_context = context  # the images and variables of the latest episode (for traces)
        planning_s = tools_s = 0.0
        deadline = start + self.config.task_deadline_s

        def remaining() -> float:
            if cancel is not None and cancel.is_set():
                raise _Cancelled("cancelled")
            left = deadline - time.perf_counter()
            if left <= 0:
                raise _DeadlinePassed(f"task deadline of {self.config.task_deadline_s:g} s passed")
            return left

        try:
            for turn in range(self.config.max_turns):
                episode.turns = turn + 1
                remaining()
                t0 = time.perf_counter()
                reply = self.planner.respond(episode.messages, context.images)
                planning_s += time.perf_counter() - t0
                text = reply if isinstance(reply, str) else repr(reply)
                episode.messages.append({"role": "assistant", "content": text})
                parsed = parse_turn(reply)
                feedback = [_tool_message("error", f"Error: {e}") for e in parsed.errors]
                t0 = time.perf_counter()
                for call in parsed.tool_calls:
                    timeout = min(self.config.tool_timeout_s, remaining())
                    record = self.registry.call(call.name, call.arguments, context, timeout=timeout)
                    episode.tool_calls.append(record)
                    content = _cut(record.text, self.config.tool_text_limit)
                    feedback.append(_tool_message(call.name, content, record.data, record.ok, record.new_images))
                tools_s += time.perf_counter() - t0
                if parsed.answer is not None and not parsed.tool_calls and not parsed.errors:
                    episode.answer, episode.state = parsed.answer, "succeeded"
                    break
                if not feedback:
                    feedback.append(_tool_message("error", NO_CALL_NOR_ANSWER))
                episode.messages.extend(feedback)
            else:
                episode.state, episode.error = "failed", f"no answer within {self.config.max_turns} turns"
        except (PlannerError, _DeadlinePassed) as exc:
            episode.state, episode.error = "failed", str(exc)
        except _Cancelled:
            episode.state, episode.error = "cancelled", "cancelled on request"
        except Exception as exc:  # a planner bug must end this task cleanly, never the process
            episode.state, episode.error = "failed", f"planner {self.planner.name} failed: {type(exc).__name__}: {exc}"
        episode.timings = {"total_s": time.perf_counter() - start, "planning_s": planning_s, "tools_s": tools_s}
        return episode
