"""Dataset loaders, one module per format; each turns a dataset on disk into a list of EvalItem.

Each module's docstring states the layout (and the dataset version) it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spacetools_ros.eval.datasets import blink, bopask, cvbench, jsonl, refspatial, robospatial
from spacetools_ros.eval.items import DatasetError, EvalItem

LOADERS: dict[str, Callable[[Path], list[EvalItem]]] = {
    "jsonl": jsonl.load,
    "robospatial": robospatial.load,
    "blink": blink.load,
    "cvbench": cvbench.load,
    "refspatial": refspatial.load,
    "bopask": bopask.load,
}
FORMATS = tuple(LOADERS)


def load_dataset(path: str | Path, fmt: str) -> list[EvalItem]:
    """The items of the dataset at path read in format fmt (one of FORMATS); DatasetError when it cannot be."""
    if fmt not in LOADERS:
        raise DatasetError(f"unknown dataset format {fmt!r} (one of {', '.join(FORMATS)})")
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset {path} does not exist")
    return LOADERS[fmt](path)


__all__ = ["FORMATS", "LOADERS", "DatasetError", "EvalItem", "load_dataset"]
