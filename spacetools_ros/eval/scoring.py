"""Score one prediction against one item's gold answer, by answer type (parsing + the paper's metric).

Every answer type gives a score in [0, 1] (accuracy is its mean x 100): exact match for count / yesno /
choice, the hit fraction for point (with the NNDC reward beside it), IoU of the projected-box hulls for
bbox3d (so its accuracy is the paper's IoU x 100), and success (MACE > 40) for grasp (with MACE and the
normalised contact error beside it). A missing or malformed prediction scores 0; it never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spacetools_ros.eval import answers, metrics
from spacetools_ros.eval.items import DatasetError, EvalItem


@dataclass
class Score:
    """The outcome of scoring one prediction: score in [0, 1], the parsed prediction (JSON-friendly) and the
    metric's other numbers (e.g. {"nndc": ...} for point, {"iou_x100": ...} for bbox3d)."""

    score: float
    parsed: Any = None
    metrics: dict[str, float] = field(default_factory=dict)


def gold_yes_no(gold: Any) -> bool:
    """A yes/no gold answer as a bool (bool, or text starting with yes/no)."""
    if isinstance(gold, bool):
        return gold
    value = answers.parse_yes_no(str(gold))
    if value is None:
        raise DatasetError(f"yes/no gold answer {gold!r} is neither yes nor no")
    return value


def gold_choice(gold: Any, choices: list[str] | None) -> str:
    """A multiple-choice gold answer as its option letter ("(A)", "A", an option index or the option text)."""
    if isinstance(gold, int) and not isinstance(gold, bool):
        return answers.choice_letter(gold)
    letter = answers.parse_choice(str(gold), choices)
    if letter is None:
        raise DatasetError(f"choice gold answer {gold!r} names no option")
    return letter


def gold_count(gold: Any) -> int:
    """A count gold answer as an int."""
    if isinstance(gold, int) and not isinstance(gold, bool):
        return gold
    value = answers.parse_count(str(gold))
    if value is None:
        raise DatasetError(f"count gold answer {gold!r} is not a non-negative integer")
    return value


def score_prediction(item: EvalItem, prediction: str | None, region: np.ndarray | None = None) -> Score:
    """Score the agent's final answer text (None when it gave none) for item.

    region is the item's gold region mask for point items (items.load_region). Gold answers that cannot be
    read raise DatasetError (the dataset's fault); predictions never raise.
    """
    kind = item.answer_type
    if kind == "yesno":
        gold = gold_yes_no(item.answer)
        parsed = answers.parse_yes_no(prediction)
        return Score(metrics.yes_no_match(parsed, gold), None if parsed is None else ("yes" if parsed else "no"))
    if kind == "choice":
        gold_letter = gold_choice(item.answer, item.choices)
        parsed = answers.parse_choice(prediction, item.choices)
        return Score(metrics.choice_match(parsed, gold_letter), parsed)
    if kind == "count":
        gold_n = gold_count(item.answer)
        parsed = answers.parse_count(prediction)
        return Score(metrics.count_match(parsed, gold_n), parsed)
    if kind == "point":
        if region is None:
            raise DatasetError(f"item {item.id}: a point item needs a region (mask or polygon)")
        points = answers.parse_points(prediction)
        result = metrics.pointing_scores(points, region)
        return Score(result["hit"], [list(p) for p in points], {"nndc": result["nndc"]})
    if kind == "bbox3d":
        gold_points = answers.parse_points(item.answer)
        if len(gold_points) != metrics.BOX_CORNERS:
            raise DatasetError(f"item {item.id}: a bbox3d gold answer has 8 points, got {len(gold_points)}")
        points = answers.parse_points(prediction)
        iou_x100 = metrics.box_iou_x100(points, gold_points)
        return Score(iou_x100 / 100.0, [list(p) for p in points], {"iou_x100": iou_x100})
    if kind == "grasp":
        gold_grasp = answers.parse_grasp(item.answer)
        if gold_grasp is None:
            raise DatasetError(f"item {item.id}: a grasp gold answer has 5 labelled points")
        grasp = answers.parse_grasp(prediction)
        try:
            nce = metrics.grasp_nce(grasp, gold_grasp)
        except ValueError as exc:
            raise DatasetError(f"item {item.id}: {exc}") from None
        mace = metrics.grasp_mace(nce)
        success = metrics.grasp_success(mace)
        return Score(1.0 if success else 0.0, None if grasp is None else [list(p) for p in grasp],
                     {"nce": nce, "mace": mace})
    raise DatasetError(f"item {item.id}: unknown answer_type {kind!r}")
