"""Closed-loop task success in the PyBullet simulation: the agent (scripted planner) picks and places for real.

Each episode builds a scene with :func:`~spacetools_ros.sources.synthetic.generate_tabletop` (seed + i, 3-5
objects), a :class:`~spacetools_ros.robot.sim.TabletopSim` of it, and an agent with ``robot.backend=sim`` acting
in that world; the task runs on the world's rendered frame, and success is judged from the simulator's ground
truth, never from the agent's answer:

* ``pick`` ("Pick up the <colour> object"): the target's centre rose more than 5 cm above where it started and
  the fingers touch it at the end (it is held, not knocked up).
* ``pick_place`` ("Pick up the <colour> object and place it next to the <colour2> object"): after 0.5 s of
  settling, the picked object rests on the table (its bottom within 2 cm of z = 0, upright within 15 degrees),
  its centre lies within 0.20 m (horizontally) of the reference object's centre, and the arm has let go (no
  finger contact). Resting on the table also excludes ending on top of the reference.

A third judge, :func:`judge_in_container` ("place_in", e.g. "put the red cube in the blue bowl" on a
:func:`container_scene`), is not a benchmark family: after 0.5 s of settling, the object's centre lies within the
container's inner radius (horizontally) of the container's centre, its bottom rests above the table and below the
container's rim (inside it, on its bottom), the arm has let go, and the container stands upright.

Targets: an object is graspable when its footprint's wider side is at most 7 cm (the open hand is 8 cm) and its
centre is less than 0.65 m from the robot base; the target's colour (and the reference's, for pick_place) must be
unique in the scene, so that the colour names one object. A scene without such a target (or without a uniquely
coloured reference) is skipped and the next seed drawn instead (``skipped_seeds`` lists them); an episode's seed
is therefore not always ``seed + i``, but the draw is deterministic.

Time to first motion: wall time from the command (``agent.run``) to the first physics step the backend takes
(the first motion primitive: opening the gripper before the grasp), measured by wrapping the world's ``step``.
It covers planning and perception (depth, pointing, segmentation, grasp computation, IK checks).

Run: spacetools bench sim --episodes N --seed S --tasks pick,pick_place [--json OUT]
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import numpy as np

FAMILIES = ("pick", "pick_place")
GRASPABLE_WIDTH_M = 0.07
GRASPABLE_REACH_M = 0.65
LIFT_SUCCESS_M = 0.05
PLACE_RADIUS_M = 0.20
RESTING_BOTTOM_M = 0.02
UPRIGHT_DEG = 15.0
SETTLE_STEPS = 120  # 0.5 s of physics before a placement is judged
MAX_SEED_DRAWS = 50  # per episode: scenes tried before giving up on finding a suitable one


def _graspable(spec: Any) -> bool:
    """The hand closes around it and a top-down grasp reaches it."""
    return max(spec.size[:2]) <= GRASPABLE_WIDTH_M and math.hypot(*spec.position) < GRASPABLE_REACH_M


def _unique_colour(spec: Any, objects: list[Any]) -> bool:
    return sum(o.colour == spec.colour for o in objects) == 1


def choose_task(family: str, objects: list[Any]) -> tuple[str, Any, Any | None] | None:
    """(command, target spec, reference spec or None) for a scene, or None when the scene has no suitable target.

    The target is the graspable uniquely coloured object nearest the robot base; the pick_place reference is the
    nearest other uniquely coloured object to it.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")
    candidates = sorted((o for o in objects if _graspable(o) and _unique_colour(o, objects)),
                        key=lambda o: math.hypot(*o.position))
    if not candidates:
        return None
    target = candidates[0]
    if family == "pick":
        return f"Pick up the {target.colour} object", target, None
    references = sorted((o for o in objects if o is not target and _unique_colour(o, objects)),
                        key=lambda o: math.dist(o.position, target.position))
    if not references:
        return None
    reference = references[0]
    return (f"Pick up the {target.colour} object and place it next to the {reference.colour} object",
            target, reference)


def _touching(world: Any, name: str) -> bool:
    """Any contact between the arm (fingers included) and the object."""
    import pybullet as pb

    return bool(pb.getContactPoints(bodyA=world.robot, bodyB=world.object_ids[name], physicsClientId=world.client))


def judge(family: str, world: Any, target: Any, reference: Any | None, start_z: float) -> tuple[bool, str]:
    """Ground-truth success of an episode and, when it failed, why (a short sentence)."""
    if family == "pick":
        rise = float(world.object_poses()[target.name][2, 3] - start_z)
        held = _touching(world, target.name)
        if rise > LIFT_SUCCESS_M and held:
            return True, ""
        return False, f"ground truth: target rose {rise:.3f} m, {'held' if held else 'not held'} at the end"
    world.step(SETTLE_STEPS)
    pose = world.object_poses()[target.name]
    bottom = world.object_bottoms()[target.name]
    tilt = math.degrees(math.acos(float(np.clip(pose[2, 2], -1.0, 1.0))))
    ref = world.object_poses()[reference.name]
    distance = float(np.linalg.norm(pose[:2, 3] - ref[:2, 3]))
    released = not _touching(world, target.name)
    problems = []
    if abs(bottom) > RESTING_BOTTOM_M:
        problems.append(f"bottom at z={bottom:.3f} m")
    if tilt > UPRIGHT_DEG:  # its own z axis (a box's height, a cylinder's axis) away from vertical
        problems.append(f"tilted {tilt:.0f} deg")
    if distance > PLACE_RADIUS_M:
        problems.append(f"{distance:.3f} m from the reference")
    if not released:
        problems.append("still held")
    if problems:
        return False, "ground truth: " + ", ".join(problems)
    return True, ""


CONTAINER_INCLUDE = (("red", "box"), ("blue", "bowl"))
"""The objects of :func:`container_scene`: a red cube and a blue bowl, before the random ones."""
CONTAINER_COMMAND = "put the red cube in the blue bowl"
"""The command of the place-in demo on a :func:`container_scene`."""


def judge_in_container(world: Any, target: Any, container: Any) -> tuple[bool, str]:
    """Ground-truth success of putting ``target`` into ``container`` (SceneObjectSpecs of ``world``'s objects) and,
    when it failed, why (a short sentence).

    After SETTLE_STEPS of physics: the target's centre lies within the container's inner radius (horizontally) of
    the container's centre; the target's bottom is above the table (at least half the container's inner bottom
    height up) and below the container's rim, so it rests inside; the arm has let go of it; the container is
    upright within UPRIGHT_DEG.
    """
    world.step(SETTLE_STEPS)
    poses, bottoms = world.object_poses(), world.object_bottoms()
    pose, box = poses[target.name], poses[container.name]
    distance = float(np.linalg.norm(pose[:2, 3] - box[:2, 3]))
    bottom = bottoms[target.name]
    tilt = math.degrees(math.acos(float(np.clip(box[2, 2], -1.0, 1.0))))
    problems = []
    if distance > container.inner_radius:
        problems.append(f"{distance:.3f} m from the {container.shape}'s centre (inner radius "
                        f"{container.inner_radius:.3f} m)")
    if bottom < 0.5 * container.inner_bottom:
        problems.append(f"bottom at z={bottom:.3f} m, on the table")
    elif bottom > bottoms[container.name] + float(container.size[2]):
        problems.append(f"bottom at z={bottom:.3f} m, above the {container.shape}'s rim")
    if _touching(world, target.name):
        problems.append("still held")
    if tilt > UPRIGHT_DEG:
        problems.append(f"the {container.shape} tilted {tilt:.0f} deg")
    if problems:
        return False, "ground truth: " + ", ".join(problems)
    return True, ""


def container_scene(seed: int, num_objects: int = 4) -> Any:
    """The place-in demo's scene of a seed: generate_tabletop(seed, num_objects, include=CONTAINER_INCLUDE), a red
    cube and a blue bowl within the arm's reach, then random boxes and cylinders."""
    from spacetools_ros.sources.synthetic import generate_tabletop

    return generate_tabletop(seed=seed, num_objects=num_objects, include=list(CONTAINER_INCLUDE))


def scene_for(seed: int) -> Any:
    """The benchmark's scene of a seed: generate_tabletop(seed) with 3-5 objects (the count drawn from the seed)."""
    import random

    from spacetools_ros.sources.synthetic import generate_tabletop

    return generate_tabletop(seed=seed, num_objects=random.Random(seed).randint(3, 5))


def run_episode(family: str, seed: int) -> dict[str, Any] | None:
    """One episode on scene ``seed``; None when the scene has no suitable target (the caller draws another)."""
    from spacetools_ros.agent.factory import build_agent
    from spacetools_ros.config import load_config
    from spacetools_ros.robot.sim import TabletopSim

    scene = scene_for(seed)
    num_objects = len(scene.objects)
    chosen = choose_task(family, scene.objects)
    if chosen is None:
        return None
    task, target, reference = chosen
    world = TabletopSim.from_scene(scene)
    try:
        agent = build_agent(load_config(overrides=["robot.backend=sim"]), sim=world)
        start_z = float(world.object_poses()[target.name][2, 3])
        first_motion: list[float] = []
        step = world.step

        def timed_step(n: int = 1) -> None:
            if not first_motion:
                first_motion.append(time.perf_counter())
            step(n)

        frame = world.render()
        world.step = timed_step  # type: ignore[method-assign]
        t0 = time.perf_counter()
        episode = agent.run(task, frame)
        world.step = step  # type: ignore[method-assign]
        success, why = judge(family, world, target, reference, start_z)
        failure = ""
        if not success:
            failure = episode.error or next((c.text for c in episode.tool_calls if not c.ok), "") or why
            if episode.state == "succeeded" or not failure:
                failure = why
        return {
            "seed": seed, "num_objects": num_objects, "task": task, "target": target.name,
            "reference": reference.name if reference is not None else None, "success": success,
            "agent_state": episode.state, "failure": failure,
            "time_to_first_motion_s": round(first_motion[0] - t0, 4) if first_motion else None,
            "total_s": round(episode.timings.get("total_s", 0.0), 4),
            "tool_calls": [{"name": c.name, "ok": c.ok, "duration_s": round(c.duration_s, 4)}
                           for c in episode.tool_calls],
        }
    finally:
        world.close()


def run_sim_benchmark(episodes: int, seed: int, tasks: list[str]) -> dict[str, Any]:
    """Run ``episodes`` episodes per task family; a dict family -> its success rate, timings and failures.

    Episode i of a family uses the first seed from ``seed + i`` on (after those earlier episodes used) whose scene
    has a suitable target; the skipped seeds are listed under ``skipped_seeds``.
    """
    for family in tasks:
        if family not in FAMILIES:
            raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")
    result: dict[str, Any] = {}
    for family in tasks:
        runs: list[dict[str, Any]] = []
        skipped: list[int] = []
        next_seed = seed
        for _ in range(episodes):
            for _draw in range(MAX_SEED_DRAWS):
                run = run_episode(family, next_seed)
                next_seed += 1
                if run is not None:
                    runs.append(run)
                    break
                skipped.append(next_seed - 1)
            else:
                raise RuntimeError(f"{family}: no suitable scene in {MAX_SEED_DRAWS} seeds from {next_seed}")
        successes = sum(r["success"] for r in runs)
        times = [r["time_to_first_motion_s"] for r in runs if r["time_to_first_motion_s"] is not None]
        result[family] = {
            "success_rate": successes / len(runs) if runs else 0.0,
            "episodes": len(runs),
            "successes": successes,
            "median_time_to_first_motion_s": round(statistics.median(times), 4) if times else None,
            "median_tool_calls": statistics.median(len(r["tool_calls"]) for r in runs) if runs else None,
            "failures": [{"seed": r["seed"], "task": r["task"], "reason": r["failure"]}
                         for r in runs if not r["success"]],
            "skipped_seeds": skipped,
            "runs": runs,
        }
    return result


def format_sim_report(result: dict[str, Any]) -> str:
    """The per-family table, then one line per failed episode."""
    lines = [f"{'family':<12}{'episodes':>9}{'successes':>10}{'rate':>7}{'first motion (med)':>20}{'calls':>7}"]
    for family, r in result.items():
        first = r["median_time_to_first_motion_s"]
        first_text = f"{first:.2f} s" if first is not None else "-"
        lines.append(f"{family:<12}{r['episodes']:>9}{r['successes']:>10}{r['success_rate']:>7.0%}"
                     f"{first_text:>20}{r['median_tool_calls'] if r['median_tool_calls'] is not None else '-':>7}")
    for family, r in result.items():
        if r["skipped_seeds"]:
            lines.append(f"{family}: skipped seeds without a suitable target: {r['skipped_seeds']}")
        for f in r["failures"]:
            lines.append(f"{family} seed {f['seed']}: {f['task']!r}: {f['reason'][:240]}")
    return "\n".join(lines)
