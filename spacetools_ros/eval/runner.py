"""Run the agent on every item of a dataset, score each answer, and write the results.

Output folder OUT::

    OUT/results.jsonl    one JSON object per item, in dataset order, appended as items finish
    OUT/summary.json     summary.summarise() of the records
    OUT/report.html      report.write_report(): one self-contained page
    OUT/trace/           every episode, written by the project's TraceWriter (agent/trace.py)

A record: {"id", "question", "answer_type", "category", "prediction" (the agent's <answer> text or null),
"parsed" (what the scorer read from it), "gold", "score" (0..1), "metrics" (e.g. nndc, iou_x100, nce, mace),
"state" (the episode's), "error", "error_kind" (null, "episode": the agent failed, or "item": the item could
not be run or scored, e.g. a missing image), "tool_calls" [{"name", "arguments", "ok", "duration_s",
"text"}], "turns", "duration_s", "image" {"width", "height"}, "trace" {"file", "episode_id"} | null}.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacetools_ros.agent.loop import Agent
from spacetools_ros.agent.trace import EPISODES_FILE, Scrubber, TraceWriter, json_safe, run_traced
from spacetools_ros.eval.items import DatasetError, EvalItem, load_frame, load_region
from spacetools_ros.eval.scoring import score_prediction
from spacetools_ros.eval.summary import summarise
from spacetools_ros.sources.base import FrameSourceError

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
TRACE_DIR = "trace"
TOOL_TEXT_CHARS = 500  # tool result text kept per call in a record (the trace keeps all of it)


@dataclass
class EvalRun:
    """What run_eval produced: the records (in dataset order), the summary and where everything was written."""

    records: list[dict[str, Any]]
    summary: dict[str, Any]
    out_dir: Path
    results_path: Path
    summary_path: Path
    report_path: Path | None
    trace_dir: Path


def _tool_calls(episode: Any) -> list[dict[str, Any]]:
    calls = []
    for call in episode.tool_calls:
        text = call.text if len(call.text) <= TOOL_TEXT_CHARS else call.text[:TOOL_TEXT_CHARS] + " ...[cut]"
        calls.append({"name": call.name, "arguments": json_safe(call.arguments, 64), "ok": call.ok,
                      "duration_s": round(call.duration_s, 4), "text": text})
    return calls


def run_item(agent: Agent, item: EvalItem, writer: TraceWriter, metadata: dict[str, Any] | None = None) -> dict:
    """Run one item through the agent (traced with writer) and score it; the item's record.

    Never raises for a bad item: an image that cannot be read or a gold answer that cannot be scored gives
    a record with score 0 and error_kind "item".
    """
    record: dict[str, Any] = {
        "id": item.id, "question": item.question, "answer_type": item.answer_type, "category": item.category,
        "prediction": None, "parsed": None, "gold": json_safe(item.gold_json()), "score": 0.0, "metrics": {},
        "state": None, "error": None, "error_kind": None, "tool_calls": [], "turns": 0, "duration_s": 0.0,
        "image": None, "trace": None,
    }
    started = time.monotonic()
    try:
        frame = load_frame(item)
    except (DatasetError, FrameSourceError, ValueError, OSError) as exc:
        record.update(error=f"cannot build the frame: {exc}", error_kind="item")
        return record
    record["image"] = {"width": frame.width, "height": frame.height}
    traced = run_traced(agent, item.question, frame)
    episode = traced.episode
    writer.write_traced(traced, metadata={"eval": {"item": item.id, "answer_type": item.answer_type,
                                                   "category": item.category, **(metadata or {})}})
    record.update(prediction=episode.answer, state=episode.state, error=episode.error, turns=episode.turns,
                  tool_calls=_tool_calls(episode),
                  trace={"file": f"{TRACE_DIR}/{EPISODES_FILE}", "episode_id": writer.last_id})
    if episode.state != "succeeded":
        record["error_kind"] = "episode"
    try:
        region = load_region(item, frame.width, frame.height) if item.answer_type == "point" else None
        result = score_prediction(item, episode.answer, region)
    except (DatasetError, ValueError, OSError) as exc:
        record.update(error=f"cannot score: {exc}", error_kind="item")
    else:
        record.update(score=float(result.score), parsed=json_safe(result.parsed),
                      metrics={k: round(float(v), 6) for k, v in result.metrics.items()})
    record["duration_s"] = round(time.monotonic() - started, 4)
    return record


def run_eval(items: Sequence[EvalItem], agent: Agent, out_dir: str | Path, *, metadata: dict[str, Any] | None = None,
             report: bool = True,
             progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> EvalRun:
    """Run and score every item, writing OUT/results.jsonl (replaced), OUT/trace/ (appended), OUT/summary.json
    and, with report, OUT/report.html. metadata (dataset, format, planner, ...) goes into the summary, each
    trace line and the report; progress(k, n, record) is called after each item."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writer = TraceWriter(out / TRACE_DIR)
    results_path = out / RESULTS_FILE
    scrubber = Scrubber()
    records = []
    with results_path.open("w", encoding="utf-8") as fh:
        for k, item in enumerate(items, 1):
            record = scrubber.obj(run_item(agent, item, writer, metadata))
            records.append(record)
            fh.write(scrubber.json_text(json.dumps(record, ensure_ascii=False, allow_nan=False)) + "\n")
            fh.flush()
            if progress is not None:
                progress(k, len(items), record)
    summary = summarise(records)
    summary["run"] = json_safe(dict(metadata or {}))
    summary_path = out / SUMMARY_FILE
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    report_path = None
    if report:
        from spacetools_ros.eval.report import write_report

        report_path = write_report(out / REPORT_FILE, items, records, summary)
    return EvalRun(records, summary, out, results_path, summary_path, report_path, out / TRACE_DIR)
