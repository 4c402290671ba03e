"""`spacetools bench perf`: every performance figure of the project, each beside a baseline measured in the same run.

Sections (each the module that measures it; nothing here measures anything itself except the quick simulator loop):

    conversions       bench.conversions: numpy <-> PointCloud2 / Image at 640x480 vs per-point Python loops
    perception_chain  bench.perf: back-projection, table + objects, segment at a point, box, grasp vs a naive open3d
                      pipeline (point cloud, RANSAC plane, DBSCAN, box)
    loop_overhead     bench.loop_overhead: the agent loop's cost per tool call vs calling the tool directly
    replay            bench.replay_throughput: `spacetools replay` at full speed into a subscriber process vs reading
                      the same bag with rosbags without publishing
    sim_speed         bench.sim_speed: PyBullet with the camera at 10 Hz, ray-casting camera vs TinyRenderer; quick
                      runs use quick_sim_speed (below) instead, as one motion of the full benchmark takes over 10 s

Each figure is {"section", "name", "value", "unit", "baseline", "baseline_value", "ratio", "ratio_is", "note"}:
"ratio" is the speed-up over the baseline, baseline_value / value for times (lower is better) and value /
baseline_value for rates (higher is better), as "ratio_is" says; above 1 the project's code is faster than the
baseline. Values are medians (each section's own repeats). The machine (CPU count, platform, load average before and
after) is part of the result and of the table. A section that fails is recorded under "errors" with its reason and
the others still run. Nothing is asserted about the times.
"""

from __future__ import annotations

import os
import platform
import textwrap
import time
import traceback
from collections.abc import Callable
from typing import Any

SECTIONS = ("conversions", "perception_chain", "loop_overhead", "replay", "sim_speed")
"""The sections of the result, in the order they run."""
TIME_UNITS = ("ms", "us")
"""Units of figures where lower is better (ratio = baseline / value); every other unit is a rate (value / baseline)."""


def figure(section: str, name: str, value: float, unit: str, baseline: str, baseline_value: float,
           note: str = "") -> dict[str, Any]:
    """One figure with its ratio: baseline / value for TIME_UNITS, else value / baseline (the speed-up either way)."""
    lower_is_better = unit in TIME_UNITS
    ratio = baseline_value / value if lower_is_better else value / baseline_value
    return {"section": section, "name": name, "value": float(value), "unit": unit, "baseline": baseline,
            "baseline_value": float(baseline_value), "ratio": float(ratio),
            "ratio_is": "baseline/value" if lower_is_better else "value/baseline", "note": note}


def machine() -> dict[str, Any]:
    """The machine the figures come from: CPUs (os.cpu_count and those this process may use), platform, Python."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpus": os.cpu_count(), "usable_cpus": usable, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version()}


def quick_sim_speed(sim_seconds: float = 1.0, camera_hz: float = 10.0, seed: int = 0,
                    renderers: tuple[str, ...] = ("raycast", "tiny")) -> dict:
    """The quick stand-in for sim_speed.run_sim_speed_benchmark: for each renderer, the world of generate_tabletop
    (seed) stepped for ``sim_seconds`` at 240 Hz with its 640x480 camera rendered every 1/camera_hz simulated
    seconds, the arm holding still (no planning or control, which the full benchmark includes). Returns
    {"sim_seconds", "camera_hz", "renderers": {name: {"real_time_factor", "ms_per_render", "frames",
    "wall_seconds", "renderer_used"}}, "baseline"} (the last renderer is the baseline)."""
    from spacetools_ros.robot.sim import TabletopSim
    from spacetools_ros.robot.sim.pybullet_sim import SIM_HZ
    from spacetools_ros.sources.synthetic import generate_tabletop

    steps_per_frame = max(1, round(SIM_HZ / camera_hz))
    out: dict[str, dict[str, Any]] = {}
    for name in renderers:
        sim = TabletopSim.from_scene(generate_tabletop(seed=seed), renderer=name)
        try:
            sim.render()  # the renderer's caches, as a streaming camera's first frame builds them
            frames, render_s, t_start = 0, 0.0, sim.time
            wall_start = time.perf_counter()
            while sim.time - t_start < sim_seconds - 1e-9:
                sim.step(steps_per_frame)
                t0 = time.perf_counter()
                sim.render()
                render_s += time.perf_counter() - t0
                frames += 1
            wall = time.perf_counter() - wall_start
            out[name] = {"real_time_factor": (sim.time - t_start) / wall, "ms_per_render": 1e3 * render_s / frames,
                         "frames": frames, "wall_seconds": wall, "renderer_used": sim.renderer}
        finally:
            sim.close()
    return {"sim_seconds": sim_seconds, "camera_hz": camera_hz, "resolution": [640, 480], "seed": seed,
            "renderers": out, "baseline": renderers[-1], "arm": "holding still"}


def _conversions(quick: bool, options: dict[str, Any]) -> tuple[dict, list[dict]]:
    from spacetools_ros.bench.conversions import BASELINE, QUICK, run_conversions_benchmark

    result = run_conversions_benchmark(**(QUICK if quick else {}))
    w, h = result["resolution"]
    figures = [figure("conversions", f"{row['name']} ({w}x{h})", row["median_ms"], "ms", BASELINE,
                      row["baseline_median_ms"], "" if row["checked"] else "loop output differs")
               for row in result["rows"]]
    return result, figures


def _perception_chain(quick: bool, options: dict[str, Any]) -> tuple[dict, list[dict]]:
    from spacetools_ros.bench.perf import run_chain_benchmark

    repeats = options.get("repeats") or (3 if quick else 20)
    naive_repeats = options.get("naive_repeats") or (1 if quick else None)
    result = run_chain_benchmark(options.get("frame"), repeats=repeats, naive_repeats=naive_repeats,
                                 naive_warmup=not quick)
    frame = result["frame"]
    return result, [figure("perception_chain", f"segment + box + grasp ({frame['width']}x{frame['height']})",
                           result["chain"]["median_ms"], "ms", "naive open3d: RANSAC, DBSCAN, box",
                           result["naive"]["median_ms"], frame["description"])]


def _loop_overhead(quick: bool, options: dict[str, Any]) -> tuple[dict, list[dict]]:
    from spacetools_ros.bench.loop_overhead import run_loop_overhead_benchmark

    result = run_loop_overhead_benchmark(repeats=options.get("repeats") or (3 if quick else 20))
    return result, [figure("loop_overhead", "agent loop, per tool call", result["loop_us_per_call"], "us",
                           "direct call of the tool", result["direct_us_per_call"],
                           f"no-op tool, {result['calls_per_episode']} calls per episode")]


def _replay(quick: bool, options: dict[str, Any]) -> tuple[dict, list[dict]]:
    from spacetools_ros.bench.replay_throughput import QUICK, run_replay_benchmark

    settings = dict(QUICK) if quick else {}
    result = run_replay_benchmark(domain_id=options.get("domain_id"), **settings)
    read, base = result["read"], "rosbags read, no publishing"
    note = f"{result['bag']['description'].split(' ')[0]} x{result['bag']['copies']}, reliable"
    figures = [figure("replay", "replay published", result["published"]["messages_per_s"], "msg/s", base,
                      read["messages_per_s"], note),
               figure("replay", "replay published", result["published"]["mb_per_s"], "MB/s", base,
                      read["mb_per_s"], note),
               figure("replay", "replay delivered to a subscriber", result["delivered"]["messages_per_s"], "msg/s",
                      base, read["messages_per_s"], note),
               figure("replay", "replay delivered to a subscriber", result["delivered"]["mb_per_s"], "MB/s", base,
                      read["mb_per_s"], note)]
    return result, figures


def _sim_speed(quick: bool, options: dict[str, Any]) -> tuple[dict, list[dict]]:
    if quick:
        result = quick_sim_speed()
        note = "quick: arm holding still, 1 s simulated"
    else:
        from spacetools_ros.bench.sim_speed import run_sim_speed_benchmark

        result = run_sim_speed_benchmark()
        note = f"arm moving, {result['sim_seconds']:g} s simulated, median of {result['repeats']}"
    fast, base = result["renderers"]["raycast"], result["renderers"][result["baseline"]]
    hz = f"{result['camera_hz']:g} Hz"
    return result, [figure("sim_speed", f"sim real-time factor, camera {hz}", fast["real_time_factor"],
                           "x real time", "TinyRenderer camera", base["real_time_factor"], note),
                    figure("sim_speed", "sim camera render 640x480, ray casting", fast["ms_per_render"], "ms",
                           "TinyRenderer camera", base["ms_per_render"], note)]


RUNNERS: dict[str, Callable[[bool, dict[str, Any]], tuple[dict, list[dict]]]] = {
    "conversions": _conversions, "perception_chain": _perception_chain, "loop_overhead": _loop_overhead,
    "replay": _replay, "sim_speed": _sim_speed,
}


def run_perf_suite(quick: bool = False, sections: tuple[str, ...] = SECTIONS, frame: Any = None,
                   repeats: int | None = None, naive_repeats: int | None = None, domain_id: int | None = None,
                   progress: Callable[[str], None] | None = None) -> dict:
    """Run the sections (SECTIONS order) and gather their figures.

    quick: every section's short settings (a few seconds each; for CI). frame: the RGB-D frame of the perception
    chain (default: bench.perf.default_frame). repeats / naive_repeats: timed runs of the chain and the loop / of
    the naive pipeline (defaults: each section's own). domain_id: the replay's private ROS_DOMAIN_ID.
    progress: called with a line before each section.
    Returns a JSON-serialisable dict: "quick", "machine", "load_average" ({"before", "after"}), "figures" (see
    the module docstring), "sections" (each section's full result), "seconds" (wall time of each section) and
    "errors" ({section: reason} of the sections that failed).
    """
    unknown = [s for s in sections if s not in RUNNERS]
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    options = {"frame": frame, "repeats": repeats, "naive_repeats": naive_repeats, "domain_id": domain_id}
    result: dict[str, Any] = {"quick": quick, "machine": machine(),
                              "load_average": {"before": list(os.getloadavg())}, "figures": [], "sections": {},
                              "seconds": {}, "errors": {}}
    for name in (s for s in SECTIONS if s in sections):
        if progress:
            progress(f"{name} ...")
        t0 = time.perf_counter()
        try:
            section, figures = RUNNERS[name](quick, options)
        except Exception as exc:  # one broken section (no ROS, no display) must not hide the other figures
            result["errors"][name] = f"{type(exc).__name__}: {exc}"
            result["sections"][name] = {"error": result["errors"][name], "traceback": traceback.format_exc()}
        else:
            result["sections"][name] = section
            result["figures"] += figures
        result["seconds"][name] = time.perf_counter() - t0
    result["load_average"]["after"] = list(os.getloadavg())
    return result


def _num(x: float) -> str:
    """A value with 3-4 significant digits."""
    ax = abs(x)
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _ratio(x: float) -> str:
    """A ratio: 2 significant digits below 10, whole numbers above."""
    return f"{x:.0f}x" if x >= 10 else f"{x:.2g}x"


def format_perf_table(result: dict) -> str:
    """The figures as one table, headed by the machine and its load, followed by each section's setting and time
    and by the errors."""
    m, load = result["machine"], result["load_average"]
    before = " ".join(f"{x:.2f}" for x in load["before"])
    after = " ".join(f"{x:.2f}" for x in load.get("after", load["before"]))
    lines = [f"spacetools bench perf{' --quick' if result['quick'] else ''}: each figure beside a baseline measured "
             "in the same run (medians)",
             f"machine: {m['cpus']} CPUs ({m['usable_cpus']} usable), {m['processor']}, {m['platform']}, "
             f"Python {m['python']}",
             f"load average (1, 5, 15 min): {before} before, {after} after",
             "",
             f"{'figure':<42}{'value':>9} {'unit':<12}{'baseline':<36}{'value':>9}{'speed-up':>9}"]
    section = None
    for f in result["figures"]:
        if f["section"] != section:
            section = f["section"]
            lines.append(f"[{section}]")
        lines.append(f"  {f['name'][:39]:<40}{_num(f['value']):>9} {f['unit']:<12}{f['baseline'][:35]:<36}"
                     f"{_num(f['baseline_value']):>9}{_ratio(f['ratio']):>9}")
    lines += ["", "speed-up: baseline / value for times (ms, us), value / baseline for rates (msg/s, MB/s, x real "
              "time);", "above 1 the project's code is faster than its baseline", ""]
    for name, section_result in result["sections"].items():
        lines += textwrap.wrap(f"{name} ({result['seconds'][name]:.1f} s): {_describe(name, section_result)}",
                               width=118, initial_indent="  ", subsequent_indent="      ")
    for name, error in result["errors"].items():
        lines.append(f"FAILED {name}: {error}")
    return "\n".join(lines)


def _describe(name: str, section: dict) -> str:
    """One line on how a section was measured."""
    if "error" in section:
        return "failed"
    if name == "conversions":
        ok = all(r["checked"] for r in section["rows"])
        return (f"random frame, {section['repeats']} runs each, loops {section['loop_repeats']}; loop outputs "
                f"{'equal' if ok else 'DIFFER from'} the vectorised ones")
    if name == "perception_chain":
        grasp = "grasp ok" if section["grasp"]["ok"] else f"grasp failed ({section['grasp']['error']})"
        return (f"{section['frame']['description']}, {section['repeats']} runs, naive {section['naive_repeats']}; "
                f"{section['objects']} objects, {grasp}")
    if name == "loop_overhead":
        return f"no-op tool, {section['calls_per_episode']} calls per episode, {section['repeats']} episodes"
    if name == "replay":
        bag, runs = section["bag"], section["runs"]
        counted = sum(r["counted"] for r in runs)
        return (f"{bag['description']} x{bag['copies']} ({bag['messages']} msgs, {bag['bytes'] / 1e6:.1f} MB) at "
                f"{section['rate']:g}x, reliable, into a subscriber process; {counted} of {len(runs)} run(s) "
                f"counted, {section['lost']} lost; published = the replay's first to last publish, delivered = "
                "the subscriber's first to last arrival (with the DDS's repair of lost fragments); baseline = "
                "reading the same bag with rosbags, nothing published")
    if name == "sim_speed":
        renderers = ", ".join(f"{k} {v['real_time_factor']:.2f}x real time"
                              for k, v in section["renderers"].items())
        extra = f"arm {section['arm']}" if "arm" in section else f"arm moving, {section['repeats']} interleaved runs"
        return f"{section['camera_hz']:g} Hz camera, {section['sim_seconds']:g} s simulated, {extra}: {renderers}"
    return ""
