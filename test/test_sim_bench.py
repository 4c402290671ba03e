"""The simulation benchmark: robot.backend=sim, pick and pick-and-place closed-loop through the scripted planner."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pybullet")
pytest.importorskip("pinocchio")

from spacetools_ros.agent.factory import build_agent, build_manipulator  # noqa: E402
from spacetools_ros.bench.sim_bench import choose_task, format_sim_report, run_sim_benchmark, scene_for  # noqa: E402
from spacetools_ros.config import ConfigError, load_config  # noqa: E402
from spacetools_ros.robot.sim import SimBackend, TabletopSim  # noqa: E402
from spacetools_ros.sources.synthetic import generate_tabletop  # noqa: E402

SIM = ["robot.backend=sim"]
PLACE_SEED = 0  # a scene where pick-and-place succeeds (deterministic); seeds 1 and 5 work too


def test_sim_backend_needs_a_world() -> None:
    config = load_config(overrides=SIM)
    assert config.robot.backend == "sim"
    with pytest.raises(ConfigError, match="sim=TabletopSim"):
        build_manipulator(config, None)
    with pytest.raises(ConfigError, match="robot.backend"):
        load_config(overrides=["robot.backend=real"])
    world = TabletopSim.from_scene(generate_tabletop(seed=0, num_objects=3))
    try:
        manipulator = build_manipulator(config, None, sim=world)
        assert isinstance(manipulator.backend, SimBackend) and manipulator.backend.sim is world
        assert manipulator.backend.gate.check_can_move()  # enabled, not a dry run
        assert manipulator.backend.capture().metadata["source"] == "pybullet_sim"
    finally:
        world.close()


def test_pick_benchmark_structure_and_success() -> None:
    result = run_sim_benchmark(episodes=2, seed=0, tasks=["pick"])
    pick = result["pick"]
    assert set(pick) >= {"success_rate", "episodes", "successes", "median_time_to_first_motion_s", "failures"}
    assert pick["episodes"] == 2 and 0.0 <= pick["success_rate"] <= 1.0
    assert pick["successes"] >= 1, pick["failures"]
    assert pick["median_time_to_first_motion_s"] > 0
    for run in pick["runs"]:
        assert any(c["name"] == "robot.execute_grasp" for c in run["tool_calls"])
    assert "pick" in format_sim_report(result)
    json.dumps(result)


def test_pick_and_place_next_to_the_reference_end_to_end() -> None:
    scene = scene_for(PLACE_SEED)
    task, target, reference = choose_task("pick_place", scene.objects)
    world = TabletopSim.from_scene(scene)
    try:
        agent = build_agent(load_config(overrides=SIM), sim=world)
        start = world.object_poses()[target.name][:3, 3].copy()
        episode = agent.run(task, world.render())
        assert episode.state == "succeeded", (episode.error, [c.text for c in episode.tool_calls])
        names = [c.name for c in episode.tool_calls]
        assert names[-3:] == ["robot.execute_grasp", "roborefer.detect_one", "robot.place_object_at_2d_location"]
        world.step(120)
        pose = world.object_poses()[target.name]
        ref = world.object_poses()[reference.name][:3, 3]
        assert np.linalg.norm(pose[:2, 3] - start[:2]) > 0.03  # it moved
        assert abs(world.object_bottoms()[target.name]) < 0.02  # resting on the table, not on the reference
        assert math.degrees(math.acos(min(1.0, pose[2, 2]))) < 15  # upright
        assert np.linalg.norm(pose[:2, 3] - ref[:2]) < 0.20  # next to the reference
        assert world.object_bottoms()[reference.name] < 0.005  # the reference still stands
        assert episode.tool_calls[-1].ok and "Release operation succeeded" in episode.tool_calls[-1].text
    finally:
        world.close()


def test_cli_bench_sim_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    proc = subprocess.run([sys.executable, "-m", "spacetools_ros.cli", "bench", "sim", "--episodes", "1", "--seed",
                           "0", "--tasks", "pick", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pick" in proc.stdout and "rate" in proc.stdout
    data = json.loads(out.read_text())
    assert data["pick"]["episodes"] == 1 and 0.0 <= data["pick"]["success_rate"] <= 1.0
