"""The `spacetools` command, run as a user runs it (a separate process)."""

import json
import subprocess
import sys


def spacetools(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "spacetools_ros.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_ask_prints_the_trace_and_ends_with_the_answer():
    run = spacetools("ask", "--frames", "synthetic:5", "How many objects are on the table?")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert '"name": "tabletop.segment_objects"' in run.stdout
    assert "--- tool tabletop.segment_objects" in run.stdout
    assert lines[-1].startswith("answer: ") and lines[-1].removeprefix("answer: ").isdigit()


def test_ask_on_a_bag_matches_the_folder_it_was_recorded_from(shared_data):
    question = "how tall is the tallest object?"
    bag = spacetools("ask", "--json", "--frames", str(shared_data / "bags" / "ucn_rgbd_mcap"), "--frame-index", "4",
                     question)
    folder = spacetools("ask", "--json", "--frames", str(shared_data / "ucn_demo_tabletop"), "--frame-index", "4",
                        question)
    a, b = json.loads(bag.stdout), json.loads(folder.stdout)
    assert a["state"] == b["state"] == "succeeded"
    assert a["answer"] == b["answer"] and a["answer"].endswith(" m")


def test_not_understood_question_fails_with_a_reason():
    run = spacetools("ask", "--frames", "synthetic:0", "sing me a song")
    assert run.returncode == 1
    assert "error: not understood" in run.stdout and run.stdout.strip().endswith("answer: (none)")


def test_bad_inputs_are_one_line_errors_not_tracebacks(tmp_path):
    run = spacetools("ask", "--frames", str(tmp_path / "missing"), "how many objects?")
    assert run.returncode == 2 and run.stderr.startswith("spacetools: error: ") and "Traceback" not in run.stderr
    run = spacetools("ask", "--frames", "synthetic:0", "--set", "agent.max_turns=many", "how many objects?")
    assert run.returncode == 2 and "agent.max_turns: expected int" in run.stderr
    run = spacetools("ask", "--frames", "synthetic:0", "--frame-index", "0", "--set", "planner=x", "q")
    assert run.returncode == 2 and "planner" in run.stderr


def test_demo_puts_the_red_cube_in_the_blue_bowl_in_the_simulator_over_ros(ros_domain):
    run = spacetools("demo", "--domain-id", str(ros_domain), timeout=400)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    assert "task: put the red cube in the blue bowl" in lines
    truth = next(line for line in lines if line.startswith("ground truth: "))
    assert truth.startswith("ground truth: red_box_0 centre at") and truth.endswith(": in the bowl"), truth
    assert lines[-1].startswith("answer: ")


def test_camera_demo_runs_both_nodes_and_prints_the_right_count(ros_domain):
    run = spacetools("demo", "--frames", "synthetic:0", "--domain-id", str(ros_domain))
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    truth = next(line for line in lines if line.startswith("ground truth: "))
    count = truth.split(" holds ")[1].split(" ")[0]
    assert lines[-1] == f"answer: {count}"


def test_tool_command_chains_calls_and_saves_variables(tmp_path):
    out = tmp_path / "vars"
    run = spacetools("tool", "--frames", "synthetic:2", "--save-vars", str(out),
                     "--call", "depth_estimator.estimate_depth_with_pointcloud", "{}",
                     "--call", "vlm.detect_one", '{"obj_name": "the largest object"}',
                     "--call", "sam2.segment_from_points", '{"points": "$the_largest_object_detections"}',
                     "--call", "vision_ops.draw_polygon", '{"points": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]}')
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("--- ") == 4 and "Segmented mask in image 0" in run.stdout
    import numpy as np

    assert np.load(out / "point_cloud.npy").shape == (480 * 640, 3)
    assert np.load(out / "segmentation_mask.npy").dtype == bool
    assert np.load(out / "the_largest_object_detections.npy").shape == (1, 2)
    assert (out / "image_1.png").exists()


def test_tool_command_reports_bad_calls_and_exits_1(tmp_path):
    run = spacetools("tool", "--frames", "synthetic:2", "--call", "sam2.segment_from_point", "{x: 1}",
                     "--call", "sam2.segment_from_point", '{"x": 2, "y": 0.5}', "--call", "no.tool", "{}")
    assert run.returncode == 1
    assert "arguments are not valid JSON" in run.stdout and "in [0, 1]" in run.stdout
    assert "unknown tool 'no.tool'" in run.stdout and "Traceback" not in run.stderr


def test_ask_with_trace_then_report(tmp_path):
    import json as _json

    run = spacetools("ask", "--frames", "synthetic:1", "--trace", str(tmp_path / "trace"),
                     "point to the largest object")
    assert run.returncode == 0, run.stderr
    (line,) = (tmp_path / "trace" / "episodes.jsonl").read_text().splitlines()
    record = _json.loads(line)
    assert record["task"] == "point to the largest object" and record["state"] == "succeeded"
    assert (tmp_path / "trace" / record["frames"][0]["path"]).exists()
    report = spacetools("report", str(tmp_path / "trace"))
    assert report.returncode == 0, report.stderr
    page = report.stdout.strip().splitlines()[0]
    assert page.endswith(".html") and "data:image/png;base64" in open(page).read()
