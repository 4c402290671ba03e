"""The evaluation metrics and answer parsing against hand-computed cases (spacetools_ros.eval)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from spacetools_ros.eval import answers, metrics
from spacetools_ros.eval.items import DatasetError, EvalItem
from spacetools_ros.eval.scoring import score_prediction

# ------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize("text,value", [
    ("10", 10), ("10.", 10), ("There are 10 objects on the table.", 10), ("<answer>7</answer>", 7), ("10.0", 10),
    ("ten", 10), ("Twenty-one", 21), ("there are twenty one cups", 21), ("a dozen", 12), ("zero", 0),
    ("none", 0), ("No objects.", 0), ("I count 3 red and 2 blue", 3),
    ("2.5", None), ("-1", None), ("many", None), ("", None), (None, None), ("obj_3", None), ("3D", None),
])
def test_parse_count(text, value):
    assert answers.parse_count(text) == value


@pytest.mark.parametrize("text,value", [
    ("Yes", True), ("yes.", True), ("YES, it is left of the cup", True), ("<answer>No</answer>", False),
    ("no!", False), ("False", False), ("I think yes", None), ("", None), (None, None), ("maybe", None),
])
def test_parse_yes_no(text, value):
    assert answers.parse_yes_no(text) == value


CHOICES = ["chair", "table", "lamp"]


@pytest.mark.parametrize("text,letter", [
    ("(A)", "A"), ("A", "A"), ("a", "A"), ("B.", "B"), ("(b)", "B"), ("B) table", "B"), ("C: lamp", "C"),
    ("The answer is (B).", "B"), ("Answer: C", "C"), ("option B", "B"), ("table", "B"), ("The Table.", "B"),
    ("the answer is a lamp", "C"), ("<answer>(C)</answer>", "C"),
    ("(D)", None), ("sofa", None), ("chair or table", None), ("", None), (None, None), ("I", None),
])
def test_parse_choice_letter_or_option_text(text, letter):
    assert answers.parse_choice(text, CHOICES) == letter


def test_parse_points_reads_pairs_and_never_evaluates():
    assert answers.parse_points("[(0.41, 0.52)]") == [(0.41, 0.52)]
    assert answers.parse_points("[(0.1,0.2), (0.3, 0.4)]") == [(0.1, 0.2), (0.3, 0.4)]
    assert answers.parse_points("[[0.5, 0.6], [0.7, 0.8]]") == [(0.5, 0.6), (0.7, 0.8)]
    assert answers.parse_points("The point is (.25, 1e-1).") == [(0.25, 0.1)]
    assert answers.parse_points([[0.1, 0.2], (0.3, 0.4)]) == [(0.1, 0.2), (0.3, 0.4)]
    for junk in ("no point", "", None, "[(abc, def)]", "__import__('os').system('false')", "(0.5)", "[0.1, 0.2, 0.3"):
        assert answers.parse_points(junk) == []


def test_parse_grasp_labelled_or_five_points():
    text = ("Grasp center: [0.5, 0.4], Left finger base: [0.45, 0.35], Right finger base: [0.55, 0.35], "
            "Left finger tip: [0.45, 0.45], Right finger tip: [0.55, 0.45]")
    expected = [(0.5, 0.4), (0.45, 0.35), (0.55, 0.35), (0.45, 0.45), (0.55, 0.45)]
    assert answers.parse_grasp(text) == expected
    shuffled = ("Right finger tip: [0.55, 0.45]; Left finger tip: [0.45, 0.45]; Grasp center: (0.5, 0.4); "
                "right finger base: [0.55, 0.35]; left finger base: [0.45, 0.35]")
    assert answers.parse_grasp(shuffled) == expected
    assert answers.parse_grasp("[(0.5, 0.4), (0.45, 0.35), (0.55, 0.35), (0.45, 0.45), (0.55, 0.45)]") == expected
    for junk in ("Grasp center: [0.5]", "[(0.1, 0.2)]", "no grasp found", None, ""):
        assert answers.parse_grasp(junk) is None


# ------------------------------------------------------------------------------------------ pointing


@pytest.fixture
def block_mask() -> np.ndarray:
    """10x10 mask with pixels u = 2..4, v = 3..5 set: the region is x in [0.2, 0.5], y in [0.3, 0.6]."""
    mask = np.zeros((10, 10), dtype=bool)
    mask[3:6, 2:5] = True
    return mask


@pytest.mark.parametrize("point", [(0.35, 0.45), (0.2, 0.45), (0.5, 0.45), (0.35, 0.3), (0.35, 0.6),
                                   (0.2, 0.3), (0.5, 0.6)])
def test_a_point_inside_or_on_the_region_border_is_a_hit(block_mask, point):
    # edges and corners of the union of the pixel squares count as inside
    assert metrics.point_in_region(point, block_mask)
    assert metrics.distance_to_region(point, block_mask) == 0.0
    assert metrics.point_reward(point, block_mask) == 1.0


@pytest.mark.parametrize("point,distance", [
    ((0.19, 0.45), 0.01),                       # just left of the left edge
    ((0.51, 0.61), math.hypot(0.01, 0.01)),     # diagonal from the bottom-right corner
    ((0.9, 0.45), 0.4),                         # 0.4 right of the right edge
    ((0.35, 0.0), 0.3),                         # top of the image, 0.3 above the region
])
def test_a_point_off_the_region_misses_at_its_distance(block_mask, point, distance):
    assert not metrics.point_in_region(point, block_mask)
    assert metrics.distance_to_region(point, block_mask) == pytest.approx(distance, abs=1e-12)


def test_single_pixel_region_border_and_image_edges():
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 1] = True  # the square [0.25, 0.5] x [0.25, 0.5]
    assert metrics.point_in_region((0.5, 0.5), mask) and metrics.point_in_region((0.25, 0.3), mask)
    assert not metrics.point_in_region((0.5 + 1e-4, 0.5), mask)
    full = np.ones((4, 4), dtype=bool)
    assert metrics.point_in_region((0.0, 0.0), full) and metrics.point_in_region((1.0, 1.0), full)
    for outside in ((1.2, 0.5), (-0.1, 0.5), (math.nan, 0.5), (0.5, math.inf)):
        assert not metrics.point_in_region(outside, full)
    assert metrics.distance_to_region((1.2, 0.5), full) == pytest.approx(0.2)
    assert metrics.distance_to_region((0.5, 0.5), np.zeros((4, 4), dtype=bool)) == math.inf


def test_rgb_masks_count_any_channel(block_mask):
    rgb = np.zeros((10, 10, 3), dtype=np.uint8)
    rgb[block_mask, 1] = 255
    assert metrics.point_in_region((0.3, 0.4), rgb) and not metrics.point_in_region((0.7, 0.4), rgb)


def test_nndc_hand_computed_values():
    # (e^(-5d) - e^(-5 sqrt2)) / (1 - e^(-5 sqrt2)) with e^(-5 sqrt2) = e^(-7.0710678) = 0.00084933
    assert metrics.nndc(0.0) == 1.0
    assert metrics.nndc(math.sqrt(2)) == pytest.approx(0.0, abs=1e-15)
    # d = 0.1: e^-0.5 = 0.60653066 -> (0.60653066 - 0.00084933) / 0.99915067 = 0.60619619
    assert metrics.nndc(0.1) == pytest.approx(0.60619619, abs=1e-7)
    # d = 0.4: e^-2 = 0.13533528 -> (0.13533528 - 0.00084933) / 0.99915067 = 0.13460028
    assert metrics.nndc(0.4) == pytest.approx(0.13460028, abs=1e-7)
    assert metrics.nndc(2.0) == 0.0 and metrics.nndc(math.inf) == 0.0  # beyond the diagonal: clipped at 0


def test_point_reward_is_nndc_clipped_below_by_the_hit(block_mask):
    assert metrics.point_reward((0.9, 0.45), block_mask) == pytest.approx(0.13460028, abs=1e-7)
    assert metrics.point_reward((0.2, 0.3), block_mask) == 1.0
    scores = metrics.pointing_scores([(0.3, 0.4), (0.9, 0.45)], block_mask)
    assert scores["hit"] == 0.5
    assert scores["nndc"] == pytest.approx((1.0 + 0.13460028) / 2, abs=1e-7)
    assert metrics.pointing_scores([], block_mask) == {"hit": 0.0, "nndc": 0.0}


def test_polygon_regions_rasterise_by_pixel_centre():
    mask = metrics.polygon_mask([(0.2, 0.2), (0.6, 0.2), (0.6, 0.8), (0.2, 0.8)], 10, 10)
    expected = np.zeros((10, 10), dtype=bool)
    expected[2:8, 2:6] = True  # pixel centres 2.5 .. 7.5 (rows) and 2.5 .. 5.5 (columns) are inside
    np.testing.assert_array_equal(mask, expected)


# ------------------------------------------------------------------------------------------ 3D boxes


def _square(x0: float, y0: float, side: float) -> list[tuple[float, float]]:
    """8 points whose hull is the square: its corners and edge midpoints (like a box seen face on)."""
    x1, y1, xm, ym = x0 + side, y0 + side, x0 + side / 2, y0 + side / 2
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (xm, y0), (x1, ym), (xm, y1), (x0, ym)]


def test_box_iou_hand_computed():
    gold = _square(0.0, 0.0, 0.4)
    assert metrics.box_iou_x100(gold, gold) == pytest.approx(100.0)
    # shifted by half a side: intersection 0.2 x 0.4 = 0.08, union 0.16 + 0.16 - 0.08 = 0.24 -> IoU 1/3
    assert metrics.box_iou_x100(_square(0.2, 0.0, 0.4), gold) == pytest.approx(100 / 3)
    # overlapping corners: intersection 0.25, union 1 + 1 - 0.25 = 1.75
    assert metrics.box_iou_x100(_square(0.5, 0.5, 1.0), _square(0.0, 0.0, 1.0)) == pytest.approx(100 / 7)
    assert metrics.box_iou_x100(_square(0.6, 0.6, 0.3), gold) == 0.0  # disjoint
    shuffled = _square(0.2, 0.0, 0.4)
    random.Random(0).shuffle(shuffled)
    assert metrics.box_iou_x100(shuffled, gold) == pytest.approx(100 / 3)  # corner order does not matter


def test_box_needs_exactly_eight_corners():
    gold = _square(0.0, 0.0, 0.4)
    assert metrics.box_iou_x100(gold[:7], gold) == 0.0
    assert metrics.box_iou_x100([*gold, (0.1, 0.1)], gold) == 0.0
    assert metrics.box_iou_x100([], gold) == 0.0
    collinear = [(0.1 * i, 0.1 * i) for i in range(8)]
    assert metrics.box_iou_x100(collinear, gold) == 0.0  # no area, no exception


# ------------------------------------------------------------------------------------------ grasps

GOLD_GRASP = [(0.5, 0.5), (0.45, 0.45), (0.55, 0.45), (0.45, 0.55), (0.55, 0.55)]  # width 0.1


def _shift(points, dx, dy=0.0):
    return [(x + dx, y + dy) for x, y in points]


def test_grasp_nce_and_mace_hand_computed():
    assert metrics.gripper_width(GOLD_GRASP) == pytest.approx(0.1)
    assert metrics.grasp_nce(GOLD_GRASP, GOLD_GRASP) == 0.0
    # every point 0.02 off -> mean error 0.02 = 0.2 gripper widths -> MACE 100 * (1 - 0.2 / (10/3)) = 94
    nce = metrics.grasp_nce(_shift(GOLD_GRASP, 0.02), GOLD_GRASP)
    assert nce == pytest.approx(0.2)
    assert metrics.grasp_mace(nce) == pytest.approx(94.0)
    assert metrics.grasp_success(metrics.grasp_mace(nce))
    # 0.25 off -> 2.5 widths -> MACE 25: a failure (success needs MACE > 40, i.e. nce < 2)
    far = metrics.grasp_nce(_shift(GOLD_GRASP, 0.25), GOLD_GRASP)
    assert far == pytest.approx(2.5) and metrics.grasp_mace(far) == pytest.approx(25.0)
    assert not metrics.grasp_success(metrics.grasp_mace(far))
    assert metrics.grasp_success(metrics.grasp_mace(1.9)) and not metrics.grasp_success(metrics.grasp_mace(2.1))
    assert metrics.grasp_mace(10.0) == 0.0


def test_the_mirrored_grasp_scores_like_the_original():
    mirrored = metrics.mirrored_grasp(GOLD_GRASP)
    assert mirrored != GOLD_GRASP
    # named the other way round it is the same grasp: error 0, not the 0.8 widths of the naive pairing
    assert metrics.grasp_nce(mirrored, GOLD_GRASP) == 0.0
    predicted = _shift(GOLD_GRASP, 0.02, 0.01)
    assert metrics.grasp_nce(metrics.mirrored_grasp(predicted), GOLD_GRASP) == pytest.approx(
        metrics.grasp_nce(predicted, GOLD_GRASP))
    item = EvalItem(id="g", question="q", answer_type="grasp", answer=GOLD_GRASP, image=b"")
    text = "[" + ", ".join(f"({x:.3f}, {y:.3f})" for x, y in predicted) + "]"
    text_mirrored = "[" + ", ".join(f"({x:.3f}, {y:.3f})" for x, y in metrics.mirrored_grasp(predicted)) + "]"
    a, b = score_prediction(item, text), score_prediction(item, text_mirrored)
    assert a.score == b.score == 1.0 and a.metrics == pytest.approx(b.metrics)


def test_grasp_width_matches_the_bop_ask_scorer_on_a_published_sample():
    """BOP-ASK grasp sample 0 as dumped by a public re-run of the SpaceTools checkpoint (gold, answer and the
    official scorer's 1.3135 for the pairing as named): our width and per-pairing error reproduce it, and
    the mirrored pairing is lower."""
    gold = answers.parse_grasp("Grasp center: [0.357812, 0.256944], Left finger base: [0.325781, 0.238889], "
                               "Right finger base: [0.386719, 0.273611], Left finger tip: [0.324219, 0.3125], "
                               "Right finger tip: [0.385156, 0.338889]")
    pred = answers.parse_grasp("Grasp center: [0.375, 0.190], Left finger base: [0.422, 0.200], Right finger base: "
                               "[0.323, 0.178], Left finger tip: [0.407, 0.300], Right finger tip: [0.310, 0.291]")
    width = metrics.gripper_width(gold)
    as_named = np.linalg.norm(np.subtract(pred, gold), axis=1).mean() / width
    assert as_named == pytest.approx(1.3135, abs=5e-4)
    assert metrics.grasp_nce(pred, gold) == pytest.approx(0.8045, abs=5e-4)  # the mirrored pairing, by hand


def test_malformed_grasps_get_the_cap_and_bad_gold_raises():
    assert metrics.grasp_nce(None, GOLD_GRASP) == metrics.NCE_CAP
    assert metrics.grasp_nce(GOLD_GRASP[:4], GOLD_GRASP) == metrics.NCE_CAP
    assert metrics.grasp_nce([(math.nan, 0.5)] * 5, GOLD_GRASP) == metrics.NCE_CAP
    assert metrics.grasp_nce(_shift(GOLD_GRASP, 5.0), GOLD_GRASP) == metrics.NCE_CAP
    with pytest.raises(ValueError, match="zero width"):
        metrics.grasp_nce(GOLD_GRASP, [(0.5, 0.5)] * 5)


# ------------------------------------------------------------------------------------------ scoring


def _item(kind: str, answer, **kw) -> EvalItem:
    return EvalItem(id=kind, question="q", answer_type=kind, answer=answer, image=b"", **kw)


def test_exact_match_scoring():
    assert score_prediction(_item("count", 10), "10").score == 1.0
    assert score_prediction(_item("count", "ten"), "There are 10.").score == 1.0
    assert score_prediction(_item("count", 10), "11").score == 0.0
    assert score_prediction(_item("yesno", "Yes"), "yes, it is").score == 1.0
    assert score_prediction(_item("yesno", "No"), "Yes").score == 0.0
    item = _item("choice", "(B)", choices=CHOICES)
    for right in ("(B)", "B", "b.", "table", "The answer is (B)"):
        assert score_prediction(item, right).score == 1.0, right
    for wrong in ("(A)", "chair", "C"):
        assert score_prediction(item, wrong).score == 0.0, wrong
    assert score_prediction(_item("choice", 1, choices=CHOICES), "table").score == 1.0  # gold as an index


def test_point_and_box_scoring(block_mask):
    result = score_prediction(_item("point", None), "[(0.3, 0.4)]", block_mask)
    assert result.score == 1.0 and result.metrics == {"nndc": 1.0} and result.parsed == [[0.3, 0.4]]
    result = score_prediction(_item("point", None), "[(0.9, 0.45)]", block_mask)
    assert result.score == 0.0 and result.metrics["nndc"] == pytest.approx(0.13460028, abs=1e-7)
    gold = _square(0.0, 0.0, 0.4)
    text = str([tuple(p) for p in _square(0.2, 0.0, 0.4)])
    result = score_prediction(_item("bbox3d", str(gold)), text)
    assert result.score == pytest.approx(1 / 3) and result.metrics["iou_x100"] == pytest.approx(100 / 3)


MALFORMED = [None, "", "I don't know", "no grasp found", "[(abc, def)]", "Grasp center: [0.1]",
             "<answer></answer>", "(", "[(0.5 0.5)]", "NaN", "🙂" * 20, "1e999", "[(1e999, 0.5)]"]


@pytest.mark.parametrize("kind", ["count", "yesno", "choice", "point", "bbox3d", "grasp"])
def test_malformed_answers_score_zero_without_exceptions(kind, block_mask):
    gold = {"count": 3, "yesno": "yes", "choice": "(A)", "point": None, "bbox3d": _square(0.0, 0.0, 0.4),
            "grasp": GOLD_GRASP}[kind]
    item = _item(kind, gold, choices=CHOICES if kind == "choice" else None)
    for text in MALFORMED:
        result = score_prediction(item, text, block_mask if kind == "point" else None)
        assert result.score == 0.0, (kind, text)
        assert all(math.isfinite(v) for v in result.metrics.values())


def test_unreadable_gold_is_a_dataset_error_not_a_zero():
    with pytest.raises(DatasetError):
        score_prediction(_item("yesno", "perhaps"), "yes")
    with pytest.raises(DatasetError):
        score_prediction(_item("bbox3d", "[(0.1, 0.2)]"), "[(0.1, 0.2)]")
    with pytest.raises(DatasetError):
        score_prediction(_item("point", None), "[(0.1, 0.2)]", None)
    with pytest.raises(DatasetError):
        EvalItem(id="x", question="q", answer_type="essay", answer="", image=b"")


def test_summary_aggregates_per_answer_type_and_category():
    from spacetools_ros.eval.summary import format_table, summarise

    def record(kind, category, score, prediction="x", error_kind=None, **extra):
        return {"answer_type": kind, "category": category, "score": score, "metrics": extra,
                "prediction": prediction, "error_kind": error_kind}

    records = [record("grasp", "grasp", 1.0, nce=0.2, mace=94.0), record("grasp", "grasp", 0.0, nce=2.5, mace=25.0),
               record("bbox3d", "pose", 1 / 3, iou_x100=100 / 3), record("count", "pose", 1.0),
               record("count", "counting", 0.0, prediction=None, error_kind="item")]
    summary = summarise(records)
    assert summary["accuracy"] == pytest.approx({"bbox3d": 100 / 3, "count": 50.0, "grasp": 50.0})
    assert summary["metrics"]["bbox3d"] == pytest.approx({"iou_x100": 100 / 3})
    assert summary["metrics"]["grasp"] == pytest.approx({"mace": 59.5})
    pose = summary["categories"]["pose"]
    assert pose["answer_types"] == {"bbox3d": 1, "count": 1} and pose["items"] == 2
    assert (pose["accuracy"], pose["iou_x100"]) == pytest.approx((100 * (1 / 3 + 1) / 2, 100 / 3))
    assert (summary["items"], summary["errors"], summary["answered"]) == (5, 1, 4)
    assert summary["overall"] == pytest.approx(100 * (1 + 1 / 3 + 1) / 5)
    table = format_table(summary)
    assert "MACE 59.50" in table and "IoU x100 33.33" in table and table.splitlines()[-1].startswith("all")
