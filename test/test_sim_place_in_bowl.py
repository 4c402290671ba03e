"""The demo "put the red cube in the blue bowl": the agent (scripted planner) picks and places in the PyBullet
simulation, judged from the simulator's ground truth (sim_bench.judge_in_container)."""

from __future__ import annotations

import pytest

pytest.importorskip("pybullet")
pytest.importorskip("pinocchio")

from spacetools_ros.agent.factory import build_agent  # noqa: E402
from spacetools_ros.bench.sim_bench import (  # noqa: E402
    CONTAINER_COMMAND,
    container_scene,
    judge_in_container,
)
from spacetools_ros.config import load_config  # noqa: E402
from spacetools_ros.robot.sim import TabletopSim  # noqa: E402

SEEDS = range(5)
MIN_SUCCESSES = 4


def _episode(seed: int) -> tuple[bool, str, list[str]]:
    """(success by ground truth, why it failed, the tool calls made) of the demo on container_scene(seed)."""
    scene = container_scene(seed)
    cube, bowl = scene.objects[:2]
    assert (cube.colour, cube.shape, bowl.colour, bowl.shape) == ("red", "box", "blue", "bowl")
    world = TabletopSim.from_scene(scene)
    try:
        agent = build_agent(load_config(overrides=["robot.backend=sim"]), sim=world)
        episode = agent.run(CONTAINER_COMMAND, world.render())
        success, why = judge_in_container(world, cube, bowl)
        if not success and episode.state != "succeeded":
            why = f"agent {episode.state}: {episode.error}; {why}"
        return success, why, [c.name for c in episode.tool_calls]
    finally:
        world.close()


def test_put_the_red_cube_in_the_blue_bowl():
    results = {seed: _episode(seed) for seed in SEEDS}
    for seed, (success, why, calls) in results.items():
        print(f"seed {seed}: {'success' if success else 'FAILED: ' + why} ({len(calls)} tool calls)")
    successes = sum(success for success, _, _ in results.values())
    print(f"put the red cube in the blue bowl: {successes}/{len(results)} by ground truth")
    for success, _, calls in results.values():
        if success:
            assert calls[-3:] == ["robot.execute_grasp", "roborefer.detect_one", "robot.place_object_at_2d_location"]
    assert successes >= MIN_SUCCESSES, {seed: why for seed, (ok, why, _) in results.items() if not ok}


def test_judge_rejects_a_cube_left_on_the_table():
    """Nothing done: the cube stands on the table, away from the bowl."""
    scene = container_scene(0)
    cube, bowl = scene.objects[:2]
    world = TabletopSim.from_scene(scene)
    try:
        success, why = judge_in_container(world, cube, bowl)
    finally:
        world.close()
    assert not success
    assert "from the bowl's centre" in why and "on the table" in why
