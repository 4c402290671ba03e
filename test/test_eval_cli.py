"""`spacetools eval`: each dataset loader on a tiny fixture in its published layout (built here), the command on
a generated scene and on recorded frames (../shared/data), its results, summary and HTML report (rendered in
headless Chromium)."""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spacetools_ros.cli import build_parser
from spacetools_ros.eval.datasets import FORMATS, DatasetError, load_dataset
from spacetools_ros.eval.items import load_frame, load_region
from spacetools_ros.eval.metrics import point_in_region
from spacetools_ros.sources.synthetic import generate_tabletop

COUNT_QUESTION = "How many objects are on the table?"


def spacetools(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacetools_ros.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def _image(path: Path, width: int = 32, height: int = 24, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    assert cv2.imwrite(str(path), rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    return path


def _png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def _independent_accuracy(records: list[dict]) -> dict[str, float]:
    """Per answer type, the mean score x 100, computed here from the per-item lines."""
    totals: dict[str, list[float]] = {}
    for record in records:
        totals.setdefault(record["answer_type"], []).append(record["score"])
    return {kind: 100.0 * sum(v) / len(v) for kind, v in totals.items()}


# ------------------------------------------------------------------------------------------ loaders


def test_cli_formats_are_the_loaders():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    evaluate = sub.choices["eval"]
    choices = next(a for a in evaluate._actions if a.dest == "format").choices
    assert set(choices) == set(FORMATS)


def test_jsonl_loader_resolves_paths_and_builds_frames(tmp_path):
    _image(tmp_path / "frames" / "a.png", 40, 30)
    depth_mm = np.full((30, 40), 1500, dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / "frames" / "a-depth.png"), depth_mm)
    np.save(tmp_path / "frames" / "b-depth.npy", np.full((30, 40), 0.75, dtype=np.float32))
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[10:20, 5:15] = 255
    assert cv2.imwrite(str(tmp_path / "mask.png"), mask)
    pose = np.eye(4)
    pose[:3, 3] = [0.1, 0.2, 0.3]
    lines = [
        {"id": "c", "image": "frames/a.png", "depth": "frames/a-depth.png", "intrinsics": [50, 51, 19.5, 14.5],
         "T_base_camera": pose.tolist(), "question": COUNT_QUESTION, "answer_type": "count", "answer": 3},
        {"id": "p", "image": str(tmp_path / "frames" / "a.png"), "depth": "frames/b-depth.npy",
         "intrinsics": None, "T_base_camera": None, "question": "Point to it", "answer_type": "point",
         "answer": None, "region": "mask.png", "category": "pointing"},
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    count, point = load_dataset(path, "jsonl")
    assert (count.id, count.category, point.category) == ("c", "count", "pointing")
    frame = load_frame(count)
    assert frame.depth[0, 0] == pytest.approx(1.5) and (frame.intrinsics.fx, frame.intrinsics.cy) == (50, 14.5)
    np.testing.assert_allclose(frame.T_base_camera, pose)
    frame = load_frame(point)
    assert frame.depth[0, 0] == pytest.approx(0.75) and frame.T_base_camera is None
    assert "assumed" in frame.metadata["intrinsics"] and frame.intrinsics.cx == pytest.approx(19.5)
    region = load_region(point, frame.width, frame.height)
    assert region.sum() == 100 and point_in_region((0.25, 0.5), region)
    # malformed records name their line
    path.write_text(json.dumps(lines[0]) + "\n" + json.dumps({**lines[0], "id": "d", "answer_type": "essay"}) + "\n")
    with pytest.raises(DatasetError, match=r"items.jsonl:2: answer_type 'essay'"):
        load_dataset(path, "jsonl")
    path.write_text(json.dumps(lines[0]) + "\n" + json.dumps(lines[0]) + "\n")
    with pytest.raises(DatasetError, match="duplicate ids c"):
        load_dataset(path, "jsonl")
    path.write_text(json.dumps({k: v for k, v in lines[1].items() if k != "region"}) + "\n")
    with pytest.raises(DatasetError, match="needs 'region'"):
        load_dataset(path, "jsonl")


def test_robospatial_loader_reads_the_official_download(tmp_path):
    """The layout RoboSpatial-Eval's download_benchmark.py writes: annotations.json + images/."""
    root = tmp_path / "RoboSpatial-Home"
    _image(root / "images" / "img_context_0.png", 20, 10)
    _image(root / "images" / "img_configuration_0.png", 20, 10, seed=1)
    assert cv2.imwrite(str(root / "images" / "depth_context_0.png"), np.full((10, 20), 900, dtype=np.uint16))
    assert cv2.imwrite(str(root / "images" / "depth_configuration_0.png"), np.full((10, 20), 90, dtype=np.uint8))
    records = [
        {"category": "context", "question": "Pinpoint several points within the vacant space left of the bowl.",
         "answer": "[(0.1, 0.2), (0.5, 0.2), (0.5, 0.8), (0.1, 0.8)]", "img": "images/img_context_0.png",
         "depth_image": "images/depth_context_0.png", "mask": None},
        {"category": "configuration", "question": "Is the mug to the left of the bowl?", "answer": "Yes",
         "img": "images/img_configuration_0.png", "depth_image": "images/depth_configuration_0.png", "mask": None},
        {"category": "compatibility", "question": "Can the plate fit in the box?", "answer": "No",
         "img": "images/img_configuration_0.png", "depth_image": None, "mask": None},
    ]
    (root / "annotations.json").write_text(json.dumps(records))
    context, configuration, compatibility = load_dataset(root, "robospatial")
    assert [i.answer_type for i in (context, configuration, compatibility)] == ["point", "yesno", "yesno"]
    assert [i.category for i in (context, configuration, compatibility)] == [
        "context", "configuration", "compatibility"]
    assert context.depth is not None and configuration.depth is None  # 16-bit mm kept, 8-bit preview ignored
    assert load_frame(context).depth[0, 0] == pytest.approx(0.9)
    region = load_region(context, 20, 10)
    expected = np.zeros((10, 20), dtype=bool)
    expected[2:8, 2:10] = True  # pixel centres with x in (0.1, 0.5), y in (0.2, 0.8)
    np.testing.assert_array_equal(region, expected)
    assert context.gold_json() == {"polygon": [[0.1, 0.2], [0.5, 0.2], [0.5, 0.8], [0.1, 0.8]]}
    (root / "annotations.json").write_text(json.dumps([{**records[1], "answer": "Maybe"}]))
    with pytest.raises(DatasetError, match="neither yes/no nor a polygon"):
        load_dataset(root, "robospatial")


def _blink_row(idx: str, images: list[bytes | None], answer: str) -> dict:
    row = {"idx": idx, "question": "Which point is closer to the camera?", "sub_task": "Relative_Depth",
           "choices": ["A", "B"], "answer": answer,
           "prompt": "Which point is closer to the camera?\nSelect from the following choices.\n(A) A\n(B) B",
           "explanation": ""}
    for k in range(4):
        data = images[k] if k < len(images) else None
        row[f"image_{k + 1}"] = {"bytes": data, "path": f"{idx}_{k}.png"} if data is not None else None
    return row


def test_blink_loader_reads_the_hub_parquet(tmp_path):
    """BLINK-Benchmark/BLINK: <Subtask>/val-00000-of-00001.parquet with image_1..image_4 structs."""
    image = np.zeros((12, 16, 3), dtype=np.uint8)
    image[:, :, 2] = 200  # red in BGR
    png = _png_bytes(image)
    rows = [_blink_row("val_Relative_Depth_1", [png], "(A)"),
            _blink_row("val_Relative_Depth_2", [png, png], "(B)"),  # two images: skipped
            _blink_row("val_Relative_Depth_3", [png], "")]  # no public answer: skipped
    folder = tmp_path / "BLINK" / "Relative_Depth"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "val-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:1]), folder / "test-00000-of-00001.parquet")
    with pytest.warns(UserWarning, match="skipped 1 multi-image row"):
        items = load_dataset(tmp_path / "BLINK", "blink")
    [item] = items
    assert (item.id, item.answer_type, item.answer, item.choices, item.category) == (
        "val_Relative_Depth_1", "choice", "(A)", ["A", "B"], "Relative_Depth")
    assert item.question.endswith("(B) B")
    frame = load_frame(item)
    assert frame.rgb.shape == (12, 16, 3) and tuple(frame.rgb[0, 0]) == (200, 0, 0)
    with pytest.warns(UserWarning):
        assert len(load_dataset(folder, "blink")) == 1
    assert len(load_dataset(folder / "test-00000-of-00001.parquet", "blink")) == 1


def test_cvbench_loader_reads_jsonl_with_img_or_parquet(tmp_path):
    """nyu-visionx/CV-Bench: test_2d.jsonl / test_3d.jsonl with img/2D, img/3D (or the parquet files)."""
    root = tmp_path / "CV-Bench"
    _image(root / "img" / "2D" / "count" / "ade20k_10.png")
    _image(root / "img" / "3D" / "depth" / "omni3d_1.png")
    row2d = {"idx": 0, "type": "2D", "task": "Count", "question": "How many organs are in the image?",
             "choices": ["3", "2", "1", "0"], "answer": "(C)",
             "prompt": "How many organs are in the image? Select from the following choices.\n"
                       "(A) 3\n(B) 2\n(C) 1\n(D) 0",
             "filename": "img/2D/count/ade20k_10.png", "source": "ADE20K", "source_dataset": "ADE20K Validation Set",
             "source_filename": "ADE_val_00000248.jpg", "target_class": None, "target_size": None, "bbox": None}
    row3d = {**row2d, "idx": 1438, "type": "3D", "task": "Depth", "question": "Which is closer to the camera?",
             "choices": ["lamp", "table"], "answer": "(B)", "prompt": None, "filename": "img/3D/depth/omni3d_1.png",
             "source": "Omni3D"}
    (root / "test_2d.jsonl").write_text(json.dumps(row2d) + "\n")
    (root / "test_3d.jsonl").write_text(json.dumps(row3d) + "\n")
    count, depth = load_dataset(root, "cvbench")
    assert (count.category, count.answer, count.choices) == ("2D Count", "(C)", ["3", "2", "1", "0"])
    assert (depth.id, depth.category, depth.question) == ("1438", "3D Depth",
                                                          "Which is closer to the camera?\n(A) lamp\n(B) table")
    assert load_frame(depth).width == 32
    parquet_root = tmp_path / "parquet"
    parquet_root.mkdir()
    embedded = {**row2d, "image": {"bytes": _png_bytes(np.zeros((8, 8, 3), np.uint8)), "path": None}}
    pq.write_table(pa.Table.from_pylist([embedded]), parquet_root / "test_2d.parquet")
    [item] = load_dataset(parquet_root, "cvbench")
    assert load_frame(item).width == 8 and item.category == "2D Count"


def test_refspatial_loader_reads_raw_folders_and_parquet(tmp_path):
    """BAAI/RefSpatial-Bench: Location/question.json + image/ + mask/, or data/<task>-*.parquet."""
    root = tmp_path / "RefSpatial-Bench"
    _image(root / "Location" / "image" / "40.png", 20, 10)
    mask = np.zeros((10, 20), dtype=np.uint8)
    mask[0:5, 0:10] = 255
    (root / "Location" / "mask").mkdir()
    assert cv2.imwrite(str(root / "Location" / "mask" / "40.png"), mask)
    question = [{"id": 40, "object": "the second object from the left",
                 "prompt": "Please point out the second object from the left.",
                 "suffix": "Your answer should be formatted as a list of tuples, i.e. [(x1, y1)].",
                 "rgb_path": "image/40.png", "mask_path": "mask/40.png", "category": "location", "step": 2}]
    (root / "Location" / "question.json").write_text(json.dumps(question))
    [item] = load_dataset(root, "refspatial")
    assert (item.id, item.answer_type, item.category) == ("location-40", "point", "location")
    assert item.question.startswith("Please point out") and item.question.endswith("[(x1, y1)].")
    region = load_region(item, 20, 10)
    assert point_in_region((0.25, 0.25), region) and not point_in_region((0.75, 0.75), region)
    data = tmp_path / "hub" / "data"
    data.mkdir(parents=True)
    row = {"id": 7, "image": {"bytes": _png_bytes(np.zeros((10, 20, 3), np.uint8)), "path": "7.png"},
           "mask": {"bytes": _png_bytes(mask), "path": "7_mask.png"}, "object": "free space",
           "prompt": "Please point out the free space left of the cup.", "suffix": "Answer [(x, y)].", "step": 1}
    pq.write_table(pa.Table.from_pylist([row]), data / "placement-00000-of-00001.parquet")
    [item] = load_dataset(tmp_path / "hub", "refspatial")
    assert (item.id, item.category) == ("placement-7", "placement")
    assert load_region(item, 20, 10).sum() == 50


def test_bopask_loader_reads_verl_rows(tmp_path):
    """BOP-ASK bench rows as the SpaceTools release evaluates them (data_source, extra_info, reward_model, images)."""
    png = _png_bytes(np.zeros((10, 10, 3), np.uint8))
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    corners = "[(0.1, 0.1), (0.4, 0.1), (0.4, 0.4), (0.1, 0.4), (0.15, 0.05), (0.45, 0.05), (0.45, 0.35), (0.15, 0.35)]"
    grasp = ("Grasp center: [0.357812, 0.256944], Left finger base: [0.325781, 0.238889], Right finger base: "
             "[0.386719, 0.273611], Left finger tip: [0.324219, 0.3125], Right finger tip: [0.385156, 0.338889]")
    rows = [
        {"data_source": "bop_ask_bench-pose", "prompt": [{"role": "system", "content": "s"}],
         "images": [{"bytes": png}], "reward_model": {"ground_truth": corners},
         "extra_info": {"question": "Outline the cracker box's 3D box.", "index": 0}},
        {"data_source": "bop_ask_bench-grasp", "prompt": [{"role": "system", "content": "s"}],
         "images": [{"bytes": png}], "reward_model": {"ground_truth": grasp},
         "extra_info": {"question": "What are the five normalized (x, y) points of the grasp?", "index": 1}},
        {"data_source": "bop_ask_bench-spatial_reasoning",
         "prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "<image>Is the can left?"}],
         "images": [{"bytes": png}], "reward_model": {"ground_truth": "Yes"}, "extra_info": {"index": 2}},
        {"data_source": "bop_ask_bench-trajectory", "prompt": [{"role": "user", "content": "Plan a path."}],
         "images": [{"bytes": png}], "reward_model": {"ground_truth": "move left then up"}, "extra_info": {"index": 3}},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bop_ask_bench.parquet")
    with pytest.warns(UserWarning, match="skipped 1 row"):
        pose, grasp_item, yes = load_dataset(tmp_path / "bop_ask_bench.parquet", "bopask")
    assert [i.answer_type for i in (pose, grasp_item, yes)] == ["bbox3d", "grasp", "yesno"]
    assert [i.category for i in (pose, grasp_item, yes)] == ["pose", "grasp", "spatial_reasoning"]
    assert yes.question == "Is the can left?" and pose.id == "pose-0"
    assert load_frame(pose).width == 10
    flat = tmp_path / "dump"
    flat.mkdir()
    (flat / "bopgrasp.jsonl").write_text(json.dumps({"sample_id": 0, "image": uri, "gt": grasp,
                                                     "question": "grasp?"}) + "\n")
    [item] = load_dataset(flat, "bopask")
    assert item.answer_type == "grasp" and load_frame(item).height == 10


def test_bad_datasets_are_one_line_errors(tmp_path):
    run = spacetools("eval", "--dataset", str(tmp_path / "missing"), "--format", "jsonl")
    assert run.returncode == 2 and run.stderr.startswith("spacetools: error: ") and "Traceback" not in run.stderr
    (tmp_path / "x.jsonl").write_text("{not json\n")
    run = spacetools("eval", "--dataset", str(tmp_path / "x.jsonl"), "--format", "jsonl")
    assert run.returncode == 2 and "x.jsonl:1: not JSON" in run.stderr and "Traceback" not in run.stderr
    run = spacetools("eval", "--dataset", str(tmp_path), "--format", "blink")
    assert run.returncode == 2 and "BLINK" in run.stderr


# ------------------------------------------------------------------------------------------ the command


def test_eval_on_a_generated_scene(tmp_path):
    """Runs without ../shared/data: a generated tabletop with known objects, saved as a JSONL dataset."""
    scene = generate_tabletop(seed=3, num_objects=5)
    frame = scene.frame
    assert cv2.imwrite(str(tmp_path / "rgb.png"), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    np.save(tmp_path / "depth.npy", frame.depth)
    closest = int(np.argmin([math.hypot(*o.position) for o in scene.objects]))
    assert cv2.imwrite(str(tmp_path / "closest.png"), (scene.labels == closest).astype(np.uint8) * 255)
    k = frame.intrinsics
    common = {"image": "rgb.png", "depth": "depth.npy", "intrinsics": [k.fx, k.fy, k.cx, k.cy],
              "T_base_camera": frame.T_base_camera.tolist()}
    lines = [
        {"id": "count", "question": COUNT_QUESTION, "answer_type": "count", "answer": len(scene.objects), **common},
        {"id": "closest", "question": "point to the object closest to the robot", "answer_type": "point",
         "region": "closest.png", **common},
        {"id": "unanswerable", "question": "Is the scene tidy?", "answer_type": "yesno", "answer": "yes", **common},
        {"id": "missing-image", "question": COUNT_QUESTION, "answer_type": "count", "answer": 1,
         "image": "nowhere.png"},
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    run = spacetools("eval", "--dataset", str(tmp_path / "items.jsonl"), "--format", "jsonl", "--out", str(out),
                     "--limit", "1")
    assert run.returncode == 0, run.stderr
    assert [r["id"] for r in _records(out)] == ["count"]
    run = spacetools("eval", "--dataset", str(tmp_path / "items.jsonl"), "--format", "jsonl", "--out", str(out),
                     "--json", str(tmp_path / "summary.json"))
    assert run.returncode == 0, run.stderr
    records = {r["id"]: r for r in _records(out)}
    assert list(records) == ["count", "closest", "unanswerable", "missing-image"]
    assert records["count"]["prediction"] == str(len(scene.objects)) and records["count"]["score"] == 1.0
    assert records["closest"]["score"] == 1.0 and records["closest"]["metrics"]["nndc"] == 1.0
    assert records["unanswerable"]["prediction"] is None and records["unanswerable"]["score"] == 0.0
    assert records["unanswerable"]["error_kind"] == "episode" and "not understood" in records["unanswerable"]["error"]
    assert records["missing-image"]["error_kind"] == "item" and records["missing-image"]["trace"] is None
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accuracy"] == pytest.approx({"count": 50.0, "point": 100.0, "yesno": 0.0})
    assert summary["items"] == 4 and summary["errors"] == 1 and summary["answered"] == 2


@pytest.fixture(scope="module")
def shared_run(shared_data_module, tmp_path_factory):
    """`spacetools eval --format jsonl` on questions about recorded frames, with gold answers from their
    ground truth: ucn_demo_tabletop counts (frame 0 holds 10 objects on the table, frame 4 holds 4) and
    m2t2_real_scene_00 pointing (regions from seg.png: 105 the pink bowl, 107 the yellow cup, the object
    nearest the robot) plus a yes/no relation the scripted planner does not handle."""
    shared = shared_data_module
    folder = tmp_path_factory.mktemp("eval_shared")
    ucn, m2t2 = shared / "ucn_demo_tabletop", shared / "m2t2_real_scene_00"
    params = json.loads((ucn / "camera_params.json").read_text())
    ucn_k = [params["fx"], params["fy"], params["x_offset"], params["y_offset"]]
    meta = json.loads((m2t2 / "meta_data.json").read_text())
    k = meta["intrinsics"]
    seg = cv2.imread(str(m2t2 / "seg.png"), cv2.IMREAD_UNCHANGED)
    assert {meta["label_map"]["obj_5"], meta["label_map"]["obj_7"]} == {105, 107}
    (folder / "masks").mkdir()
    for label in (105, 107):
        assert cv2.imwrite(str(folder / "masks" / f"{label}.png"), (seg == label).astype(np.uint8) * 255)
    bowl_x, cup_x = (np.nonzero(seg == label)[1].mean() for label in (105, 107))

    def rel(path: Path) -> str:
        return os.path.relpath(path, folder)

    scene = {"image": rel(m2t2 / "rgb.png"), "depth": rel(m2t2 / "depth.npy"),
             "intrinsics": [k[0][0], k[1][1], k[0][2], k[1][2]], "T_base_camera": meta["camera_pose"]}

    def ucn_frame(index: int) -> dict:
        return {"image": rel(ucn / f"{index:06d}-color.png"), "depth": rel(ucn / f"{index:06d}-depth.png"),
                "intrinsics": ucn_k}

    lines = [
        {"id": "ucn-0-count", "question": COUNT_QUESTION, "answer_type": "count", "answer": 10,
         "category": "counting", **ucn_frame(0)},
        {"id": "ucn-4-count", "question": COUNT_QUESTION, "answer_type": "count", "answer": "four",
         "category": "counting", **ucn_frame(4)},
        {"id": "m2t2-nearest", "question": "Which object is nearest to the robot? Point to it.",
         "answer_type": "point", "region": "masks/107.png", "category": "nearest to the robot", **scene},
        {"id": "m2t2-pink-bowl", "question": "Point to the pink bowl", "answer_type": "point",
         "region": "masks/105.png", "category": "colour pointing", **scene},
        {"id": "m2t2-yellow-cup", "question": "Where is the yellow cup?", "answer_type": "point",
         "region": "masks/107.png", "category": "colour pointing", **scene},
        {"id": "m2t2-bowl-left-of-cup", "question": "Is the pink bowl left of the yellow cup?",
         "answer_type": "yesno", "answer": "yes" if bowl_x < cup_x else "no", "category": "relations", **scene},
    ]
    (folder / "items.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = folder / "out"
    run = spacetools("eval", "--dataset", str(folder / "items.jsonl"), "--format", "jsonl", "--out", str(out),
                     "--json", str(folder / "summary.json"))
    assert run.returncode == 0, run.stderr
    return run, out, json.loads((folder / "summary.json").read_text()), _records(out)


KNOWN_CORRECT = ["ucn-0-count", "ucn-4-count", "m2t2-nearest", "m2t2-pink-bowl", "m2t2-yellow-cup"]


def test_known_answers_on_recorded_frames_score_1(shared_run):
    _, _, _, records = shared_run
    by_id = {r["id"]: r for r in records}
    assert [r["id"] for r in records] == [*KNOWN_CORRECT, "m2t2-bowl-left-of-cup"]
    assert by_id["ucn-0-count"]["prediction"] == "10" and by_id["ucn-4-count"]["parsed"] == 4
    for item in KNOWN_CORRECT:
        assert by_id[item]["score"] == 1.0, by_id[item]
    for item in ("m2t2-nearest", "m2t2-pink-bowl", "m2t2-yellow-cup"):
        assert by_id[item]["metrics"]["nndc"] == 1.0 and len(by_id[item]["parsed"]) == 1
    relation = by_id["m2t2-bowl-left-of-cup"]
    assert relation["score"] == 0.0 and relation["prediction"] is None and relation["state"] == "failed"


def test_reported_accuracy_is_the_per_item_mean(shared_run):
    run, _, summary, records = shared_run
    expected = _independent_accuracy(records)
    assert summary["accuracy"] == pytest.approx(expected) and set(expected) == {"count", "point", "yesno"}
    assert summary["items"] == len(records) == 6
    assert summary["overall"] == pytest.approx(100.0 * sum(r["score"] for r in records) / len(records))
    for name, group in summary["categories"].items():
        members = [r for r in records if r["category"] == name]
        assert group["items"] == len(members)
        assert group["accuracy"] == pytest.approx(100.0 * sum(r["score"] for r in members) / len(members))
    colour = [r["metrics"]["nndc"] for r in records if r["category"] == "colour pointing"]
    assert summary["categories"]["colour pointing"]["nndc"] == pytest.approx(100.0 * sum(colour) / len(colour))
    # the table printed to stdout: one row per category, the answer types and the total
    table = run.stdout
    for name in ("counting", "nearest to the robot", "colour pointing", "relations", "[count]", "[yesno]"):
        assert name in table
    assert table.strip().splitlines()[-1].split()[:3] == ["all", "6", f"{summary['overall']:.2f}%"]
    assert json.loads((Path(summary["run"]["dataset"]).parent / "out" / "summary.json").read_text()) == summary


def test_records_point_to_their_traced_episodes(shared_run):
    _, out, _, records = shared_run
    episodes = {}
    for line in (out / "trace" / "episodes.jsonl").read_text(encoding="utf-8").splitlines():
        episode = json.loads(line)
        episodes[episode["id"]] = episode
    assert len(episodes) == len(records)
    for record in records:
        assert record["trace"]["file"] == "trace/episodes.jsonl"
        episode = episodes[record["trace"]["episode_id"]]
        assert episode["task"] == record["question"] and episode["answer"] == record["prediction"]
        assert episode["metadata"]["eval"]["item"] == record["id"]
        assert [c["name"] for c in episode["tool_calls"]] == [c["name"] for c in record["tool_calls"]]
        assert (out / "trace" / episode["frames"][0]["path"]).is_file()


def test_report_is_one_self_contained_page(shared_run):
    _, out, _, records = shared_run
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page and "https://" not in page and "file:" not in page
    assert 'src="data:image/png;base64,' in page and page.count("<img ") == len(records)
    for record in records:
        assert f'id="item-{record["id"]}"' in page and record["question"] in page
    assert page.count('<image class="mask"') == 3  # the gold regions of the three pointing items
    assert page.count('class="answer"') == 3  # their predicted points


def test_report_renders_in_headless_chromium(shared_run, chromium):
    """Chromium run the way test_trace_report.py runs it: no console message, the images drawn."""
    _, out, _, _ = shared_run
    image, console, _ = chromium.render(out / "report.html", 1280, 2000)
    assert not console, console
    assert image is not None and image.shape[:2] == (2000, 1280)
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    assert colours > 2000, f"{colours} distinct colours: the images did not render"
