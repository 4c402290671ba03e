"""One self-contained HTML page for an evaluation run: the summary table, then one card per item with its
image and the gold / predicted answer drawn over it.

It reuses the episode report's pieces (spacetools_ros.agent.report): its CSS, escaping, PNG data URIs and
SVG overlay. Like that report the page has no JavaScript and no external resource (a Content-Security-Policy
allows only data: images). Overlays: the gold region tinted green and predicted points as magenta
crosshairs (point), the convex hulls of the gold and predicted box corners (bbox3d), gold and predicted
grippers drawn like the episode report's grasps (grasp). Images are embedded as thumbnails, for the first
max_images items.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from spacetools_ros.agent.report import ANSWER_COLOUR, CSS, _e, _Overlay, _png_data_uri
from spacetools_ros.eval import answers
from spacetools_ros.eval.items import EvalItem, load_region, read_item_rgb
from spacetools_ros.eval.metrics import convex_hull
from spacetools_ros.eval.summary import format_table

GOLD_COLOUR = "#00e5a0"
THUMBNAIL_WIDTH = 480
EVAL_CSS = """
.cards{display:flex;flex-direction:column;gap:12px}
.card{display:flex;flex-wrap:wrap;gap:16px;border:1px solid #e3e6eb;border-radius:6px;padding:10px}
.card figure{flex:0 1 480px}
.card dl{flex:1 1 420px}
.num{font-variant-numeric:tabular-nums}
"""


def _thumbnail(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if w <= THUMBNAIL_WIDTH:
        return rgb
    size = (THUMBNAIL_WIDTH, max(1, round(h * THUMBNAIL_WIDTH / w)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _polygon(ov: _Overlay, points: list[tuple[float, float]], colour: str, css: str) -> None:
    hull = convex_hull(points)
    for i in range(len(hull)):
        ov.line(tuple(hull[i]), tuple(hull[(i + 1) % len(hull)]), colour, css)


def _gripper(ov: _Overlay, points: list[tuple[float, float]], colour: str, css: str) -> None:
    centre, lbase, rbase, ltip, rtip = points
    mid = ((lbase[0] + rbase[0]) / 2, (lbase[1] + rbase[1]) / 2)
    handle = (mid[0] + (mid[0] - centre[0]), mid[1] + (mid[1] - centre[1]))
    for a, b in ((ltip, lbase), (lbase, rbase), (rbase, rtip), (mid, handle)):
        ov.line(a, b, colour, css, 0.45)
    ov.marker(centre, colour, css)


def _figure(item: EvalItem, record: Mapping[str, Any]) -> str:
    """The item's image with its overlays, or a caption saying why there is none."""
    try:
        rgb = read_item_rgb(item.image)
    except Exception as exc:  # the record already says why the item failed
        return f"<figure><figcaption>no image: {_e(exc)}</figcaption></figure>"
    h, w = rgb.shape[:2]
    thumb = _thumbnail(rgb)
    ov = _Overlay(thumb.shape[1], thumb.shape[0])
    predicted = record.get("parsed")
    if item.answer_type == "point":
        try:
            region = load_region(item, w, h)
        except Exception:
            region = None
        if region is not None and region.any():
            ov.mask(region, GOLD_COLOUR)
            ov.legend.append((GOLD_COLOUR, "gold region"))
        for p in answers.parse_points(predicted or []):
            ov.crosshair(p, ANSWER_COLOUR, "answer")
    elif item.answer_type == "bbox3d":
        _polygon(ov, answers.parse_points(item.answer), GOLD_COLOUR, "gold-box")
        ov.legend.append((GOLD_COLOUR, "gold box"))
        if predicted:
            _polygon(ov, answers.parse_points(predicted), ANSWER_COLOUR, "answer-box")
    elif item.answer_type == "grasp":
        gold = answers.parse_grasp(item.answer)
        if gold:
            _gripper(ov, gold, GOLD_COLOUR, "gold-grasp")
            ov.legend.append((GOLD_COLOUR, "gold grasp"))
        if predicted and len(predicted) == 5:
            _gripper(ov, [tuple(p) for p in predicted], ANSWER_COLOUR, "answer-grasp")
    if predicted and item.answer_type in ("point", "bbox3d", "grasp"):
        ov.legend.append((ANSWER_COLOUR, "prediction"))
    legend = "".join(f'<li><span class="swatch" style="background:{c}"></span>{_e(t)}</li>' for c, t in ov.legend)
    return (f'<figure><div class="stage"><img alt="{_e(item.id)}" width="{ov.w}" height="{ov.h}" '
            f'src="{_png_data_uri(thumb)}">{ov.svg()}</div><figcaption>{w}x{h}'
            + (f'<ul class="legend">{legend}</ul>' if legend else "") + "</figcaption></figure>")


def _badge(score: float) -> str:
    css = "succeeded" if score >= 1.0 else "failed" if score <= 0.0 else "running"
    return f'<span class="badge {css}">{score:.2f}</span>'


def _card(item: EvalItem, record: Mapping[str, Any], with_image: bool) -> str:
    calls = record.get("tool_calls") or []
    call_text = ", ".join(f'{_e(c["name"])} <span class="{"ok" if c.get("ok") else "err"}">'
                          f'{"ok" if c.get("ok") else "error"}</span>' for c in calls) or "none"
    trace = record.get("trace") or {}
    rows = [("category", _e(record.get("category"))), ("answer type", _e(record.get("answer_type"))),
            ("question", f"<pre>{_e(record.get('question'))}</pre>"),
            ("prediction", f"<pre>{_e(record.get('prediction') if record.get('prediction') is not None else '(none)')}"
                           "</pre>"),
            ("gold", f"<pre>{_e(json.dumps(record.get('gold'), ensure_ascii=False)[:2000])}</pre>"),
            ("score", _badge(float(record.get("score") or 0.0))
             + "".join(f" {_e(k)} {float(v):.3f}" for k, v in (record.get("metrics") or {}).items())),
            ("episode", f"{_e(record.get('state'))}, {_e(record.get('turns'))} turn(s), tool calls: {call_text}")]
    if record.get("error"):
        rows.append(("error", f"<pre>{_e(record['error'])}</pre>"))
    if trace:
        rows.append(("trace", f"{_e(trace.get('file'))} · episode {_e(trace.get('episode_id'))}"))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    figure = _figure(item, record) if with_image else ""
    return f'<div class="card" id="item-{_e(record.get("id"))}">{figure}<dl class="kv">{body}</dl></div>'


def render_report(items: Sequence[EvalItem], records: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
                  max_images: int = 300) -> str:
    """The HTML page of a run (items and records in the same order)."""
    run = summary.get("run") or {}
    title = f"Evaluation: {run.get('format', '')} {run.get('dataset', '')}".strip()
    cards = "".join(_card(item, record, k < max_images)
                    for k, (item, record) in enumerate(zip(items, records, strict=True)))
    note = (f"<p>Images are shown for the first {max_images} of {len(records)} items.</p>"
            if len(records) > max_images else "")
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}{EVAL_CSS}</style></head>
<body><header><h1>{_e(title)}</h1>
<div class="meta">{_e(json.dumps(run, ensure_ascii=False))} · {_e(created)}</div></header>
<main><section><h2>Summary</h2><pre class="num">{_e(format_table(summary))}</pre></section>
<section><h2>Items ({len(records)})</h2>{note}<div class="cards">{cards}</div></section></main></body></html>
"""


def write_report(path: str | Path, items: Sequence[EvalItem], records: Sequence[Mapping[str, Any]],
                 summary: Mapping[str, Any], max_images: int = 300) -> Path:
    """Write render_report() to path; returns path."""
    path = Path(path)
    path.write_text(render_report(items, records, summary, max_images), encoding="utf-8")
    return path
