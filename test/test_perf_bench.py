"""The performance benchmarks run and report (`spacetools bench perf` and the sections it gathers); their times are
shown, never asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spacetools_ros.bench.conversions import CONVERSIONS, QUICK
from spacetools_ros.bench.perf import NAIVE_STEPS, STEPS, format_report, run_chain_benchmark
from spacetools_ros.bench.suite import SECTIONS, TIME_UNITS, format_perf_table
from spacetools_ros.sources.synthetic import generate_tabletop


@pytest.fixture(scope="module")
def result() -> dict:
    return run_chain_benchmark(generate_tabletop(seed=0).frame, repeats=2)


def test_every_step_is_timed(result):
    assert result["repeats"] == 2 and result["naive_repeats"] == 2
    assert list(result["steps"]) == list(STEPS)
    assert list(result["naive_steps"]) == list(NAIVE_STEPS)
    for stats in [*result["steps"].values(), *result["naive_steps"].values(), result["chain"], result["naive"]]:
        assert 0 < stats["min_ms"] <= stats["median_ms"]
    assert result["ratio"] == pytest.approx(result["naive"]["median_ms"] / result["chain"]["median_ms"])
    assert result["ratio"] > 0


def test_the_chain_segments_boxes_and_grasps(result):
    assert result["frame"]["description"] and (result["frame"]["width"], result["frame"]["height"]) == (640, 480)
    assert result["objects"] >= 1
    assert result["selected_object"]["pixel_count"] > 0
    assert len(result["box"]["extent"]) == 3
    grasp = result["grasp"]
    # a grasp failure is recorded, not raised
    assert grasp["ok"] != bool(grasp["error"])
    if grasp["ok"]:
        assert len(grasp["pose"]) == 4 and all(len(row) == 4 for row in grasp["pose"])
    assert len(result["load_average"]["before"]) == 3
    json.dumps(result)  # serialisable as it is


def test_report_has_the_table(result):
    report = format_report(result)
    assert "median ms" in report and "min ms" in report
    for name in STEPS:
        assert f"  {name} " in report
    assert "chain total" in report and "naive open3d total" in report and "ratio naive / chain" in report
    assert "load average" in report and "640x480" in report


def test_loop_overhead_benchmark_reports_per_call_costs():
    from spacetools_ros.bench.loop_overhead import format_loop_report, run_loop_overhead_benchmark

    result = run_loop_overhead_benchmark(repeats=2, turns=2, calls_per_turn=3)
    assert result["calls_per_episode"] == 6
    assert result["loop_us_per_call"] > 0 and result["direct_us_per_call"] > 0
    assert result["ratio_loop_to_direct"] == result["loop_us_per_call"] / result["direct_us_per_call"]
    report = format_loop_report(result)
    assert "through the loop" in report and "us/call" in report


# ---------------------------------------------------------------------------------------- spacetools bench perf
ROOT = Path(__file__).resolve().parents[1]
UNITS = {"conversions": {"ms"}, "perception_chain": {"ms"}, "loop_overhead": {"us"}, "replay": {"msg/s", "MB/s"},
         "sim_speed": {"x real time", "ms"}}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, dict, str]:
    """`spacetools bench perf --quick --json --out FILE` as a user runs it: (stdout JSON, FILE JSON, stderr)."""
    out = tmp_path_factory.mktemp("perf") / "perf.json"
    proc = subprocess.run([sys.executable, "-m", "spacetools_ros.cli", "bench", "perf", "--quick", "--json", "--out",
                           str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout), json.loads(out.read_text()), proc.stderr


def test_bench_perf_quick_json_has_every_section_with_measured_figures(quick_run):
    result, written, _ = quick_run
    assert written == result
    assert result["quick"] is True and result["errors"] == {}
    assert list(result["sections"]) == list(SECTIONS)
    assert result["machine"]["cpus"] >= 1 and len(result["load_average"]["before"]) == 3
    assert len(result["load_average"]["after"]) == 3
    by_section: dict[str, list[dict]] = {}
    for f in result["figures"]:
        by_section.setdefault(f["section"], []).append(f)
        assert f["name"] and f["baseline"] and f["unit"]
        assert f["value"] > 0 and f["baseline_value"] > 0 and f["ratio"] > 0, f
        # one convention: the speed-up over the baseline, whichever way round lower is better
        if f["unit"] in TIME_UNITS:
            assert f["ratio_is"] == "baseline/value"
            assert f["ratio"] == pytest.approx(f["baseline_value"] / f["value"], rel=1e-9)
        else:
            assert f["ratio_is"] == "value/baseline"
            assert f["ratio"] == pytest.approx(f["value"] / f["baseline_value"], rel=1e-9)
    assert list(by_section) == list(SECTIONS)
    for section, units in UNITS.items():
        assert {f["unit"] for f in by_section[section]} == units, section
    assert len({(f["section"], f["name"], f["unit"]) for f in result["figures"]}) == len(result["figures"])
    assert len(by_section["conversions"]) == len(CONVERSIONS)


def test_bench_perf_figures_are_the_sections_own_numbers(quick_run):
    result, _, _ = quick_run
    sections = {f["section"]: [] for f in result["figures"]}
    for f in result["figures"]:
        sections[f["section"]].append(f)
    conv = result["sections"]["conversions"]
    assert conv["resolution"] == [640, 480] and all(row["checked"] for row in conv["rows"])
    for f, row in zip(sections["conversions"], conv["rows"], strict=True):
        assert (f["value"], f["baseline_value"]) == (row["median_ms"], row["baseline_median_ms"])
    chain = result["sections"]["perception_chain"]
    [f] = sections["perception_chain"]
    assert (f["value"], f["baseline_value"]) == (chain["chain"]["median_ms"], chain["naive"]["median_ms"])
    assert f["ratio"] == pytest.approx(chain["ratio"])
    loop = result["sections"]["loop_overhead"]
    [f] = sections["loop_overhead"]
    assert f["ratio"] == pytest.approx(1 / loop["ratio_loop_to_direct"])
    replay = result["sections"]["replay"]
    assert replay["bag"]["messages"] > 0 and replay["bag"]["bytes"] > 0
    assert any(r["counted"] and r["received"] > 1 for r in replay["runs"])
    rates = {(f["name"], f["unit"]): f for f in sections["replay"]}
    assert rates[("replay published", "MB/s")]["value"] == replay["published"]["mb_per_s"]
    assert rates[("replay delivered to a subscriber", "msg/s")]["value"] == replay["delivered"]["messages_per_s"]
    assert all(f["baseline_value"] in (replay["read"]["messages_per_s"], replay["read"]["mb_per_s"])
               for f in sections["replay"])
    sim = result["sections"]["sim_speed"]
    assert sim["camera_hz"] == 10 and set(sim["renderers"]) == {"raycast", "tiny"}
    assert sections["sim_speed"][0]["value"] == sim["renderers"]["raycast"]["real_time_factor"]


def test_bench_perf_table_names_the_machine_and_every_figure(quick_run):
    result, _, _ = quick_run
    table = format_perf_table(result)
    assert f"machine: {result['machine']['cpus']} CPUs" in table and "load average" in table
    for section in SECTIONS:
        assert f"[{section}]" in table
    for f in result["figures"]:
        assert f["name"][:39] in table
    assert "baseline = reading the same bag with rosbags" in " ".join(table.split())  # the notes are wrapped


def test_conversions_script_prints_the_figures_of_the_shared_function():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_conversions.py"), "--quick"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("640x480 conversions")
    for name in CONVERSIONS:
        [line] = [x for x in lines if x.startswith(name)]
        vectorised, loop, speedup = line[len(name):].split()[:3]
        assert float(vectorised) > 0 and float(loop) > 0 and float(speedup.rstrip("x")) > 0 and line.endswith("yes")
    # the script is a thin wrapper: its table is format_conversions_report of run_conversions_benchmark
    from spacetools_ros.bench.conversions import format_conversions_report

    header = format_conversions_report({"resolution": [640, 480], "repeats": QUICK["repeats"],
                                        "loop_repeats": QUICK["loop_repeats"], "rows": [],
                                        "load_average": {"before": [0.0], "after": [0.0]}}).splitlines()[:2]
    assert lines[:2] == header


def test_replay_benchmark_runs_on_a_generated_bag_where_shared_data_is_absent(tmp_path):
    from spacetools_ros.bench.replay_throughput import QUICK as REPLAY_QUICK
    from spacetools_ros.bench.replay_throughput import (
        format_replay_report,
        run_replay_benchmark,
        write_synthetic_bag,
    )
    from spacetools_ros.sources.bag import BagSource

    bag = write_synthetic_bag(tmp_path / "bag", frames=3)
    frames = list(BagSource(bag))
    assert len(frames) == 3 and frames[0].rgb.shape == (480, 640, 3)
    result = run_replay_benchmark(bag=bag, **REPLAY_QUICK)
    assert result["bag"]["messages"] == 12 * REPLAY_QUICK["copies"]
    counted = [r for r in result["runs"] if r["counted"]]
    assert counted and all(r["published"] == result["bag"]["messages"] for r in counted)
    for figures in (result["published"], result["delivered"], result["read"]):
        assert figures["messages_per_s"] > 0 and figures["mb_per_s"] > 0
    published, read = result["published"]["mb_per_s"], result["read"]["mb_per_s"]
    assert result["ratios"]["published_mb"] == pytest.approx(published / read)
    assert "rosbags read, no publishing" in format_replay_report(result)
