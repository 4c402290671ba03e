"""Helpers the dataset loaders share: reading parquet / JSON / JSONL files and phrasing choice questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spacetools_ros.eval import answers
from spacetools_ros.eval.items import DatasetError


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """The rows of a parquet file as dicts (pyarrow; Hugging Face datasets publish their splits this way)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is in requirements.txt
        raise DatasetError(f"reading {path} needs pyarrow (pip install pyarrow)") from None
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DatasetError(f"{path} is not a readable parquet file: {exc}") from None


def read_json(path: Path) -> Any:
    """A JSON file's content; DatasetError naming the file when it is not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path} is not readable JSON: {exc}") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (blank lines skipped); DatasetError naming the line when one is bad."""
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{number}: expected a JSON object")
        row.setdefault("_line", number)
        rows.append(row)
    return rows


def with_choices(question: str, choices: list[str] | None) -> str:
    """The question followed by its options as "(A) text" lines (unless it already lists them)."""
    if not choices or "(A)" in question:
        return question
    listed = "\n".join(f"({answers.choice_letter(i)}) {c}" for i, c in enumerate(choices))
    return f"{question}\n{listed}"


def infer_answer_type(gold: Any) -> str | None:
    """The answer type a gold answer's form implies: yes/no, an option letter "(A)", an integer, 8 points
    (bbox3d), 5 gripper points (grasp); None when it is none of these."""
    if isinstance(gold, bool):
        return "yesno"
    if isinstance(gold, int):
        return "count"
    text = str(gold).strip()
    if text.lower() in ("yes", "no"):
        return "yesno"
    if answers.parse_grasp(text) is not None and "finger" in text.lower():
        return "grasp"
    points = answers.parse_points(text)
    if len(points) == 8:
        return "bbox3d"
    if len(points) == 5:
        return "grasp"
    if len(text) <= 3 and answers.parse_choice(text) is not None:
        return "choice"
    if text.isdigit():
        return "count"
    return None
