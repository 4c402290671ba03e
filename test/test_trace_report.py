"""Episode traces (JSONL + images + ShareGPT view, secrets scrubbed) and their HTML reports, rendered in Chromium.

Two episodes are traced: a real one (the configured agent counting objects on a generated tabletop) and
a hand-built one through the real registry (depth, pointing, segmentation, 3D box, grasp, drawing),
driven by a planner that replays fixed assistant texts.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from spacetools_ros.agent.factory import build_agent, build_registry
from spacetools_ros.agent.loop import Agent
from spacetools_ros.agent.protocol import render_answer, render_think, render_tool_call
from spacetools_ros.agent.report import write_report
from spacetools_ros.agent.trace import (
    REDACTED,
    SCHEMA,
    SCHEMA_VERSION,
    Scrubber,
    TraceWriter,
    export_sharegpt,
    load_episodes,
    run_traced,
    to_sharegpt,
)
from spacetools_ros.config import load_config
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.planners.base import Planner, PlannerError
from spacetools_ros.sources.synthetic import generate_tabletop
from spacetools_ros.tools.base import ToolContext, VariableStore

SECRET = "sk-test-secret-123456"
OTHER_SECRET = "tok_4f9a8b7c6d5e"  # no key shape: only its environment variable name marks it
BEARER = "Bearer abcdefghijklmnop1234"
COUNT_TASK = "How many objects are on the table?"
GRASP_TASK = f"Box and grasp the largest object (session {SECRET}, ref {OTHER_SECRET})."
PLACEHOLDER = "<image>"


class ReplayPlanner(Planner):
    """A planner that answers with fixed assistant texts, in order; PlannerError once they run out."""

    name = "replay"

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)

    def respond(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> str:
        """The next fixed reply."""
        if not self.replies:
            raise PlannerError("replay planner has no more replies")
        return self.replies.pop(0)


def _grasp_replies(x: float, y: float) -> list[str]:
    """Depth + pointing, segmentation, box + grasp, drawing (one call refused), answer."""
    vars_ = {"point_cloud": "$point_cloud", "mask": "$segmentation_mask", "focal_length_px": "$focal_length_px"}
    return [
        render_think(f"Depth and a point on the object first. Auth: {BEARER}")
        + render_tool_call("depth_estimator.estimate_depth_with_pointcloud", {"image_index": 0})
        + render_tool_call("vlm.detect_one", {"obj_name": "the largest object", "image_index": 0}),
        render_tool_call("sam2.segment_from_point", {"x": x, "y": y, "image_index": 0}),
        render_tool_call("bounding_box.compute_bbox", vars_)
        + render_tool_call("grasp_generator.compute_grasp", {**vars_, "image_index": 0}),
        render_tool_call("vision_ops.draw_polygon", {"points": "$obb_corners_2d", "image_index": 0, "color": "green"})
        + render_tool_call("vision_ops.draw_polygon", {"points": "$obb_corners_2d", "color": SECRET}),
        render_think("Done.") + render_answer(f"[({x:.3f}, {y:.3f})]"),
    ]


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """Both episodes written to one trace folder, with secrets in the environment while the module runs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", SECRET)
        mp.setenv("SPACETOOLS_TEST_TOKEN", OTHER_SECRET)
        config = load_config()
        frame = generate_tabletop(seed=1).frame
        folder = tmp_path_factory.mktemp("trace")
        writer = TraceWriter(folder)
        real = run_traced(build_agent(config), COUNT_TASK, frame)
        writer.write_traced(real, metadata={"planner": "scripted", "frames": "synthetic:1"})
        real_id = writer.last_id

        registry = build_registry(config)
        probe = registry.call("vlm.detect_one", {"obj_name": "the largest object"}, ToolContext(images=[frame]))
        assert probe.ok, probe.text
        x, y = probe.data["points"][0]
        built = run_traced(Agent(ReplayPlanner(_grasp_replies(x, y)), registry, config.agent), GRASP_TASK, frame)
        writer.write_traced(built)
        built_id = writer.last_id
        yield SimpleNamespace(folder=folder, frame=frame, real=real, built=built, real_id=real_id,
                              built_id=built_id, point=(x, y))


@pytest.fixture(scope="module")
def records(traced) -> dict[str, dict[str, Any]]:
    """The reloaded records by id."""
    return {r["id"]: r for r in load_episodes(traced.folder)}


@pytest.fixture(scope="module")
def report_pages(traced) -> list[Path]:
    return write_report(traced.folder)


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not an image"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _roles_valid(conversations: list[dict[str, str]]) -> bool:
    turns = conversations[1:] if conversations and conversations[0]["from"] == "system" else conversations
    return bool(turns) and len(turns) % 2 == 0 and all(
        t["from"] in (("human", "observation") if i % 2 == 0 else ("gpt",)) for i, t in enumerate(turns))


# ------------------------------------------------------------------------------------------ the trace


def test_episodes_ran_as_expected(traced):
    real, built = traced.real.episode, traced.built.episode
    assert real.state == "succeeded" and real.answer.isdigit()
    assert built.state == "succeeded", built.error
    assert [c.ok for c in built.tool_calls] == [True] * 6 + [False]
    assert len(traced.built.images) == 2 and len(traced.real.images) == 1


def test_jsonl_lines_follow_the_schema(traced):
    lines = (traced.folder / "episodes.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2

    def no_constants(name: str):
        raise AssertionError(f"non-standard JSON constant {name}")

    for line in lines:
        record = json.loads(line, parse_constant=no_constants)
        assert record["schema"] == SCHEMA and record["schema_version"] == SCHEMA_VERSION
        assert re.fullmatch(r"[0-9a-f]{32}", record["id"])
        assert record["created_at"].endswith("+00:00") and abs(record["created_unix"] - time.time()) < 3600
        for key, kind in [("task", str), ("state", str), ("turns", int), ("timings", dict), ("tool_calls", list),
                          ("messages", list), ("conversations", list), ("images", list), ("frames", list),
                          ("image_indices", list), ("metadata", dict)]:
            assert isinstance(record[key], kind), key
        assert {"answer", "error"} <= record.keys()
        assert set(record["timings"]) >= {"total_s", "planning_s", "tools_s"}
        for call in record["tool_calls"]:
            assert {"index", "turn", "name", "arguments", "ok", "text", "duration_s", "stored", "new_images", "data",
                    "image_index", "variables", "masks"} <= call.keys()
        for message in record["messages"]:
            assert message["role"] in ("system", "user", "assistant", "tool")
            if message["role"] in ("user", "tool"):
                assert isinstance(message["image_indices"], list)
            if message["role"] == "tool":
                assert {"name", "content", "ok", "data"} <= message.keys()


def test_real_episode_record(traced, records):
    record, episode = records[traced.real_id], traced.real.episode
    assert (record["task"], record["state"], record["answer"], record["error"]) == (
        COUNT_TASK, "succeeded", episode.answer, None)
    assert record["turns"] == episode.turns == 2
    assert record["metadata"] == {"planner": "scripted", "frames": "synthetic:1"}
    [call] = record["tool_calls"]
    assert call["name"] == "tabletop.segment_objects" and call["ok"] and call["turn"] == 1
    assert call["data"]["num_objects"] == int(record["answer"]) == len(call["data"]["objects"])
    assert call["variables"]["object_labels"] == {"shape": [480, 640], "dtype": "int32"}
    assert len(record["messages"]) == len(episode.messages)
    assert record["images"] == [f"images/{traced.real_id}/0.png"] and record["image_indices"] == [0]
    np.testing.assert_array_equal(_rgb(traced.folder / record["images"][0]), traced.frame.rgb)


def test_hand_built_record(traced, records):
    record, built = records[traced.built_id], traced.built
    calls = record["tool_calls"]
    assert [c["name"] for c in calls] == [
        "depth_estimator.estimate_depth_with_pointcloud", "vlm.detect_one", "sam2.segment_from_point",
        "bounding_box.compute_bbox", "grasp_generator.compute_grasp", "vision_ops.draw_polygon",
        "vision_ops.draw_polygon"]
    assert [c["turn"] for c in calls] == [1, 1, 2, 3, 3, 4, 4]
    assert [c["image_index"] for c in calls] == [0] * 7  # compute_bbox: inferred from $point_cloud's image
    assert calls[1]["data"]["points"] == [list(traced.point)]
    # the mask: a PNG referenced from the call that stored it, identical to the stored array
    [mask_ref] = calls[2]["masks"]
    assert mask_ref["variable"] == "segmentation_mask" and mask_ref["image_index"] == 0
    mask = cv2.imread(str(traced.folder / mask_ref["path"]), cv2.IMREAD_GRAYSCALE) > 127
    np.testing.assert_array_equal(mask, built.call_variables[2]["segmentation_mask"])
    assert mask_ref["pixels"] == int(mask.sum()) == calls[2]["data"]["pixels"]
    assert calls[2]["variables"]["segmentation_mask"]["mask"] == mask_ref["path"]
    assert all(not c["masks"] for i, c in enumerate(calls) if i != 2)
    # the box corners and edges, the grasp's 5 points, the point cloud summarised
    assert np.asarray(calls[3]["variables"]["obb_corners_2d"]).shape == (8, 2)
    assert np.asarray(calls[3]["variables"]["edges"]).shape == (12, 2)
    assert np.asarray(calls[4]["data"]["gripper_points_2d"]).shape == (5, 2)
    assert np.asarray(calls[4]["variables"]["grasp_pose"]).shape == (4, 4)
    assert calls[0]["variables"]["point_cloud"] == {"shape": [480 * 640, 3], "dtype": "float32"}
    # the drawn image: written, attributed to its call, identical to the frame the tool made
    assert calls[5]["new_images"] == [1] and record["frames"][1]["added_by"] == 5
    assert record["frames"][1]["metadata"] == {"drawn_on": 0}
    assert record["images"] == [f"images/{traced.built_id}/{k}.png" for k in (0, 1)]
    for k in (0, 1):
        np.testing.assert_array_equal(_rgb(traced.folder / record["images"][k]), built.images[k].rgb)
    assert not calls[6]["ok"] and calls[6]["text"].startswith("Error: unknown color")


def test_load_episodes_accepts_folder_or_file_and_skips_a_cut_line(traced, tmp_path):
    by_folder = load_episodes(traced.folder)
    by_file = load_episodes(traced.folder / "episodes.jsonl")
    assert [r["id"] for r in by_folder] == [r["id"] for r in by_file] == [traced.real_id, traced.built_id]
    assert by_folder[0]["_trace_dir"] == str(traced.folder.resolve())
    cut = tmp_path / "episodes.jsonl"
    text = (traced.folder / "episodes.jsonl").read_text(encoding="utf-8")
    cut.write_text(text + text.splitlines()[0][:100] + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="not JSON"):
        assert len(load_episodes(tmp_path)) == 2
    with pytest.raises(FileNotFoundError):
        load_episodes(tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------ ShareGPT view


def test_sharegpt_view(traced, records):
    for record in records.values():
        conversations = record["conversations"]
        assert _roles_valid(conversations), [t["from"] for t in conversations]
        assert conversations[0] == {"from": "system", "value": record["messages"][0]["content"]}
        assert conversations[1]["value"].startswith(PLACEHOLDER + "\n")
        assert sum(t["value"].count(PLACEHOLDER) for t in conversations) == len(record["images"])
    built = records[traced.built_id]["conversations"]
    assert [t["from"] for t in built] == ["system", "human"] + ["gpt", "observation"] * 4 + ["gpt"]
    observations = [t["value"] for t in built if t["from"] == "observation"]
    assert "\n</tool_response>\n<tool_response>\n" in observations[0]  # two tool results of one turn
    assert observations[3].endswith("\n" + PLACEHOLDER) and observations[3].count(PLACEHOLDER) == 1

    examples = to_sharegpt(load_episodes(traced.folder))
    assert len(examples) == 2
    for example in examples:
        assert set(example) == {"conversations", "images"}
        assert sum(t["value"].count(PLACEHOLDER) for t in example["conversations"]) == len(example["images"])
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in example["images"])
    relative = to_sharegpt(load_episodes(traced.folder), relative_to=traced.folder)
    assert relative[1]["images"] == records[traced.built_id]["images"]


def test_sharegpt_export_and_edge_cases(traced, tmp_path):
    frame = traced.frame
    registry = build_registry(load_config())
    # a failed episode whose last tool turn added an image: the trailing observation (and its image) is left out
    replies = [render_tool_call("vision_ops.draw_polygon", {"points": [[0.1, 0.1], [0.5, 0.5], [0.1, 0.5]]})]
    failed = run_traced(Agent(ReplayPlanner(replies), registry), f"Draw a {PLACEHOLDER} triangle", frame)
    assert failed.episode.state == "failed" and len(failed.images) == 2
    writer = TraceWriter(tmp_path / "edge")
    writer.write_traced(failed)
    [record] = load_episodes(tmp_path / "edge")
    assert len(record["frames"]) == 2 and (tmp_path / "edge" / record["frames"][1]["path"]).is_file()
    assert [t["from"] for t in record["conversations"]] == ["system", "human", "gpt"]
    assert record["conversations"][1]["value"] == f"{PLACEHOLDER}\nDraw a [image] triangle"
    assert record["images"] == [record["frames"][0]["path"]]
    # only the final variables (a VariableStore, as Agent keeps them): each goes to the last call that stored it
    store = VariableStore()
    for name, value in traced.built.variables.items():
        store.set(name, value)
    writer.write(traced.built.episode, traced.built.images, store, episode_id="final-vars")
    record = load_episodes(tmp_path / "edge")[-1]
    assert record["id"] == "final-vars"
    assert [c["masks"][0]["variable"] for c in record["tool_calls"] if c["masks"]] == ["segmentation_mask"]
    assert record["tool_calls"][2]["masks"][0]["path"] == "images/final-vars/mask_2_0.png"
    with pytest.raises(ValueError, match="episode_id"):
        writer.write(traced.built.episode, traced.built.images, episode_id="../escape")
    # export: succeeded episodes only, image paths relative to the JSON file's folder
    out = tmp_path / "sft" / "data.json"
    assert export_sharegpt(traced.folder, out) == 2
    assert export_sharegpt(tmp_path / "edge", tmp_path / "sft" / "edge.json") == 1  # the failed one left out
    assert export_sharegpt(tmp_path / "edge", tmp_path / "sft" / "all.json", succeeded_only=False) == 2
    for example in json.loads(out.read_text()):
        assert all((out.parent / p).is_file() for p in example["images"])


# ------------------------------------------------------------------------------------------ secrets


def test_scrubber_rules():
    env = {"MY_API_KEY": "abcdefgh12345678", "GH_TOKEN": "gh-value-0000", "SIGNINGKEY": 'quo"te\\val',
           "SHORT_API_KEY": "abc", "HOME_DIR": "/home/someone-else"}
    scrubber = Scrubber(environ=env)
    text = ("keys abcdefgh12345678 gh-value-0000 abc /home/someone-else sk-proj-AbCdEf0123456789xyz "
            "Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9 hf_ABCDEFGHIJKLMNOPQRSTU desk-lamp-standing-left")
    scrubbed = scrubber.text(text)
    for gone in ("abcdefgh12345678", "gh-value-0000", "sk-proj-", "eyJhbGciOi", "hf_ABCDEF"):
        assert gone not in scrubbed
    for kept in (" abc ", "/home/someone-else", "desk-lamp-standing-left"):  # short, not a key name, not a key
        assert kept in scrubbed
    assert scrubber.obj({"abcdefgh12345678": ["x abcdefgh12345678", 1.5, None]}) == {
        REDACTED: [f"x {REDACTED}", 1.5, None]}
    line = json.dumps({"v": 'a quo"te\\val b'})
    assert json.loads(scrubber.json_text(line)) == {"v": f"a {REDACTED} b"}


def test_secrets_never_reach_the_trace_or_the_report(traced, report_pages):
    built = traced.built.episode
    assert SECRET in built.task and built.tool_calls[-1].arguments["color"] == SECRET  # they were there
    assert any(SECRET in c.text for c in built.tool_calls)
    files = [p for p in traced.folder.rglob("*") if p.is_file()]
    assert len(files) >= 6 and set(report_pages) <= set(files)
    for path in files:
        blob = path.read_bytes()
        for secret in (SECRET, OTHER_SECRET, BEARER.split()[1]):
            assert secret.encode() not in blob, f"{secret} leaked into {path}"
    record = {r["id"]: r for r in load_episodes(traced.folder)}[traced.built_id]
    assert REDACTED in record["task"] and record["tool_calls"][-1]["arguments"]["color"] == REDACTED


# ------------------------------------------------------------------------------------------ the report


def _data_imgs(page: str) -> int:
    return len(re.findall(r'<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page))


def test_report_pages_are_self_contained(traced, records, report_pages):
    assert [p.name for p in report_pages] == [f"{traced.real_id}.html", f"{traced.built_id}.html"]
    assert all(p.parent == traced.folder / "report" for p in report_pages)
    for path in report_pages:
        page = path.read_text(encoding="utf-8")
        record = records[path.stem]
        assert _data_imgs(page) == page.count("<img ") == len(record["frames"])
        assert "<script" not in page and "http://" not in page and "https://" not in page and "file:" not in page
        assert re.search(r"src=\"(?!data:)", page) is None and re.search(r"href=\"(?!data:)", page) is None
        assert record["task"] in page and f'class="badge {record["state"]}"' in page
        assert page.count('<tr class="call">') == len(record["tool_calls"])
    real = report_pages[0].read_text(encoding="utf-8")
    assert real.count('class="object-box"') == int(records[traced.real_id]["answer"])
    built = report_pages[1].read_text(encoding="utf-8")
    assert built.count('class="bbox-edge"') == 12
    assert built.count('class="grasp"') == 4 and built.count('class="grasp-center"') == 1
    assert built.count('<image class="mask"') == 1 and 'class="mask-outline"' in built
    assert built.count('class="detection"') == 1 and built.count('class="answer"') == 1
    assert "unknown color" in built and "timed out" not in built
    other = write_report(traced.folder / "episodes.jsonl", traced.folder / "elsewhere")
    assert [p.name for p in other] == [p.name for p in report_pages]
    shutil.rmtree(traced.folder / "elsewhere")


def test_report_renders_in_headless_chromium(traced, records, report_pages, chromium):
    for path in report_pages:
        image, console, _ = chromium.render(path, 1280, 2000)
        # the page has no script and a CSP forbidding any non-data: source: any console message is a fault
        assert not console, console
        assert image is not None and image.shape[:2] == (2000, 1280)
        colours = len(np.unique(image.reshape(-1, 3), axis=0))
        assert colours > 2000, f"{colours} distinct colours: the images did not render"
        background = np.all(image == image[-1, -1], axis=2).mean()
        assert background < 0.8, f"{background:.0%} of the screenshot is background"
