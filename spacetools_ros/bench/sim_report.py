"""One self-contained HTML page for a simulation benchmark run (``spacetools bench sim``): a summary table over the
task families, then one table per family with every episode (seed, command, success / score, time to first motion,
tool calls, failure reason).

It reuses the episode report's CSS and escaping (:mod:`spacetools_ros.agent.report`); like that report the page
has no JavaScript and no external resource (a Content-Security-Policy allows only data: images and inline styles).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spacetools_ros.agent.report import CSS, _e
from spacetools_ros.bench.sim_bench import overall

SIM_CSS = """
.partial{background:#c98a00}
td.reason{font-size:12px;color:#5b6478;max-width:560px;word-break:break-word}
tr.total td{font-weight:600;border-top:2px solid #c8ced8}
"""


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _outcome(run: Mapping[str, Any]) -> str:
    """The success badge of an episode, with its 0/1/2 score when it has one."""
    score = run.get("score")
    if score is None:
        label, css = ("success", "succeeded") if run.get("success") else ("failed", "failed")
    else:
        label = f"score {score}"
        css = "succeeded" if score == 2 else "partial" if score == 1 else "failed"
    return f'<span class="badge {css}">{_e(label)}</span>'


def _summary_row(name: str, r: Mapping[str, Any], css: str = "") -> str:
    score = r.get("mean_score")
    counts = r.get("score_counts")
    score_text = "-" if score is None else f"{score:.2f}" + (
        f" ({', '.join(f'{k}: {v}' for k, v in counts.items())})" if counts else "")
    skipped = r.get("skipped_seeds")
    return (f'<tr class="{css}"><td>{_e(name)}</td><td class="num">{r["episodes"]}</td>'
            f'<td class="num">{r["successes"]}</td><td class="num">{r["success_rate"]:.1%}</td>'
            f'<td class="num">{_e(score_text)}</td>'
            f'<td class="num">{_e(_seconds(r.get("median_time_to_first_motion_s")))}</td>'
            f'<td class="num">{_e(r.get("median_tool_calls", "-"))}</td>'
            f'<td class="num">{"-" if skipped is None else len(skipped)}</td></tr>')


def _family_section(family: str, r: Mapping[str, Any]) -> str:
    rows = []
    for run in r.get("runs", []):
        calls = run.get("tool_calls") or []
        failed = sum(not c.get("ok", True) for c in calls)
        rows.append(
            f'<tr><td class="num">{_e(run.get("seed"))}</td><td>{_e(run.get("task"))}</td>'
            f'<td>{_outcome(run)}</td><td class="num">{_e(_seconds(run.get("time_to_first_motion_s")))}</td>'
            f'<td class="num" title="{_e(", ".join(c.get("name", "") for c in calls))}">{len(calls)}'
            f'{f" ({failed} failed)" if failed else ""}</td>'
            f'<td class="reason">{_e(run.get("failure") or "")}</td></tr>')
    skipped = r.get("skipped_seeds") or []
    note = (f"<p>Seeds skipped (no suitable target): {_e(', '.join(map(str, skipped)))}</p>" if skipped else "")
    return (f'<section><h2 id="{_e(family)}">{_e(family)}: {r["successes"]}/{r["episodes"]} '
            f'({r["success_rate"]:.1%})</h2>{note}'
            "<table><thead><tr><th>seed</th><th>command</th><th>success / score</th><th>first motion</th>"
            "<th>tool calls</th><th>failure reason</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def render_sim_report(result: Mapping[str, Any], title: str = "Simulation benchmark",
                      run: Mapping[str, Any] | None = None) -> str:
    """The HTML page of a :func:`~spacetools_ros.bench.sim_bench.run_sim_benchmark` result (family -> summary);
    ``run`` (e.g. the command's options) is shown under the title."""
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = [_summary_row(family, r) for family, r in result.items()]
    if len(result) > 1:
        rows.append(_summary_row("all families", overall(result), "total"))
    summary = ("<table><thead><tr><th>family</th><th>episodes</th><th>successes</th><th>success rate</th>"
               "<th>mean score (0/1/2)</th><th>first motion (median)</th><th>tool calls (median)</th>"
               "<th>seeds skipped</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    meta = (_e(json.dumps(dict(run), ensure_ascii=False)) + " · " if run else "") + _e(created)
    sections = "".join(_family_section(family, r) for family, r in result.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}{SIM_CSS}</style></head>
<body><header><h1>{_e(title)}</h1><div class="meta">{meta}</div></header>
<main><section><h2>Summary</h2>{summary}
<p>Success is judged from the simulator's ground truth; pick and place is scored 0 (not picked), 1 (picked, not
placed), 2 (placed). First motion: wall time from the command to the arm's first physics step.</p></section>
{sections}</main></body></html>
"""


def write_sim_report(path: str | Path, result: Mapping[str, Any], run: Mapping[str, Any] | None = None) -> Path:
    """Write :func:`render_sim_report` of ``result`` to ``path`` (its folder created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_sim_report(result, run=run), encoding="utf-8")
    return path
