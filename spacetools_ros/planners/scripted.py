"""The embedded default planner: a deterministic policy that emits the tool calls a model would.

It needs no GPU and no weights. Each command it recognises maps to a short script of steps; a
step looks at the results of the earlier steps (as a model reads its tool messages) and returns
the next <tool_call> or the final <answer>. Later calls pass stored "$variables", as a model does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from spacetools_ros.agent.protocol import render_answer, render_think, render_tool_call
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.perception.attributes import colour_fractions
from spacetools_ros.planners.base import Planner, PlannerError

SEGMENT_TOOL = "tabletop.segment_objects"
DEPTH = "depth_estimator.estimate_depth_with_pointcloud"
POINT = "roborefer.detect_one"
SEGMENT = "sam2.segment_from_point"
BOX = "bounding_box.compute_bbox"
GRASP = "grasp_generator.compute_grasp"
EXECUTE_GRASP = "robot.execute_grasp"
PLACE_2D = "robot.place_object_at_2d_location"
CLOUD_ARGS = {"point_cloud": "$point_cloud", "mask": "$segmentation_mask", "focal_length_px": "$focal_length_px"}


@dataclass(frozen=True)
class Call:
    """A tool call a step asks for, with what the planner thinks before it."""

    think: str
    name: str
    arguments: dict[str, Any]


Step = Callable[[list[dict[str, Any]]], "Call | str"]  # results so far -> next call, or the answer


def _point(obj: dict[str, Any]) -> str:
    x, y = obj["center_2d"]
    return f"[({x:.3f}, {y:.3f})]"


def _distance_to_robot(obj: dict[str, Any]) -> float:
    """Horizontal distance from the robot base when the base frame is known, else distance to the camera."""
    if obj.get("centroid_base") is not None:
        x, y, _ = obj["centroid_base"]
        return math.hypot(x, y)
    return math.dist((0.0, 0.0, 0.0), obj["centroid_camera"])


def _colour_name(obj: dict[str, Any]) -> str:
    fractions = colour_fractions(np.array([obj["mean_rgb"]], dtype=np.uint8))
    return max(fractions, key=fractions.get)


def _objects(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return results[0]["data"]["objects"]


def _segment_then(answer: Callable[[list[dict[str, Any]]], str], think: str, needs_objects: bool = True) -> list[Step]:
    """Segment the table's objects, then answer from their list."""

    def finish(results: list[dict[str, Any]]) -> str:
        objects = _objects(results)
        if needs_objects and not objects:
            return "[]"
        return answer(objects)

    return [lambda _: Call(think, SEGMENT_TOOL, {"image_index": 0}), finish]


def _point_at(phrase: str) -> list[Step]:
    """Point at what a phrase refers to."""
    return [lambda _: Call(f"Locate {phrase}.", POINT, {"obj_name": phrase, "image_index": 0}),
            lambda results: "[" + ", ".join(f"({x:.3f}, {y:.3f})" for x, y in results[-1]["data"]["points"]) + "]"]


def _measure_object(phrase: str) -> list[Step]:
    """Depth and cloud, point at the object, segment it, box it (the box gives sizes and position)."""
    return [
        lambda _: Call("Get metric depth and the point cloud.", DEPTH, {"image_index": 0}),
        lambda _: Call(f"Locate {phrase}.", POINT, {"obj_name": phrase, "image_index": 0}),
        lambda r: Call("Segment it.", SEGMENT, {"x": r[-1]["data"]["points"][0][0],
                                                "y": r[-1]["data"]["points"][0][1], "image_index": 0}),
        lambda _: Call("Fit a 3D box to its points.", BOX, dict(CLOUD_ARGS)),
    ]


def _about_object(phrase: str, think: str, answer: Callable[[dict[str, Any]], str]) -> list[Step]:
    """Segment the table's objects, point at the phrase, answer from the object under the point."""
    return [lambda _: Call(think, SEGMENT_TOOL, {"image_index": 0}),
            lambda _: Call(f"Locate {phrase}.", POINT, {"obj_name": phrase, "image_index": 0}),
            lambda r: answer(_object_at(r))]


def _object_at(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The segmented object (first result) whose box holds the detected point (last result), nearest first."""
    x, y = results[-1]["data"]["points"][0]
    holding = [o for o in _objects(results) if o["bbox_2d_normalized"][0] <= x <= o["bbox_2d_normalized"][2]
               and o["bbox_2d_normalized"][1] <= y <= o["bbox_2d_normalized"][3]]
    if not holding:
        raise PlannerError("the detected point lies on no segmented object")
    return min(holding, key=lambda o: math.dist(o["center_2d"], (x, y)))


def _distance_between(first: str, second: str) -> list[Step]:
    def answer(results: list[dict[str, Any]]) -> str:
        a, b = results[3]["data"]["center"], results[-1]["data"]["center"]
        return f"{math.dist(a, b):.3f} m"

    return [*_measure_object(first), *_measure_object(second)[1:], answer]


def _distance_to_camera(phrase: str) -> list[Step]:
    return [*_measure_object(phrase), lambda r: f"{math.dist((0, 0, 0), r[-1]['data']['center']):.3f} m"]


def _pick(phrase: str) -> list[Step]:
    """Perceive, grasp and lift an object."""
    return [
        *_measure_object(phrase)[:3],
        lambda _: Call("Compute a collision-free grasp.", GRASP, {**CLOUD_ARGS, "image_index": 0}),
        lambda _: Call("Execute the grasp.", EXECUTE_GRASP, {"grasp_pose": "$grasp_pose"}),
    ]


def _pick_and_place(phrase: str, relation: str, target: str) -> list[Step]:
    """Pick an object, then place it in/on a target or in free space next to it."""
    spot = target if relation in ("in", "on", "into", "onto") else f"an empty spot next to {target}"

    def place(results: list[dict[str, Any]]) -> Call:
        x, y = results[-1]["data"]["points"][0]
        return Call("Place it there.", PLACE_2D, {"placement_point_2d": [x, y], "image_index": 0})

    return [*_pick(phrase), lambda _: Call(f"Find where to place it: {spot}.", POINT, {"obj_name": spot,
                                                                                     "image_index": 0}),
            place, lambda _: f"placed {phrase} {relation} {target}"]


def _picked(phrase: str) -> list[Step]:
    return [*_pick(phrase), lambda _: f"picked {phrase}"]


def _object_phrase(text: str) -> str:
    return re.sub(r"^\s*(up\s+)?", "", text).strip(" ?.!") or "the object"


# (pattern, script builder from the match); the first pattern that matches wins
COMMANDS: list[tuple[re.Pattern, Callable[[re.Match], list[Step]]]] = [
    (re.compile(r"\bhow many (objects|things|items)\b", re.I),
     lambda m: _segment_then(lambda objs: str(len(objs)), "Segment the objects on the table and count them.",
                             needs_objects=False)),
    (re.compile(r"\bhow many (.+?)(?: are there| are on| do you see|\?|$)", re.I),
     lambda m: [lambda _: Call(f"Find every {m.group(1)}.", "roborefer.detect_all",
                               {"obj_name": m.group(1), "image_index": 0}),
                lambda r: str(len(r[-1]["data"]["points"]))]),
    (re.compile(r"\bpick (?:up )?(.+?) and (?:place|put) it (in|into|on|onto|next to|near|beside) (.+)", re.I),
     lambda m: _pick_and_place(_object_phrase(m.group(1)), m.group(2).lower(), _object_phrase(m.group(3)))),
    (re.compile(r"\b(?:put|place|move) (.+?) (in|into|on|onto|next to|near|beside) (.+)", re.I),
     lambda m: _pick_and_place(_object_phrase(m.group(1)), m.group(2).lower(), _object_phrase(m.group(3)))),
    (re.compile(r"\b(?:pick up|pick|grasp|grab) (.+)", re.I), lambda m: _picked(_object_phrase(m.group(1)))),
    (re.compile(r"\b(closest|nearest)\b.*\brobot\b", re.I),
     lambda m: _segment_then(lambda objs: _point(min(objs, key=_distance_to_robot)),
                             "Segment the objects and pick the one nearest the robot base.")),
    (re.compile(r"\b(farthest|furthest)\b.*\brobot\b", re.I),
     lambda m: _segment_then(lambda objs: _point(max(objs, key=_distance_to_robot)),
                             "Segment the objects and pick the one farthest from the robot base.")),
    (re.compile(r"\bhow tall is the tallest\b|\bheight of the tallest\b", re.I),
     lambda m: _segment_then(lambda objs: f"{max(o['height_m'] for o in objs):.3f} m",
                             "Segment the objects and report the greatest height above the table.")),
    (re.compile(r"\b(?:what|which) colou?r is (.+)", re.I),
     lambda m: _about_object(_object_phrase(m.group(1)), "Segment the objects to read their colours.", _colour_name)),
    (re.compile(r"\bhow (?:tall|high) is (.+)", re.I),
     lambda m: _about_object(_object_phrase(m.group(1)), "Segment the objects to measure heights above the table.",
                             lambda obj: f"{obj['height_m']:.3f} m")),
    (re.compile(r"\b(?:distance|how far) (?:is it )?between (.+?) and (.+)", re.I),
     lambda m: _distance_between(_object_phrase(m.group(1)), _object_phrase(m.group(2)))),
    (re.compile(r"\bhow far (?:away )?is (.+?) from the camera\b", re.I),
     lambda m: _distance_to_camera(_object_phrase(m.group(1)))),
    (re.compile(r"\b(?:point to|point at|where is|locate|find) (.*\b(?:empty|free|vacant|space|spot)\b.*)", re.I),
     lambda m: _point_at(_object_phrase(m.group(1)))),
    (re.compile(r"\b(?:point to|point at|where is|locate|find) (.+)", re.I),
     lambda m: _point_at(_object_phrase(m.group(1)))),
    (re.compile(r"\b(largest|biggest)\b", re.I), lambda m: _point_at("the largest object")),
]


def match_command(task: str) -> list[Step] | None:
    """The script of the first command pattern that matches the task, or None."""
    for pattern, build in COMMANDS:
        match = pattern.search(task)
        if match:
            return build(match)
    return None


COMMANDS_HELP = ("counts, the object closest to / farthest from the robot, pointing at objects by colour, size, "
                 "position or relation, free space near an object, heights and distances, colours, pick X, "
                 "pick X and place it in/on/next to Y")


class ScriptedPlanner(Planner):
    """Deterministic policy over the SpaceTools tools; PlannerError for tasks it does not understand."""

    name = "scripted"

    def respond(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> str:
        """The next step of the task's script, given the tool results so far."""
        task = next(m["content"] for m in messages if m["role"] == "user").replace("<image>", "").strip()
        script = match_command(task)
        if script is None:
            raise PlannerError(f"not understood: '{task[:200]}' (the scripted planner handles {COMMANDS_HELP})")
        results = [m for m in messages if m["role"] == "tool"]
        if results and not results[-1].get("ok"):
            raise PlannerError(f"{results[-1]['name']} failed: {results[-1]['content']}")
        if len(results) >= len(script):
            raise PlannerError("the script ran out of steps")  # cannot happen for well-formed scripts
        step = script[len(results)](results)
        if isinstance(step, Call):
            return render_think(step.think) + "\n" + render_tool_call(step.name, step.arguments)
        return render_think(f"Done after {len(results)} tool call(s).") + "\n" + render_answer(step)
