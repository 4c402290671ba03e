"""Aggregate per-item results into accuracies (per answer type and per category) and print them as a table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

# per answer type, the extra metric averaged beside accuracy and how it is shown (all in percent-like units)
EXTRA_METRICS = {"point": ("nndc", 100.0), "bbox3d": ("iou_x100", 1.0), "grasp": ("mace", 1.0)}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _group(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """{"items", "accuracy" (mean score x 100), "answer_types": {type: n}} plus the mean extra metric of each
    answer type present ("nndc" x 100 for point, "iou_x100" for bbox3d, "mace" for grasp)."""
    out: dict[str, Any] = {"items": len(records), "accuracy": 100.0 * _mean([float(r["score"]) for r in records])}
    types: dict[str, int] = defaultdict(int)
    for record in records:
        types[record["answer_type"]] += 1
    out["answer_types"] = dict(sorted(types.items()))
    for kind, (name, scale) in EXTRA_METRICS.items():
        values = [float(r["metrics"][name]) for r in records
                  if r["answer_type"] == kind and name in (r.get("metrics") or {})]
        if values:
            out[name] = scale * _mean(values)
    return out


def summarise(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's summary from its per-item records (as written to results.jsonl).

    {"accuracy": {answer_type: mean score x 100}, "categories": {category: {"items", "accuracy",
    "answer_types", extra metrics}}, "items": N, "overall": mean score x 100 over all items, "errors": items
    that could not be run (bad frame, unreadable gold), "answered": items whose episode gave an answer,
    "metrics": {answer_type: {extra metric: mean}}}.
    """
    records = list(records)
    by_type: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    by_category: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        by_type[record["answer_type"]].append(record)
        by_category[record["category"]].append(record)
    accuracy = {kind: 100.0 * _mean([float(r["score"]) for r in group]) for kind, group in sorted(by_type.items())}
    extra: dict[str, dict[str, float]] = {}
    for kind, group in sorted(by_type.items()):
        summary = _group(group)
        if kind in EXTRA_METRICS and EXTRA_METRICS[kind][0] in summary:
            extra[kind] = {EXTRA_METRICS[kind][0]: summary[EXTRA_METRICS[kind][0]]}
    return {
        "accuracy": accuracy,
        "categories": {name: _group(group) for name, group in sorted(by_category.items())},
        "items": len(records),
        "overall": 100.0 * _mean([float(r["score"]) for r in records]),
        "errors": sum(1 for r in records if r.get("error_kind") == "item"),
        "answered": sum(1 for r in records if r.get("prediction") is not None),
        "metrics": extra,
    }


def format_table(summary: Mapping[str, Any]) -> str:
    """The summary as a plain-text table: one row per category, then one per answer type, then the total."""
    header = f"{'category':<28} {'items':>6} {'accuracy':>9}  other"
    lines = [header, "-" * len(header)]

    def other(group: Mapping[str, Any]) -> str:
        """The extra metrics of a group, e.g. "NNDC 93.10, MACE 41.20"."""
        parts = []
        if "nndc" in group:
            parts.append(f"NNDC {group['nndc']:.2f}")
        if "iou_x100" in group:
            parts.append(f"IoU x100 {group['iou_x100']:.2f}")
        if "mace" in group:
            parts.append(f"MACE {group['mace']:.2f}")
        return ", ".join(parts)

    for name, group in summary["categories"].items():
        lines.append(f"{name[:28]:<28} {group['items']:>6} {group['accuracy']:>8.2f}%  {other(group)}".rstrip())
    lines.append("-" * len(header))
    counts: dict[str, int] = defaultdict(int)
    for group in summary["categories"].values():
        for kind, n in group["answer_types"].items():
            counts[kind] += n
    for kind, value in summary["accuracy"].items():
        extra = other(summary.get("metrics", {}).get(kind, {}))
        lines.append(f"{'[' + kind + ']':<28} {counts[kind]:>6} {value:>8.2f}%  {extra}".rstrip())
    lines.append(f"{'all':<28} {summary['items']:>6} {summary['overall']:>8.2f}%  "
                 f"answered {summary['answered']}, errors {summary['errors']}")
    return "\n".join(lines)
