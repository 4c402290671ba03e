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


def test_demo_runs_both_nodes_and_prints_the_right_count(ros_domain):
    run = spacetools("demo", "--domain-id", str(ros_domain))
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    truth = next(line for line in lines if line.startswith("ground truth: "))
    count = truth.split(" holds ")[1].split(" ")[0]
    assert lines[-1] == f"answer: {count}"
