"""The embedded default planner: a deterministic policy that emits the tool calls a model would.

It needs no GPU and no weights. It recognises a few kinds of question, calls the segmentation
tool exactly as a model would (a <tool_call> block), reads the tool's result and writes the
<answer> in the protocol's format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spacetools_ros.agent.protocol import render_answer, render_think, render_tool_call
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.planners.base import Planner, PlannerError

SEGMENT_TOOL = "tabletop.segment_objects"


def _point(obj: dict[str, Any]) -> str:
    x, y = obj["center_2d"]
    return f"[({x:.3f}, {y:.3f})]"


def _distance_to_robot(obj: dict[str, Any]) -> float:
    """Horizontal distance from the robot base when the base frame is known, else distance to the camera."""
    if obj.get("centroid_base") is not None:
        x, y, _ = obj["centroid_base"]
        return math.hypot(x, y)
    return math.dist((0.0, 0.0, 0.0), obj["centroid_camera"])


def _volume(obj: dict[str, Any]) -> float:
    return math.prod(obj["extent"])


@dataclass(frozen=True)
class Intent:
    """A recognised kind of question: its pattern, what to think, and how to answer from the objects."""

    pattern: re.Pattern
    think: str
    answer: Callable[[list[dict[str, Any]]], str]
    needs_objects: bool = True


def _count(objects: list[dict[str, Any]]) -> str:
    return str(len(objects))


def _closest(objects: list[dict[str, Any]]) -> str:
    return _point(min(objects, key=_distance_to_robot))


def _largest(objects: list[dict[str, Any]]) -> str:
    return _point(max(objects, key=_volume))


def _tallest_height(objects: list[dict[str, Any]]) -> str:
    return f"{max(o['height_m'] for o in objects):.3f} m"


INTENTS: list[Intent] = [
    Intent(re.compile(r"\bhow many\b.*\b(objects?|things?|items?)\b", re.I),
           "Segment the objects on the table and count them.", _count, needs_objects=False),
    Intent(re.compile(r"\b(closest|nearest)\b.*\brobot\b", re.I),
           "Segment the objects and pick the one nearest the robot base (the camera when the base is unknown).",
           _closest),
    Intent(re.compile(r"\b(largest|biggest)\b", re.I),
           "Segment the objects and pick the one with the largest 3D box volume.", _largest),
    Intent(re.compile(r"\bhow tall\b.*\btallest\b|\bheight of the tallest\b", re.I),
           "Segment the objects and report the greatest height above the table.", _tallest_height),
]


def match_intent(task: str) -> Intent | None:
    """The first intent whose pattern matches the task, if any."""
    return next((i for i in INTENTS if i.pattern.search(task)), None)


class ScriptedPlanner(Planner):
    """Deterministic policy over the segmentation tool; raises PlannerError for tasks it does not understand."""

    name = "scripted"

    def respond(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> str:
        """Call the segmentation tool first; once its result is in, answer from it."""
        task = next(m["content"] for m in messages if m["role"] == "user").replace("<image>", "").strip()
        intent = match_intent(task)
        if intent is None:
            raise PlannerError(f"not understood: '{task[:200]}' (the scripted planner answers counts, the object "
                               "closest to the robot, the largest object and the height of the tallest object)")
        results = [m for m in messages if m["role"] == "tool" and m.get("name") == SEGMENT_TOOL]
        if not results:
            return render_think(intent.think) + "\n" + render_tool_call(SEGMENT_TOOL, {"image_index": 0})
        last = results[-1]
        if not last.get("ok"):
            raise PlannerError(f"{SEGMENT_TOOL} failed: {last['content']}")
        objects = last["data"]["objects"]
        if intent.needs_objects and not objects:
            return render_think("No objects were found on the table.") + "\n" + render_answer("[]")
        return render_think(f"{len(objects)} object(s) found.") + "\n" + render_answer(intent.answer(objects))
