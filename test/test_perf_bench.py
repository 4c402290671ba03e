"""The perception chain benchmark runs and reports; its times are shown, never asserted."""

import json

import pytest

from spacetools_ros.bench.perf import NAIVE_STEPS, STEPS, format_report, run_chain_benchmark
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
