"""RefSpatial-Bench (BAAI/RefSpatial-Bench on Hugging Face, the RoboRefer benchmark), in either layout of the
dataset repository:

raw files (read first when present)::

    ROOT/Location/question.json, ROOT/Location/image/<id>.png, ROOT/Location/mask/<id>.png
    ROOT/Placement/..., ROOT/Unseen/...
    question.json: [{"id": 40, "object": "...", "prompt": "Please point out ...", "suffix": "Your answer
                     should be formatted as a list of tuples, i.e. [(x1, y1)], ...", "rgb_path": "image/40.png",
                     "mask_path": "mask/40.png", "category": "location", "step": 2}, ...]

Hugging Face datasets format::

    ROOT/data/location-*.parquet, placement-*.parquet, unseen-*.parquet
    columns: id, image, mask (Image structs), object, prompt, suffix, step

Every item is a pointing question (prompt + suffix) whose gold region is the mask (non-zero = inside).
--dataset is ROOT, one task folder (Location/...) or one parquet file. The category is the task (location,
placement, unseen); the RoboRefer paper warns Unseen is meant for models trained on RefSpatial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spacetools_ros.eval.datasets._common import read_json, read_parquet
from spacetools_ros.eval.items import DatasetError, EvalItem, image_source

TASKS = ("Location", "Placement", "Unseen")


def _question(row: dict[str, Any]) -> str:
    return " ".join(str(row[k]).strip() for k in ("prompt", "suffix") if row.get(k)) or str(row.get("object", ""))


def _from_folder(folder: Path) -> list[EvalItem]:
    content = read_json(folder / "question.json")
    if not isinstance(content, list):
        raise DatasetError(f"{folder / 'question.json'}: expected a list of questions")
    items = []
    for index, row in enumerate(content):
        where = f"{folder.name}/question.json[{index}]"
        if not row.get("rgb_path") or not row.get("mask_path"):
            raise DatasetError(f"{where}: needs rgb_path and mask_path")
        category = str(row.get("category") or folder.name).lower()
        items.append(EvalItem(
            id=f"{category}-{row.get('id', index)}", question=_question(row), answer_type="point", answer=None,
            image=folder / row["rgb_path"], region=folder / row["mask_path"], category=category,
            metadata={"step": row.get("step"), "object": row.get("object")}))
    return items


def _from_parquet(file: Path) -> list[EvalItem]:
    category = file.name.split("-")[0].lower()
    items = []
    for index, row in enumerate(read_parquet(file)):
        if row.get("image") is None or row.get("mask") is None:
            raise DatasetError(f"{file.name}[{index}]: needs image and mask")
        items.append(EvalItem(
            id=f"{category}-{row.get('id', index)}", question=_question(row), answer_type="point", answer=None,
            image=image_source(row["image"], file.parent), region=image_source(row["mask"], file.parent),
            category=category, metadata={"step": row.get("step"), "object": row.get("object")}))
    return items


def load(path: str | Path) -> list[EvalItem]:
    """Every question of RefSpatial-Bench found at path."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".parquet":
            return _from_parquet(path)
        if path.name == "question.json":
            return _from_folder(path.parent)
        raise DatasetError(f"{path}: expected a RefSpatial-Bench folder, question.json or parquet file")
    if (path / "question.json").is_file():
        return _from_folder(path)
    folders = [path / t for t in TASKS if (path / t / "question.json").is_file()]
    if folders:
        return [item for folder in folders for item in _from_folder(folder)]
    files = sorted((path / "data").glob("*.parquet")) if (path / "data").is_dir() else sorted(path.glob("*.parquet"))
    if files:
        return [item for file in files for item in _from_parquet(file)]
    raise DatasetError(f"{path} holds no RefSpatial-Bench data (Location/question.json ... or data/*.parquet)")
