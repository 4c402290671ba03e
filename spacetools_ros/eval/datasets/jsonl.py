"""The project's own plain format: one JSON object per line.

    {"id": "ucn-0-count", "image": "frames/000000-color.png", "depth": "frames/000000-depth.png" | null,
     "intrinsics": [fx, fy, cx, cy] | null, "T_base_camera": 4x4 (or 16 numbers, row-major) | null,
     "question": "How many objects are on the table?", "answer_type": "count|yesno|choice|point|bbox3d|grasp",
     "answer": ..., "region": "masks/cup.png" | null,
     "category": "counting" (optional, default: the answer type), "choices": ["table", "cup"] (optional,
     for choice items answered with the option text), "depth_scale": 0.001 (optional, metres per unit of a
     16-bit depth PNG; .npy depth is metres)}

Paths are relative to the JSONL file (absolute paths work too). answer: an integer for count, "yes"/"no"
for yesno, the option letter ("(A)" or "A") for choice, the 8 projected box corners [[x, y], ...] for
bbox3d, the 5 gripper points (center, left base, right base, left tip, right tip) for grasp; for point the
gold is the region mask (a PNG, non-zero = inside) and answer may be null.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spacetools_ros.eval.datasets._common import read_jsonl
from spacetools_ros.eval.items import ANSWER_TYPES, DatasetError, EvalItem


def _path(value: Any, base: Path, what: str, where: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{where}: {what} must be a path string, got {value!r}")
    return base / value


def item_from_record(record: dict[str, Any], base: Path, where: str) -> EvalItem:
    """One EvalItem from one JSONL object (paths resolved against base); DatasetError naming where."""
    for key in ("image", "question", "answer_type"):
        if not record.get(key):
            raise DatasetError(f"{where}: missing {key!r}")
    if record["answer_type"] not in ANSWER_TYPES:
        raise DatasetError(f"{where}: answer_type {record['answer_type']!r} is not one of {', '.join(ANSWER_TYPES)}")
    if "answer" not in record and record["answer_type"] != "point":
        raise DatasetError(f"{where}: missing 'answer'")
    region = _path(record.get("region"), base, "region", where)
    if record["answer_type"] == "point" and region is None:
        raise DatasetError(f"{where}: a point item needs 'region' (a mask PNG)")
    intrinsics = record.get("intrinsics")
    if intrinsics is not None and (not isinstance(intrinsics, list) or len(intrinsics) != 4):
        raise DatasetError(f"{where}: intrinsics must be [fx, fy, cx, cy]")
    choices = record.get("choices")
    if choices is not None and not (isinstance(choices, list) and all(isinstance(c, str) for c in choices)):
        raise DatasetError(f"{where}: choices must be a list of strings")
    return EvalItem(
        id=str(record.get("id", where)),
        question=str(record["question"]),
        answer_type=record["answer_type"],
        answer=record.get("answer"),
        image=_path(record["image"], base, "image", where),
        depth=_path(record.get("depth"), base, "depth", where),
        depth_scale=float(record.get("depth_scale", 0.001)),
        intrinsics=intrinsics,
        T_base_camera=record.get("T_base_camera"),
        region=region,
        choices=choices,
        category=str(record.get("category") or ""),
        metadata={"line": record.get("_line")},
    )


def load(path: str | Path) -> list[EvalItem]:
    """Every item of a JSONL file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} is not a JSONL file")
    base = path.parent
    items = [item_from_record(record, base, f"{path}:{record['_line']}") for record in read_jsonl(path)]
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise DatasetError(f"{path}: duplicate ids {', '.join(duplicates[:5])}")
    return items
