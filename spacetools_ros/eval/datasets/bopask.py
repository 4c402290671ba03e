"""BOP-ASK (Bhat et al., "BOP-Ask: Object-Interaction Reasoning for Vision-Language Models", CVPR 2026).

Layout followed: the one the SpaceTools release evaluates, i.e. the BOP-ASK bench files as prepared for
VeRL and read by the Toolshed evaluator (evals/bop_ask.py): parquet (or JSON / JSONL) rows with

    data_source   "...-pose" | "...-grasp" | "...-spatial_reasoning" | ...   (the question type after the "-")
    prompt        [{"role": "system", ...}, {"role": "user", "content": question}]   (older files)
    extra_info    {"question": question, "index": n}                                   (current files)
    reward_model  {"ground_truth": gold}
    images        [{"bytes": ...} | {"image": "data:image/png;base64,..."} | "path", ...]

Flat rows {"question", "answer" | "gt" | "ground_truth", "image" | "images", "type", "id" | "index"} (the
shape of per-sample evaluation dumps) are read too; paths are relative to the file. Gold answers: pose = the
8 projected box corners "[(x, y), ...]" (answer type bbox3d), grasp = "Grasp center: [x, y], Left finger
base: [...], Right finger base: [...], Left finger tip: [...], Right finger tip: [...]" (grasp), spatial
reasoning = "Yes"/"No" (yesno); rows of other types are typed from their gold answer's form, and skipped
when it fits no answer type. --dataset is one such file or a folder of them.

NOT CONFIRMED: the layout of the public Hugging Face release of the BOP-ASK test set (its card could not be
read), so a download of that release may need converting to the rows above.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from spacetools_ros.eval.datasets._common import infer_answer_type, read_json, read_jsonl, read_parquet
from spacetools_ros.eval.items import DatasetError, EvalItem, image_source

TYPE_TO_ANSWER = {"pose": "bbox3d", "grasp": "grasp", "spatial_reasoning": "yesno", "spatial": "yesno"}


def _rows(file: Path) -> list[dict[str, Any]]:
    if file.suffix == ".parquet":
        return read_parquet(file)
    if file.suffix == ".jsonl":
        return read_jsonl(file)
    content = read_json(file)
    if not isinstance(content, list):
        raise DatasetError(f"{file}: expected a list of rows")
    return content


def _question(row: dict[str, Any]) -> str | None:
    extra = row.get("extra_info") or {}
    if isinstance(extra, dict) and extra.get("question"):
        return str(extra["question"])
    if row.get("question"):
        return str(row["question"])
    for message in row.get("prompt") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content", "")).replace("<image>", "").strip()
    return None


def _gold(row: dict[str, Any]) -> Any:
    reward = row.get("reward_model") or {}
    if isinstance(reward, dict) and reward.get("ground_truth") is not None:
        return reward["ground_truth"]
    for key in ("answer", "gt", "ground_truth"):
        if row.get(key) is not None:
            return row[key]
    return None


def _image(row: dict[str, Any], base: Path) -> Any:
    images = row.get("images")
    if isinstance(images, list) and images:
        return image_source(images[0], base)
    return image_source(row.get("image"), base)


def load(path: str | Path) -> list[EvalItem]:
    """Every scorable BOP-ASK question in the file or folder."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".jsonl", ".json"))
    else:
        files = []
    if not files:
        raise DatasetError(f"{path} holds no BOP-ASK rows (.parquet, .jsonl or .json)")
    items, skipped = [], 0
    for file in files:
        for index, row in enumerate(_rows(file)):
            where = f"{file.name}[{index}]"
            question, gold, image = _question(row), _gold(row), _image(row, file.parent)
            if question is None or gold is None or image is None:
                raise DatasetError(f"{where}: needs a question, a ground truth and an image")
            source = str(row.get("data_source") or row.get("type") or "")
            kind = source.rsplit("-", 1)[-1] if source else ""
            answer_type = TYPE_TO_ANSWER.get(kind) or infer_answer_type(gold)
            if answer_type is None:
                skipped += 1
                continue
            extra = row.get("extra_info") if isinstance(row.get("extra_info"), dict) else {}
            identifier = row.get("id", extra.get("index", row.get("index", row.get("sample_id", index))))
            items.append(EvalItem(id=f"{kind or answer_type}-{identifier}", question=question,
                                  answer_type=answer_type, answer=gold, image=image, category=kind or answer_type,
                                  metadata={"file": file.name, "data_source": source}))
    if skipped:
        warnings.warn(f"BOP-ASK: skipped {skipped} row(s) whose answer fits no scored answer type", stacklevel=2)
    if not items:
        raise DatasetError(f"{path}: no scorable BOP-ASK question")
    return items
