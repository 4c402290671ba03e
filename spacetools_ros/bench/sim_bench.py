"""Closed-loop task success in the PyBullet simulation: the agent (scripted planner) picks and places for real.

Each episode builds a scene with :func:`~spacetools_ros.sources.synthetic.generate_tabletop` (seed + i, 3-5
objects), a :class:`~spacetools_ros.robot.sim.TabletopSim` of it, and an agent with ``robot.backend=sim`` acting
in that world; the task runs on the world's rendered frame, and success is judged from the simulator's ground
truth, never from the agent's answer:

* ``pick`` ("Pick up the <colour> object"): the target's centre rose more than 5 cm above where it started and
  the fingers touch it at the end (it is held, not knocked up).
* ``relational_pick`` ("Pick up the cylinder left of the red object", "Pick up the object nearest to the green
  box", "Pick up the block in front of the can"): judged as pick. The command names the target by its relation
  (left of, right of, in front of, behind: from the camera's view, as the classical grounding reads them; next
  to / nearest to) to a uniquely named anchor, and its answer is unique by the ground truth with a margin
  (:func:`relation_answer`).
* ``pick_place`` ("Pick up the <colour> object and place it next to the <colour2> object"), scored 0/1/2 like the
  SpaceTools paper's real-robot table (:func:`score_pick_place`): 0 = not picked (the target never rose more
  than 5 cm), 1 = picked but not placed, 2 = placed: after 0.5 s of settling, the picked object rests on the
  table (its bottom within 2 cm of z = 0, upright within 15 degrees), its centre lies within 0.20 m
  (horizontally) of the reference object's centre, and the arm has let go (no finger contact). Resting on the
  table also excludes ending on top of the reference. Success is a score of 2.

A third judge, :func:`judge_in_container` ("place_in", e.g. "put the red cube in the blue bowl" on a
:func:`container_scene`), is not a benchmark family: after 0.5 s of settling, the object's centre lies within the
container's inner radius (horizontally) of the container's centre, its bottom rests above the table and below the
container's rim (inside it, on its bottom), the arm has let go, and the container stands upright.

Targets: an object is graspable when its footprint's wider side is at most 7 cm (the open hand is 8 cm) and its
centre is less than 0.65 m from the robot base; for pick and pick_place the target's colour (and the reference's)
must be unique in the scene, so that the colour names one object; relational_pick needs a graspable target its
relation names alone. A scene without such a target (or without a uniquely coloured reference) is skipped and
the next seed drawn instead (``skipped_seeds`` lists them); an episode's seed is therefore
not always ``seed + i``, but the draw is deterministic.

Time to first motion: wall time from the command (``agent.run``) to the first physics step the backend takes
(the first motion primitive: opening the gripper before the grasp), measured by wrapping the world's ``step``.
It covers planning and perception (depth, pointing, segmentation, grasp computation, IK checks).

Run: spacetools bench sim --episodes N --seed S --tasks pick,relational_pick,pick_place [--json OUT] [--html PATH]
(the HTML summary, :mod:`spacetools_ros.bench.sim_report`, goes beside OUT by default).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

FAMILIES = ("pick", "relational_pick", "pick_place")
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


def choose_task(family: str, objects: list[Any], T_base_camera: np.ndarray | None = None,
                seed: int = 0) -> tuple[str, Any, Any | None] | None:
    """(command, target spec, reference spec or None) for a scene, or None when the scene has no suitable target.

    pick / pick_place: the target is the graspable uniquely coloured object nearest the robot base; the pick_place
    reference is the nearest other uniquely coloured object to it. relational_pick: :func:`relational_command`
    (needs the camera pose ``T_base_camera``, which fixes left and right; ``seed`` draws the command), the
    reference being the anchor object.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")
    if family == "relational_pick":
        if T_base_camera is None:
            raise ValueError("relational_pick needs the camera pose (T_base_camera): left/right are the camera's")
        return relational_command(objects, T_base_camera, seed)
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


RELATION_MARGIN_M = 0.05
"""A relational command's answer must hold with this slack (metres) by the ground truth: the target satisfies the
relation by more than it, every rival fails it by more than it (perceived centres differ from the true ones by a
few centimetres: visible surfaces only)."""
NEXT_TO_MAX_M = 0.25
"""For "next to" / "nearest to", the target's centre lies at most this far (metres) from the anchor's."""
RELATIONS = ("left", "right", "front", "behind", "near")
"""Relations of relational_pick, with the classical grounding's meaning (perception/grounding.py)."""
RELATION_PHRASES = {"left": ("left of", "to the left of"), "right": ("right of", "to the right of"),
                    "front": ("in front of",), "behind": ("behind",), "near": ("next to", "nearest to")}
SHAPE_PHRASES = {"box": ("box", "block"), "cylinder": ("cylinder", "can")}
"""Words the grounding reads as each generated shape (grounding.SHAPE_WORDS)."""


def camera_table_axes(T_base_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, forward): unit vectors on the table (base frame, z up) of the camera's view, as the grounding uses
    them: right is the camera's x axis (image right) laid on the table, forward points away from the camera."""
    T = np.asarray(T_base_camera, dtype=float)
    right = np.array([T[0, 0], T[1, 0], 0.0])
    right /= np.linalg.norm(right)
    forward = np.cross([0.0, 0.0, 1.0], right)
    if forward @ T[:3, 2] < 0:
        forward = -forward
    return right, forward


def table_offset(spec: Any, anchor: Any, axes: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """(right, forward) metres from the anchor's centre to the object's centre, from the camera's view."""
    d = np.array([spec.position[0] - anchor.position[0], spec.position[1] - anchor.position[1], 0.0])
    return float(d @ axes[0]), float(d @ axes[1])


def relation_slack(relation: str, dx: float, dy: float) -> float:
    """How far (metres) an offset (dx right, dy forward) is inside a directional relation's region; negative
    outside. The region is the grounding's (``_satisfies``): "left" is dx < 0 and abs(dx) > 0.5 abs(dy), i.e.
    -dx - 0.5 abs(dy) > 0, and so on for right, front (towards the camera) and behind."""
    if relation == "left":
        return -dx - 0.5 * abs(dy)
    if relation == "right":
        return dx - 0.5 * abs(dy)
    if relation == "front":
        return -dy - 0.5 * abs(dx)
    if relation == "behind":
        return dy - 0.5 * abs(dx)
    raise ValueError(f"{relation!r} is not a directional relation")


def relation_answer(relation: str, anchor: Any, candidates: list[Any], axes: tuple[np.ndarray, np.ndarray],
                    margin: float = RELATION_MARGIN_M) -> Any | None:
    """The one candidate (not the anchor) that the relation to the anchor picks out by the ground truth, or None
    when that is not unambiguous with ``margin``.

    Directional relations: exactly one candidate lies inside the region by more than ``margin`` and every other one
    outside it by more than ``margin``. "near" (next to / nearest to): the nearest candidate, within NEXT_TO_MAX_M,
    every other one at least ``margin`` farther.
    """
    others = [c for c in candidates if c is not anchor]
    if not others:
        return None
    if relation == "near":
        ranked = sorted(others, key=lambda c: math.dist(c.position, anchor.position))
        first = math.dist(ranked[0].position, anchor.position)
        if first > NEXT_TO_MAX_M:
            return None
        if len(ranked) > 1 and math.dist(ranked[1].position, anchor.position) - first < margin:
            return None
        return ranked[0]
    slack = [relation_slack(relation, *table_offset(c, anchor, axes)) for c in others]
    inside = [c for c, s in zip(others, slack, strict=True) if s > margin]
    if len(inside) != 1 or sum(s >= -margin for s in slack) != 1:
        return None
    return inside[0]


def relational_options(objects: list[Any], T_base_camera: np.ndarray) -> list[tuple[Any, str, Any, str | None]]:
    """Every unambiguous (target, relation, anchor, target shape or None) of a scene: the target is graspable,
    the anchor is uniquely coloured, and among the objects of the target's shape (all objects when None) the
    relation to the anchor picks out the target alone (:func:`relation_answer`)."""
    axes = camera_table_axes(T_base_camera)
    options = []
    for anchor in objects:
        if not _unique_colour(anchor, objects):
            continue
        for relation in RELATIONS:
            for shape in (None, *SHAPE_PHRASES):
                pool = [o for o in objects if shape is None or o.shape == shape]
                target = relation_answer(relation, anchor, pool, axes)
                if target is not None and _graspable(target):
                    options.append((target, relation, anchor, shape))
    return options


def relational_command(objects: list[Any], T_base_camera: np.ndarray, seed: int) -> tuple[str, Any, Any] | None:
    """A seeded relational pick command (command, target, anchor), e.g. "Pick up the cylinder left of the red
    object", whose answer is unique by the ground truth; None when the scene has none.

    The relation is drawn first (among those with an option), then the option, then the words: the target is
    "the object" or its shape ("box"/"block", "cylinder"/"can"); the anchor is "the <colour> object", "the
    <colour> <shape>" or, when its shape is unique in the scene, "the <shape>".
    """
    import random

    options = relational_options(objects, T_base_camera)
    if not options:
        return None
    rng = random.Random(f"relational_pick:{seed}")
    relation = rng.choice(sorted({o[1] for o in options}, key=RELATIONS.index))
    target, relation, anchor, shape = rng.choice([o for o in options if o[1] == relation])
    target_word = "object" if shape is None else rng.choice(SHAPE_PHRASES[shape])
    anchor_shape = rng.choice(SHAPE_PHRASES[anchor.shape]) if anchor.shape in SHAPE_PHRASES else "object"
    anchor_words = [f"{anchor.colour} object", f"{anchor.colour} {anchor_shape}"]
    if anchor.shape in SHAPE_PHRASES and sum(o.shape == anchor.shape for o in objects) == 1:
        anchor_words.append(anchor_shape)
    command = (f"Pick up the {target_word} {rng.choice(RELATION_PHRASES[relation])} "
               f"the {rng.choice(anchor_words)}")
    return command, target, anchor


def _touching(world: Any, name: str) -> bool:
    """Any contact between the arm (fingers included) and the object."""
    import pybullet as pb

    return bool(pb.getContactPoints(bodyA=world.robot, bodyB=world.object_ids[name], physicsClientId=world.client))


def judge(family: str, world: Any, target: Any, reference: Any | None, start_z: float) -> tuple[bool, str]:
    """Ground-truth success of an episode and, when it failed, why (a short sentence).

    pick and relational_pick: lifted and held; pick_place: resting on the table next to the reference, let go
    (:func:`score_pick_place` adds whether it was picked at all).
    """
    if family in ("pick", "relational_pick"):
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


def score_pick_place(world: Any, target: Any, reference: Any, max_rise: float) -> tuple[int, str]:
    """The real-robot table's 0/1/2 score of a pick-and-place episode and, below 2, why.

    0: not picked (the target never rose more than LIFT_SUCCESS_M above where it started: ``max_rise``, as an
    :class:`EpisodeProbe` measured it); 1: picked but not placed correctly (:func:`judge` of pick_place failed);
    2: placed. Success is a score of 2: an object pushed next to the reference without being lifted scores 0.
    """
    if max_rise <= LIFT_SUCCESS_M:
        return 0, f"ground truth: not picked (the target rose at most {max(max_rise, 0.0):.3f} m)"
    placed, why = judge("pick_place", world, target, reference, 0.0)
    return (2, "") if placed else (1, why.replace("ground truth: ", "ground truth: picked, not placed: ", 1))


class EpisodeProbe:
    """Watches a world's physics while installed (a context manager wrapping ``world.step``): the wall time of the
    first step (the first motion) and the target's highest rise above its height at installation."""

    def __init__(self, world: Any, target: str) -> None:
        """Probe ``world`` for the object named ``target``."""
        self.world = world
        self.body = world.object_ids[target]
        self.start_z = self.height()
        self.first_step_at: float | None = None
        self.max_rise = 0.0
        self._step: Any = None

    def height(self) -> float:
        """The target's centre height now (m)."""
        import pybullet as pb

        return float(pb.getBasePositionAndOrientation(self.body, physicsClientId=self.world.client)[0][2])

    def __enter__(self) -> EpisodeProbe:
        self._step = self.world.step

        def step(n: int = 1) -> None:
            if self.first_step_at is None:
                self.first_step_at = time.perf_counter()
            self._step(n)
            self.max_rise = max(self.max_rise, self.height() - self.start_z)

        self.world.step = step
        return self

    def __exit__(self, *exc: object) -> None:
        self.world.step = self._step


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
    """One episode on scene ``seed``; None when the scene has no suitable target (the caller draws another).

    The record: seed, task, target, reference, success, score (pick_place: 0/1/2, else None), agent state,
    failure reason, time to first motion, total time, the target's highest rise and the tool calls.
    """
    from spacetools_ros.agent.factory import build_agent
    from spacetools_ros.config import load_config
    from spacetools_ros.robot.sim import TabletopSim

    scene = scene_for(seed)
    num_objects = len(scene.objects)
    chosen = choose_task(family, scene.objects, scene.frame.T_base_camera, seed)
    if chosen is None:
        return None
    task, target, reference = chosen
    world = TabletopSim.from_scene(scene)
    try:
        agent = build_agent(load_config(overrides=["robot.backend=sim"]), sim=world)
        frame = world.render()
        with EpisodeProbe(world, target.name) as probe:
            t0 = time.perf_counter()
            episode = agent.run(task, frame)
        score = None
        if family == "pick_place":
            score, why = score_pick_place(world, target, reference, probe.max_rise)
            success = score == 2
        else:
            success, why = judge(family, world, target, reference, probe.start_z)
        failure = ""
        if not success:
            failure = episode.error or next((c.text for c in episode.tool_calls if not c.ok), "") or why
            if episode.state == "succeeded" or not failure:
                failure = why
        return {
            "seed": seed, "num_objects": num_objects, "task": task, "target": target.name,
            "reference": reference.name if reference is not None else None, "success": success, "score": score,
            "agent_state": episode.state, "failure": failure,
            "time_to_first_motion_s": round(probe.first_step_at - t0, 4) if probe.first_step_at else None,
            "total_s": round(episode.timings.get("total_s", 0.0), 4),
            "max_rise_m": round(probe.max_rise, 4),
            "tool_calls": [{"name": c.name, "ok": c.ok, "duration_s": round(c.duration_s, 4)}
                           for c in episode.tool_calls],
        }
    finally:
        world.close()


def summarise_family(runs: list[dict[str, Any]], skipped: list[int]) -> dict[str, Any]:
    """A family's entry of the result: success_rate, episodes, successes, median_time_to_first_motion_s,
    median_tool_calls, failures, skipped_seeds, runs and, when its episodes are scored (pick_place), mean_score and
    score_counts ({"0": n, "1": n, "2": n})."""
    successes = sum(r["success"] for r in runs)
    times = [r["time_to_first_motion_s"] for r in runs if r["time_to_first_motion_s"] is not None]
    summary: dict[str, Any] = {
        "success_rate": successes / len(runs) if runs else 0.0,
        "episodes": len(runs),
        "successes": successes,
        "median_time_to_first_motion_s": round(statistics.median(times), 4) if times else None,
        "median_tool_calls": statistics.median(len(r["tool_calls"]) for r in runs) if runs else None,
    }
    scores = [r["score"] for r in runs if r.get("score") is not None]
    if scores:
        summary["mean_score"] = round(statistics.mean(scores), 4)
        summary["score_counts"] = {str(k): scores.count(k) for k in (0, 1, 2)}
    summary.update({
        "failures": [{"seed": r["seed"], "task": r["task"], "reason": r["failure"]} for r in runs if not r["success"]],
        "skipped_seeds": skipped,
        "runs": runs,
    })
    return summary


def run_sim_benchmark(episodes: int, seed: int, tasks: list[str],
                      progress: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``episodes`` episodes per task family; a dict family -> :func:`summarise_family` of its episodes.

    Episode i of a family uses the first seed from ``seed + i`` on (after those earlier episodes used) whose scene
    has a suitable target; the skipped seeds are listed under ``skipped_seeds``. ``progress(family, record)`` is
    called after every episode.
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
                    if progress is not None:
                        progress(family, run)
                    break
                skipped.append(next_seed - 1)
            else:
                raise RuntimeError(f"{family}: no suitable scene in {MAX_SEED_DRAWS} seeds from {next_seed}")
        result[family] = summarise_family(runs, skipped)
    return result


def overall(result: dict[str, Any]) -> dict[str, Any]:
    """All families' episodes together: episodes, successes, success_rate, median_time_to_first_motion_s,
    median_tool_calls."""
    runs = [r for family in result.values() for r in family["runs"]]
    times = [r["time_to_first_motion_s"] for r in runs if r["time_to_first_motion_s"] is not None]
    successes = sum(r["success"] for r in runs)
    return {"episodes": len(runs), "successes": successes,
            "success_rate": successes / len(runs) if runs else 0.0,
            "median_time_to_first_motion_s": round(statistics.median(times), 4) if times else None,
            "median_tool_calls": statistics.median(len(r["tool_calls"]) for r in runs) if runs else None}


def format_sim_report(result: dict[str, Any]) -> str:
    """The per-family table (and, for several families, all episodes together), then one line per failed
    episode."""
    lines = [f"{'family':<16}{'episodes':>9}{'successes':>10}{'rate':>7}{'score':>7}{'first motion (med)':>20}"
             f"{'calls':>7}"]

    def row(name: str, r: dict[str, Any]) -> str:
        first = r["median_time_to_first_motion_s"]
        first_text = f"{first:.2f} s" if first is not None else "-"
        score = f"{r['mean_score']:.2f}" if r.get("mean_score") is not None else "-"
        calls = r.get("median_tool_calls")
        return (f"{name:<16}{r['episodes']:>9}{r['successes']:>10}{r['success_rate']:>7.0%}{score:>7}"
                f"{first_text:>20}{calls if calls is not None else '-':>7}")

    lines += [row(family, r) for family, r in result.items()]
    if len(result) > 1:
        lines.append(row("all", overall(result)))
    for family, r in result.items():
        if r["skipped_seeds"]:
            lines.append(f"{family}: skipped seeds without a suitable target: {r['skipped_seeds']}")
        for f in r["failures"]:
            lines.append(f"{family} seed {f['seed']}: {f['task']!r}: {f['reason'][:240]}")
    return "\n".join(lines)
