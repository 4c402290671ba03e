"""BLINK (BLINK-Benchmark/BLINK on Hugging Face, Fu et al. 2024), as the dataset repository is laid out:

    ROOT/<Subtask>/val-00000-of-00001.parquet     e.g. ROOT/Relative_Depth/val-00000-of-00001.parquet
    ROOT/<Subtask>/test-00000-of-00001.parquet    (test answers are hidden; such rows are skipped)

Columns: idx, question, sub_task, image_1 .. image_4 (Hugging Face Image structs {"bytes", "path"}, unused
ones null), choices (list of option texts), answer ("(A)"), prompt (the question with its options listed),
explanation. --dataset may be ROOT (every subtask's val split), one subtask folder (its val split) or one
parquet file. SpaceTools reports the Relative_Depth subtask. The agent takes one image, so rows with more
than one image (multi-view, correspondence and similar subtasks) are skipped and counted.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from spacetools_ros.eval.datasets._common import read_parquet, with_choices
from spacetools_ros.eval.items import DatasetError, EvalItem, image_source

IMAGE_COLUMNS = ("image_1", "image_2", "image_3", "image_4")


def _files(path: Path, split: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"{path} is neither a BLINK folder nor a parquet file")
    own = sorted(path.glob(f"{split}-*.parquet"))
    files = own or sorted(path.glob(f"*/{split}-*.parquet"))
    if not files:
        raise DatasetError(f"{path} holds no BLINK {split} split (<Subtask>/{split}-*.parquet)")
    return files


def load(path: str | Path, split: str = "val") -> list[EvalItem]:
    """The single-image questions of BLINK's split (val by default: test answers are not public)."""
    items, skipped_multi, skipped_hidden = [], 0, 0
    for file in _files(Path(path), split):
        for row in read_parquet(file):
            images = [row.get(c) for c in IMAGE_COLUMNS if row.get(c) is not None]
            if not images:
                raise DatasetError(f"{file}: row {row.get('idx')} has no image")
            if len(images) > 1:
                skipped_multi += 1
                continue
            answer = str(row.get("answer") or "")
            if not re.fullmatch(r"\(?[A-Z]\)?", answer.strip()):
                skipped_hidden += 1
                continue
            choices = [str(c) for c in row.get("choices") or []]
            question = str(row.get("prompt") or with_choices(str(row.get("question", "")), choices))
            sub_task = str(row.get("sub_task") or file.parent.name)
            items.append(EvalItem(
                id=str(row.get("idx") or f"{sub_task}_{len(items)}"), question=question, answer_type="choice",
                answer=answer.strip(), choices=choices or None, image=image_source(images[0], file.parent),
                category=sub_task, metadata={"file": file.name}))
    if skipped_multi or skipped_hidden:
        warnings.warn(f"BLINK: skipped {skipped_multi} multi-image row(s) and {skipped_hidden} row(s) without a "
                      "public answer", stacklevel=2)
    if not items:
        raise DatasetError(f"{path}: no single-image BLINK question with a public answer")
    return items
