"""Speed of the PyBullet simulator with its camera streaming: real-time factor per renderer, measured in one run.

Each run builds the world of :func:`~spacetools_ros.sources.synthetic.generate_tabletop` (seed, 4 objects, its
640x480 camera) and drives it with a :class:`~spacetools_ros.robot.sim.SimBackend` at ``camera_hz`` (the camera
is rendered every 1/camera_hz simulated seconds during motions, at full resolution): the arm moves top-down
between two poses over the table, closing the gripper at one and opening it at the other, until ``sim_seconds``
of simulated time have passed. The same command sequence runs for every renderer, so every run simulates the
same seconds and renders the same number of frames.

Reported per renderer (medians over the repeats; the renderers' runs are interleaved, so that load from other
processes on a shared machine falls on all of them alike):

    real_time_factor   simulated seconds / wall seconds of the whole loop (planning, control, physics, camera)
    ms_per_render      wall time of TabletopSim.render per frame
    ms_per_step        wall time of one 1/240 s physics step (TabletopSim.step) inside the loop

and, once, the pure stepping cost: ``stepping_ms_per_step`` (the world stepped 24 steps at a time, i.e. 0.1 s
of simulated time, with the arm holding still and nothing else running). Nothing is asserted about the times.

Run: .venv/bin/python benchmarks/bench_sim_speed.py [--seconds S] [--repeats N] [--json]
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from spacetools_ros.frames.geometry import top_down_pose

DEFAULT_RENDERERS = ("raycast", "tiny")
POSES = ((0.5, 0.2, 0.3, 0.3), (0.45, -0.15, 0.2, 0.0))
"""(x, y, z, closing yaw) of the two top-down TCP poses the arm moves between."""
GRIPPER_WIDTHS = (0.0, 0.08)
"""Gripper command after reaching the first / second pose (close, open)."""




def run_motion(renderer: str, sim_seconds: float, camera_hz: float, seed: int) -> dict[str, float]:
    """One timed run of the arm moving for sim_seconds with the camera rendered by ``renderer``."""
    from spacetools_ros.robot.sim import SimBackend, TabletopSim
    from spacetools_ros.sources.synthetic import generate_tabletop

    sim = TabletopSim.from_scene(generate_tabletop(seed=seed), renderer=renderer)
    try:
        backend = SimBackend(sim, camera_hz=camera_hz)
        backend.capture()  # builds the renderer's caches, as a streaming camera's first frame would
        clock = {"render": 0.0, "step": 0.0, "steps": 0}
        render, step = sim.render, sim.step

        def timed_render(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return render(*args, **kwargs)
            finally:
                clock["render"] += time.perf_counter() - t0

        def timed_step(n: int = 1) -> None:
            t0 = time.perf_counter()
            step(n)
            clock["step"] += time.perf_counter() - t0
            clock["steps"] += int(n)

        sim.render, sim.step = timed_render, timed_step  # type: ignore[method-assign]
        poses = [top_down_pose(*p) for p in POSES]
        t_start, wall_start, i = sim.time, time.perf_counter(), 0
        while sim.time - t_start < sim_seconds:
            result = backend.move_to_pose(poses[i % 2])
            if not result.success:
                raise RuntimeError(f"benchmark motion failed: {result.message}")
            backend.set_gripper(GRIPPER_WIDTHS[i % 2])
            i += 1
        wall = time.perf_counter() - wall_start
        simulated = sim.time - t_start
        frames = backend.render_count
        return {"sim_seconds": simulated, "wall_seconds": wall, "real_time_factor": simulated / wall,
                "frames": frames, "ms_per_render": 1e3 * clock["render"] / max(frames, 1),
                "ms_per_step": 1e3 * clock["step"] / max(clock["steps"], 1), "steps": clock["steps"]}
    finally:
        sim.close()


def stepping_cost(seed: int = 0, chunks: int = 50) -> float:
    """Median ms per physics step, stepping the world 24 steps (0.1 s) at a time with the arm holding still."""
    from spacetools_ros.robot.sim import TabletopSim
    from spacetools_ros.sources.synthetic import generate_tabletop

    sim = TabletopSim.from_scene(generate_tabletop(seed=seed))
    try:
        times = []
        for _ in range(chunks):
            t0 = time.perf_counter()
            sim.step(24)
            times.append((time.perf_counter() - t0) / 24)
        return 1e3 * statistics.median(times)
    finally:
        sim.close()


def run_sim_speed_benchmark(sim_seconds: float = 5.0, repeats: int = 3, camera_hz: float = 10.0, seed: int = 0,
                            renderers: tuple[str, ...] = DEFAULT_RENDERERS) -> dict:
    """Real-time factor, ms per render and ms per physics step for each renderer (medians over the repeats,
    runs interleaved), their ratios to the last renderer (the baseline, TinyRenderer by default), and the pure
    stepping cost."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in renderers}
    for _ in range(repeats):
        for name in renderers:
            runs[name].append(run_motion(name, sim_seconds, camera_hz, seed))
    keys = ("sim_seconds", "wall_seconds", "real_time_factor", "frames", "ms_per_render", "ms_per_step")
    summary = {name: {k: statistics.median(r[k] for r in rs) for k in keys} | {"runs": rs} for name, rs in runs.items()}
    baseline = renderers[-1]
    ratios = {name: {"real_time_factor": s["real_time_factor"] / summary[baseline]["real_time_factor"],
                     "render_speedup": summary[baseline]["ms_per_render"] / max(s["ms_per_render"], 1e-9)}
              for name, s in summary.items() if name != baseline}
    return {"sim_seconds": sim_seconds, "camera_hz": camera_hz, "resolution": [640, 480], "seed": seed,
            "repeats": repeats, "baseline": baseline, "renderers": summary, "ratios": ratios,
            "stepping_ms_per_step": stepping_cost(seed), "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def format_sim_speed_report(result: dict) -> str:
    """A few lines: one per renderer, the ratios to the baseline, the pure stepping cost."""
    lines = [f"simulator speed: arm moving, camera at {result['camera_hz']:g} Hz, "
             f"{result['resolution'][0]}x{result['resolution'][1]} (median of {result['repeats']} interleaved runs)",
             f"  {'renderer':<10}{'sim s':>8}{'wall s':>9}{'x real time':>13}{'frames':>8}{'ms/render':>11}"
             f"{'ms/step':>9}"]
    for name, s in result["renderers"].items():
        lines.append(f"  {name:<10}{s['sim_seconds']:>8.2f}{s['wall_seconds']:>9.2f}{s['real_time_factor']:>13.2f}"
                     f"{s['frames']:>8.0f}{s['ms_per_render']:>11.1f}{s['ms_per_step']:>9.3f}")
    for name, r in result["ratios"].items():
        lines.append(f"  {name} / {result['baseline']}: {r['real_time_factor']:.1f}x the real-time factor, "
                     f"renders {r['render_speedup']:.1f}x faster")
    lines.append(f"  pure physics stepping (24 steps per 0.1 s, arm holding): {result['stepping_ms_per_step']:.3f} ms "
                 f"per step = {24 * result['stepping_ms_per_step']:.2f} ms per simulated 0.1 s")
    if result.get("load_average"):
        lines.append(f"  load average {result['load_average'][0]:.2f} on {result['cpu_count']} CPUs")
    return "\n".join(lines)
