"""The agent loop's own cost per tool call: parsing, validation, registry dispatch, messages.

A deterministic planner emits batches of calls to a no-op tool; the time per call is compared with
calling the tool's function directly, measured in the same run. No timing is asserted anywhere.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from spacetools_ros.agent.loop import Agent, AgentConfig
from spacetools_ros.agent.protocol import render_answer, render_tool_call
from spacetools_ros.frames.frame import Intrinsics, RGBDFrame
from spacetools_ros.planners.base import Planner
from spacetools_ros.tools.base import ToolContext, ToolResult, tool
from spacetools_ros.tools.registry import ToolRegistry


@tool("bench.noop")
def noop(ctx: ToolContext, value: float = 0.0, image_index: int = 0) -> ToolResult:
    """Do nothing (measures the loop around a call).

    Args:
        value: any number.
        image_index: 0-based index of an image.
    """
    return ToolResult(text="ok")


class BatchPlanner(Planner):
    """Emits `calls_per_turn` no-op calls for `turns` turns, then answers."""

    name = "bench"

    def __init__(self, turns: int, calls_per_turn: int) -> None:
        self.turns = turns
        self.batch = "\n".join(render_tool_call("bench.noop", {"value": i * 0.5, "image_index": 0})
                               for i in range(calls_per_turn))

    def respond(self, messages, images) -> str:
        """The next batch, or the answer after the last one."""
        done = sum(1 for m in messages if m["role"] == "assistant")
        return self.batch if done < self.turns else render_answer("done")


def run_loop_overhead_benchmark(repeats: int = 20, turns: int = 7, calls_per_turn: int = 8) -> dict:
    """Median microseconds per tool call through the loop (with and without the per-call timeout
    thread) beside a direct call of the tool function."""
    frame = RGBDFrame(np.zeros((4, 4, 3), np.uint8), None, Intrinsics(4.0, 4.0, 2.0, 2.0, 4, 4))
    calls = turns * calls_per_turn
    registry = ToolRegistry([noop])

    def per_call(config: AgentConfig) -> float:
        agent = Agent(BatchPlanner(turns, calls_per_turn), registry, config)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            episode = agent.run("bench", frame)
            times.append((time.perf_counter() - t0) / calls)
            assert episode.state == "succeeded" and len(episode.tool_calls) == calls
        return 1e6 * statistics.median(times)

    context = ToolContext([frame])
    direct = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(calls):
            noop.function(context, value=i * 0.5, image_index=0)
        direct.append((time.perf_counter() - t0) / calls)
    base = AgentConfig(max_turns=turns + 1)
    with_timeout = per_call(base)
    return {"calls_per_episode": calls, "repeats": repeats, "loop_us_per_call": with_timeout,
            "direct_us_per_call": 1e6 * statistics.median(direct),
            "ratio_loop_to_direct": with_timeout / max(1e6 * statistics.median(direct), 1e-9)}


def format_loop_report(result: dict) -> str:
    """A few lines for `spacetools bench perf`."""
    return (f"agent loop overhead (no-op tool, {result['calls_per_episode']} calls per episode, "
            f"median of {result['repeats']}; target <= 1000 us per call)\n"
            f"  {'through the loop':<32}{result['loop_us_per_call']:>10.1f} us/call\n"
            f"  {'direct function call':<32}{result['direct_us_per_call']:>10.1f} us/call\n"
            f"  {'ratio loop / direct':<32}{result['ratio_loop_to_direct']:>9.0f}x")
