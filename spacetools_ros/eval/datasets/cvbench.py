"""CV-Bench (nyu-visionx/CV-Bench on Hugging Face, Tong et al. 2024, "Cambrian-1"), as the dataset repository
is laid out:

    ROOT/test_2d.jsonl, ROOT/test_3d.jsonl   (the current revision; an earlier one has a single test.jsonl)
    ROOT/img/2D/<task>/<name>.png, ROOT/img/3D/<task>/<name>.png
    ROOT/test_2d.parquet, ROOT/test_3d.parquet   (the same rows with the image embedded)

One object per row: idx, type ("2D" | "3D"), task ("Count", "Relation", "Depth", "Distance"), question,
choices (option texts), answer ("(A)"), prompt (the question with its options), filename
("img/2D/count/ade20k_10.png"), source, source_dataset, source_filename, target_class, target_size, bbox.
The JSONL files with the img/ folder are read when present, else the parquet files. The category of an item
is "<type> <task>" (SpaceTools reports 2D Relation and 3D Depth). --dataset is ROOT or one of its files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spacetools_ros.eval.datasets._common import read_jsonl, read_parquet, with_choices
from spacetools_ros.eval.items import DatasetError, EvalItem, image_source


def _rows(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("test*.jsonl")) or sorted(path.glob("test*.parquet"))
    else:
        files = []
    if not files:
        raise DatasetError(f"{path} holds no CV-Bench split (test_2d.jsonl / test_3d.jsonl with img/, or *.parquet)")
    rows = []
    for file in files:
        content = read_parquet(file) if file.suffix == ".parquet" else read_jsonl(file)
        rows.extend((file, row) for row in content)
    return rows


def load(path: str | Path) -> list[EvalItem]:
    """Every CV-Bench question (multiple choice) of the folder or file."""
    items = []
    for file, row in _rows(Path(path)):
        where = f"{file.name}:{row.get('idx')}"
        image = row.get("image") if file.suffix == ".parquet" and row.get("image") is not None else row.get("filename")
        if image is None:
            raise DatasetError(f"{where}: no image (neither 'filename' nor an embedded 'image')")
        if row.get("answer") is None:
            raise DatasetError(f"{where}: no answer")
        choices = [str(c) for c in row.get("choices") or []]
        question = str(row.get("prompt") or with_choices(str(row.get("question", "")), choices))
        category = " ".join(str(row[k]) for k in ("type", "task") if row.get(k)) or "CV-Bench"
        items.append(EvalItem(
            id=str(row.get("idx", len(items))), question=question, answer_type="choice", answer=str(row["answer"]),
            choices=choices or None, image=image_source(image, file.parent), category=category,
            metadata={"file": file.name, "source": row.get("source")}))
    return items
