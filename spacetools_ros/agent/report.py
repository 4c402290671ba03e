"""Self-contained HTML reports of episode traces: one page per episode, no external resources, no JavaScript.

Each page shows the task, the outcome, every image of the conversation with overlays drawn as inline
SVG over it, the tool timeline and the full conversation:

- pointing answers (normalised points in the <answer>) as magenta crosshairs on image 0,
- detections (data["points"], data["points_2d"]) as numbered circles; tabletop objects as boxes,
- segmentation masks tinted (a translucent PNG in the SVG) with their outline and the prompt point(s),
- 3D boxes as their 8 projected corners ($obb_corners_2d) joined by the 12 edges,
- grasps as the 5 gripper points (center, left/right base, left/right tip) joined like a fork.

Images and masks are embedded as base64 data URIs; a Content-Security-Policy forbids any other source.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from spacetools_ros.agent.trace import EPISODES_FILE, Scrubber, load_episodes
from spacetools_ros.perception.boxes import box_edges

PALETTE = ["#00c8ff", "#ffb000", "#7cfc00", "#ff4d4d", "#b388ff", "#00e5a0", "#ff7ab6", "#ffe14d"]
ANSWER_COLOUR = "#ff00ff"
_POINT = re.compile(r"\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)")
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:16px 24px}
header h1{margin:0 0 6px;font-size:20px;font-weight:600}
header .meta{color:#aab3c5;font-size:12px}
main{padding:16px 24px;max-width:1400px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:14px 18px;margin:0 0 16px}
h2{font-size:16px;margin:0 0 10px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;font-size:12px;color:#fff}
.succeeded{background:#1f9d55}.failed{background:#d64545}.running{background:#c98a00}
.ok{color:#1f9d55;font-weight:600}.err{color:#d64545;font-weight:600}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}
dl.kv dt{color:#5b6478}dl.kv dd{margin:0}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border-radius:4px;padding:6px 8px;margin:0;
font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.figures{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;flex:1 1 560px;max-width:960px}
.stage{position:relative;display:block;line-height:0}
.stage img{display:block;width:100%;height:auto}
.stage svg{position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible}
figcaption{font-size:12px;color:#5b6478;margin-top:6px}
.legend{margin:4px 0 0;padding-left:18px;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e3e6eb;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-size:12px;color:#5b6478}
td.num{white-space:nowrap;font-variant-numeric:tabular-nums}
.bar{height:6px;background:#00a3d9;border-radius:3px;margin-top:4px;min-width:2px}
.msg{border-left:4px solid #c8ced8;padding:4px 10px;margin:8px 0}
.msg.assistant{border-color:#00a3d9}.msg.tool{border-color:#ffb000}.msg.user{border-color:#1f9d55}
.msg .role{font-size:12px;color:#5b6478;margin-bottom:4px}
details summary{cursor:pointer;font-weight:600}
"""


def _e(value: Any) -> str:
    """HTML-escaped text of any value."""
    return html.escape("" if value is None else str(value), quote=True)


def _png_data_uri(image: np.ndarray) -> str:
    """A PNG data URI of an RGB (HxWx3) or RGBA (HxWx4) uint8 image."""
    code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, code))
    if not ok:
        raise ValueError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _read_rgb(path: Path) -> np.ndarray | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _points(value: Any) -> list[tuple[float, float]]:
    """Finite 2D points of a list of [x, y] (anything else gives no points)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return []
    if array.ndim == 1 and array.size == 2:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 2:
        return []
    return [(float(x), float(y)) for x, y in array if np.isfinite(x) and np.isfinite(y)]


def answer_points(answer: str | None) -> list[tuple[float, float]]:
    """Normalised (x, y) points written in an answer like "[(0.41, 0.63)]" (only pairs inside [0, 1])."""
    if not answer:
        return []
    pts = [(float(x), float(y)) for x, y in _POINT.findall(answer)]
    return [(x, y) for x, y in pts if 0 <= x <= 1 and 0 <= y <= 1]


class _Overlay:
    """SVG elements and legend entries drawn over one image of width w and height h (pixels)."""

    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.unit = max(w, h) / 100.0  # marker size
        self.elements: list[str] = []
        self.legend: list[tuple[str, str]] = []

    def xy(self, p: tuple[float, float]) -> tuple[float, float]:
        return round(p[0] * self.w, 1), round(p[1] * self.h, 1)

    def label(self, p: tuple[float, float], text: str, colour: str) -> None:
        x, y = self.xy(p)
        size = round(1.6 * self.unit, 1)
        self.elements.append(
            f'<text x="{x + self.unit:.1f}" y="{y - self.unit:.1f}" font-size="{size}" fill="{colour}" '
            f'stroke="#000" stroke-width="{size / 6:.2f}" paint-order="stroke" '
            f'font-family="sans-serif" font-weight="bold">{_e(text)}</text>')

    def marker(self, p: tuple[float, float], colour: str, css: str, text: str | None = None) -> None:
        x, y = self.xy(p)
        r = round(self.unit, 1)
        self.elements.append(f'<circle class="{css}" cx="{x}" cy="{y}" r="{r}" fill="{colour}" fill-opacity="0.35" '
                             f'stroke="{colour}" stroke-width="{r / 3:.2f}"/>')
        self.elements.append(f'<circle cx="{x}" cy="{y}" r="{r / 4:.2f}" fill="{colour}"/>')
        if text:
            self.label(p, text, colour)

    def crosshair(self, p: tuple[float, float], colour: str, css: str, text: str | None = None) -> None:
        x, y = self.xy(p)
        r, sw = 1.8 * self.unit, 0.45 * self.unit
        self.elements.append(
            f'<g class="{css}" stroke="{colour}" stroke-width="{sw:.2f}" fill="none">'
            f'<circle cx="{x}" cy="{y}" r="{r:.1f}"/>'
            f'<line x1="{x - 2 * r:.1f}" y1="{y}" x2="{x - r / 2:.1f}" y2="{y}"/>'
            f'<line x1="{x + r / 2:.1f}" y1="{y}" x2="{x + 2 * r:.1f}" y2="{y}"/>'
            f'<line x1="{x}" y1="{y - 2 * r:.1f}" x2="{x}" y2="{y - r / 2:.1f}"/>'
            f'<line x1="{x}" y1="{y + r / 2:.1f}" x2="{x}" y2="{y + 2 * r:.1f}"/></g>')
        if text:
            self.label(p, text, colour)

    def line(self, a: tuple[float, float], b: tuple[float, float], colour: str, css: str, width: float = 0.3) -> None:
        (x1, y1), (x2, y2) = self.xy(a), self.xy(b)
        self.elements.append(f'<line class="{css}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" '
                             f'stroke-width="{width * self.unit:.2f}" stroke-linecap="round"/>')

    def rect(self, box: list[float], colour: str, css: str) -> None:
        x0, y0 = self.xy((box[0], box[1]))
        x1, y1 = self.xy((box[2], box[3]))
        self.elements.append(f'<rect class="{css}" x="{x0}" y="{y0}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
                             f'fill="none" stroke="{colour}" stroke-width="{0.3 * self.unit:.2f}" '
                             f'stroke-dasharray="{self.unit:.1f} {0.6 * self.unit:.1f}"/>')

    def mask(self, mask: np.ndarray, colour: str) -> None:
        """The mask tinted (a translucent RGBA image) and outlined."""
        if mask.shape != (self.h, self.w):
            mask = cv2.resize(mask.astype(np.uint8), (self.w, self.h), interpolation=cv2.INTER_NEAREST) > 0
        rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        rgba = np.zeros((self.h, self.w, 4), dtype=np.uint8)
        rgba[mask] = (*rgb, 110)
        self.elements.append(f'<image class="mask" x="0" y="0" width="{self.w}" height="{self.h}" '
                             f'preserveAspectRatio="none" href="{_png_data_uri(rgba)}"/>')
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            if len(contour) < 3:
                continue
            contour = cv2.approxPolyDP(contour, 1.0, True).reshape(-1, 2)
            pts = " ".join(f"{x},{y}" for x, y in contour)
            self.elements.append(f'<polygon class="mask-outline" points="{pts}" fill="none" stroke="{colour}" '
                                 f'stroke-width="{0.25 * self.unit:.2f}"/>')

    def svg(self) -> str:
        if not self.elements:
            return ""
        return (f'<svg viewBox="0 0 {self.w} {self.h}" preserveAspectRatio="none" role="img">'
                + "".join(self.elements) + "</svg>")


def _draw_call(call: dict[str, Any], overlays: dict[int, _Overlay], base: Path, colour: str) -> None:
    """Add the overlays one tool call gives to the overlay of its image."""
    index = call.get("image_index")
    if not call.get("ok") or index not in overlays:
        return
    ov = overlays[index]
    name, data, args = str(call.get("name", "")), call.get("data") or {}, call.get("arguments") or {}
    variables = call.get("variables") or {}
    tag = f"#{call.get('index')} {name}"
    drawn = False
    for mask_ref in call.get("masks") or []:
        mask = cv2.imread(str(base / mask_ref["path"]), cv2.IMREAD_GRAYSCALE)
        if mask is not None:
            ov.mask(mask > 127, colour)
            drawn = True
    if name.startswith("sam2."):  # the prompt point(s)
        prompts = _points([args.get("x"), args.get("y")]) if "x" in args else _points(args.get("points"))
        for p in prompts:
            ov.crosshair(p, colour, "prompt")
    for key in ("points", "points_2d"):
        for k, p in enumerate(_points(data.get(key))):
            ov.marker(p, colour, "detection", str(k + 1))
            drawn = True
    for obj in data.get("objects") or []:
        if isinstance(obj, dict) and isinstance(obj.get("bbox_2d_normalized"), list):
            ov.rect(obj["bbox_2d_normalized"], colour, "object-box")
            centre = _points(obj.get("center_2d"))
            if centre:
                ov.marker(centre[0], colour, "detection", f"obj {obj.get('id')}")
            drawn = True
    corners = _points(variables.get("obb_corners_2d"))
    if len(corners) == 8:
        edges = variables.get("edges")
        edges = edges if isinstance(edges, list) and len(edges) == 12 else box_edges().tolist()
        for a, b in edges:
            ov.line(corners[int(a)], corners[int(b)], colour, "bbox-edge")
        ov.label(corners[7], "box", colour)
        drawn = True
    gripper = _points(data.get("gripper_points_2d"))
    if len(gripper) == 5:
        centre, lbase, rbase, ltip, rtip = gripper
        mid = ((lbase[0] + rbase[0]) / 2, (lbase[1] + rbase[1]) / 2)
        handle = (mid[0] + (mid[0] - centre[0]), mid[1] + (mid[1] - centre[1]))
        for a, b in ((ltip, lbase), (lbase, rbase), (rbase, rtip), (mid, handle)):
            ov.line(a, b, colour, "grasp", 0.45)
        ov.marker(centre, colour, "grasp-center", "grasp")
        drawn = True
    if drawn:
        ov.legend.append((colour, tag))


def _figures(record: dict[str, Any], base: Path) -> tuple[str, int]:
    """The images section and how many <img> it holds."""
    overlays: dict[int, _Overlay] = {}
    rgbs: dict[int, np.ndarray] = {}
    for frame in record.get("frames") or []:
        rgb = _read_rgb(base / frame["path"])
        if rgb is not None:
            rgbs[frame["index"]] = rgb
            overlays[frame["index"]] = _Overlay(rgb.shape[1], rgb.shape[0])
    for k, call in enumerate(record.get("tool_calls") or []):
        _draw_call(call, overlays, base, PALETTE[k % len(PALETTE)])
    if 0 in overlays:
        for p in answer_points(record.get("answer")):
            overlays[0].crosshair(p, ANSWER_COLOUR, "answer", "answer")
        if answer_points(record.get("answer")):
            overlays[0].legend.append((ANSWER_COLOUR, "answer"))
    calls = record.get("tool_calls") or []
    parts = []
    for frame in record.get("frames") or []:
        k = frame["index"]
        if k not in rgbs:
            parts.append(f"<figure><figcaption>image {k}: {_e(frame['path'])} is missing</figcaption></figure>")
            continue
        source = "the task's image"
        if frame.get("added_by") is not None and frame["added_by"] < len(calls):
            source = f"added by #{frame['added_by']} {calls[frame['added_by']].get('name')}"
        ov = overlays[k]
        legend = "".join(f'<li><span class="swatch" style="background:{c}"></span>{_e(t)}</li>' for c, t in ov.legend)
        parts.append(
            f'<figure id="image-{k}"><div class="stage"><img alt="image {k}" width="{ov.w}" height="{ov.h}" '
            f'src="{_png_data_uri(rgbs[k])}">{ov.svg()}</div>'
            f"<figcaption>image {k} ({ov.w}x{ov.h}), {_e(source)}"
            + (f'<ul class="legend">{legend}</ul>' if legend else "") + "</figcaption></figure>")
    return '<div class="figures">' + "".join(parts) + "</div>", len(rgbs)


def _timeline(record: dict[str, Any]) -> str:
    calls = record.get("tool_calls") or []
    if not calls:
        return "<p>No tool calls.</p>"
    longest = max(float(c.get("duration_s") or 0) for c in calls) or 1.0
    rows = []
    for k, call in enumerate(calls):
        duration = float(call.get("duration_s") or 0)
        status = '<span class="ok">ok</span>' if call.get("ok") else '<span class="err">error</span>'
        extra = []
        if call.get("stored"):
            extra.append("stored " + ", ".join(call["stored"]))
        if call.get("new_images"):
            extra.append("new image(s) " + ", ".join(f"{i}" for i in call["new_images"]))
        if call.get("image_index") is not None:
            extra.append(f"on image {call['image_index']}")
        swatch = PALETTE[k % len(PALETTE)]
        rows.append(
            f'<tr class="call"><td class="num">{_e(call.get("index", k))}</td>'
            f'<td class="num">{_e(call.get("turn"))}</td>'
            f'<td><span class="swatch" style="background:{swatch}"></span><b>{_e(call.get("name"))}</b>'
            f'<pre>{_e(json.dumps(call.get("arguments"), ensure_ascii=False, indent=1))}</pre></td>'
            f"<td>{status}</td>"
            f'<td class="num">{1000 * duration:.1f} ms<div class="bar" style="width:{100 * duration / longest:.0f}%">'
            f"</div></td><td><pre>{_e(call.get('text'))}</pre>"
            + (f"<div>{_e('; '.join(extra))}</div>" if extra else "") + "</td></tr>")
    return ("<table><thead><tr><th>#</th><th>turn</th><th>tool and arguments</th><th>result</th><th>duration</th>"
            "<th>text</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _conversation(record: dict[str, Any]) -> str:
    parts = []
    for message in record.get("messages") or []:
        role = str(message.get("role"))
        label = role + (f" {message.get('name')}" if role == "tool" else "")
        if message.get("image_indices"):
            label += " (images " + ", ".join(str(i) for i in message["image_indices"]) + ")"
        content = message.get("content")
        content = content if isinstance(content, str) else json.dumps(content)
        parts.append(f'<div class="msg {_e(role)}"><div class="role">{_e(label)}</div><pre>{_e(content)}</pre></div>')
    return "".join(parts)


def render_episode(record: dict[str, Any], base: Path) -> tuple[str, int]:
    """(HTML page of one trace record, number of embedded images); paths in the record start at base."""
    state = str(record.get("state"))
    timings = record.get("timings") or {}
    figures, count = _figures(record, base)
    timing_text = ", ".join(f"{k} {float(v):.3f} s" for k, v in timings.items())
    answer = record.get("answer")
    outcome = (
        f'<dl class="kv"><dt>state</dt><dd><span class="badge {_e(state)}">{_e(state)}</span></dd>'
        f"<dt>answer</dt><dd><pre>{_e(answer if answer is not None else '(none)')}</pre></dd>"
        + (f"<dt>error</dt><dd><pre>{_e(record['error'])}</pre></dd>" if record.get("error") else "")
        + f"<dt>turns</dt><dd>{_e(record.get('turns'))}</dd><dt>tool calls</dt>"
        f"<dd>{len(record.get('tool_calls') or [])}</dd><dt>timings</dt><dd>{_e(timing_text)}</dd>"
        + (f"<dt>metadata</dt><dd><pre>{_e(json.dumps(record['metadata'], ensure_ascii=False))}</pre></dd>"
           if record.get("metadata") else "")
        + "</dl>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Episode {_e(record.get("id"))}: {_e(str(record.get("task", ""))[:80])}</title>
<style>{CSS}</style></head>
<body><header><h1>{_e(record.get("task"))}</h1>
<div class="meta">episode {_e(record.get("id"))} · {_e(record.get("created_at"))} · schema {_e(record.get("schema"))}
v{_e(record.get("schema_version"))}</div></header>
<main><section><h2>Outcome</h2>{outcome}</section>
<section><h2>Images</h2>{figures}</section>
<section><h2>Tool timeline</h2>{_timeline(record)}</section>
<section><details><summary>Conversation ({len(record.get("messages") or [])} messages)</summary>
{_conversation(record)}</details></section></main></body></html>
"""
    return page, count


def write_report(trace_path: Path, out_dir: Path | None = None) -> list[Path]:
    """Write one self-contained HTML page per episode of a trace (its folder or episodes.jsonl) to
    out_dir (default: <trace folder>/report) as <episode id>.html; returns the pages' paths in trace order."""
    trace_path = Path(trace_path)
    base = trace_path if trace_path.is_dir() else trace_path.parent
    if trace_path.is_dir() and not (trace_path / EPISODES_FILE).is_file():
        raise FileNotFoundError(f"no {EPISODES_FILE} in {trace_path}")
    out_dir = Path(out_dir) if out_dir is not None else base / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    scrubber = Scrubber()
    written = []
    for n, record in enumerate(load_episodes(trace_path)):
        # the trace was scrubbed when written; scrub again with this environment's secrets (text only: the
        # base64 of images must stay intact)
        record = scrubber.obj(record)
        page, _ = render_episode(record, Path(record.get("_trace_dir") or base))
        name = re.sub(r"[^A-Za-z0-9_-]", "_", str(record.get("id") or f"episode_{n}")) or f"episode_{n}"
        path = out_dir / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written
