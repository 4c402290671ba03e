"""RoboSpatial-Home (chanhee-luke/RoboSpatial-Home, CVPR 2025), as its official evaluation repository
(github.com/chanhee-luke/RoboSpatial-Eval, download_benchmark.py) writes it to disk:

    ROOT/annotations.json   [{"category": "context" | "compatibility" | "configuration", "question": str,
                              "answer": "Yes" | "No" | "[(x, y), (x, y), ...]", "img": "images/....png",
                              "depth_image": "images/....png" | null, "mask": "images/....png" | null}, ...]
    ROOT/images/...

(the evaluator reads every JSON list of such records in ROOT, so other *.json files with the same records,
e.g. one per split, are read too). Configuration and compatibility are yes/no questions; context is
pointing into vacant space, whose gold answer is a polygon in normalised coordinates: the official evaluator
hit-tests the first predicted point against it (ray casting). Here the polygon is rasterised at the image's
resolution (pixels whose centre is inside) and scored like every region, so a point within a pixel of the
polygon's outline may be judged differently.

RoboSpatial-Home gives no camera intrinsics (a nominal pinhole is assumed). Its depth_image is used only
when it is a 16-bit PNG (read as millimetres); 8-bit depth visualisations are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from spacetools_ros.eval import answers
from spacetools_ros.eval.datasets._common import read_json
from spacetools_ros.eval.items import DatasetError, EvalItem

CATEGORIES = ("configuration", "compatibility", "context")


def _records(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    files = [root / "annotations.json"] if (root / "annotations.json").is_file() else sorted(root.glob("*.json"))
    out = []
    for file in files:
        content = read_json(file)
        if isinstance(content, list) and all(isinstance(r, dict) and "question" in r and "answer" in r
                                             for r in content):
            out.extend((file, r) for r in content)
    if not out:
        raise DatasetError(f"{root} has no RoboSpatial-Home annotations (annotations.json written by "
                           "download_benchmark.py: a list of {category, question, answer, img, ...})")
    return out


def _metric_depth(path: Path | None) -> Path | None:
    """The depth image if it is a 16-bit PNG (millimetres), else None."""
    if path is None or not path.is_file():
        return None
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return path if raw is not None and raw.ndim == 2 and raw.dtype.itemsize == 2 else None


def load(path: str | Path) -> list[EvalItem]:
    """Every question of a downloaded RoboSpatial-Home folder (or of one of its JSON files)."""
    path = Path(path)
    root = path.parent if path.is_file() else path
    if not root.is_dir():
        raise DatasetError(f"{path} is not a RoboSpatial-Home folder")
    records = [(path, r) for r in read_json(path)] if path.is_file() else _records(root)
    items = []
    for index, (file, record) in enumerate(records):
        where = f"{file.name}[{index}]"
        answer = str(record.get("answer", "")).strip()
        image = record.get("img")
        if not image:
            raise DatasetError(f"{where}: no 'img'")
        category = str(record.get("category") or "")
        common = dict(id=f"{category or 'item'}-{index}", question=str(record["question"]), image=root / image,
                      depth=_metric_depth(root / record["depth_image"]) if record.get("depth_image") else None,
                      category=category, metadata={"file": file.name, "index": index})
        if answer.lower() in ("yes", "no"):
            items.append(EvalItem(answer_type="yesno", answer=answer, **common))
            continue
        polygon = answers.parse_points(answer)
        if len(polygon) < 3:
            raise DatasetError(f"{where}: answer {answer[:60]!r} is neither yes/no nor a polygon of 3+ points")
        items.append(EvalItem(answer_type="point", answer=None, region_polygon=polygon, **common))
    return items
