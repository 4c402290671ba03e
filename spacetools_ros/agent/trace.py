"""Episode traces: one JSON line per episode plus its images, reloadable and usable as SFT data.

Layout of a trace folder DIR::

    DIR/episodes.jsonl                    one JSON object per line, one line per episode (appended)
    DIR/images/<episode_id>/<k>.png       image k of the episode's conversation (0 = the task's image)
    DIR/images/<episode_id>/mask_<c>_<j>.png
                                          boolean masks (0/255 grey PNG) stored by tool call c

Every path inside a record is relative to DIR, with "/" separators.

Schema of one line (``schema_version`` 1)::

    {
      "schema": "spacetools.trace", "schema_version": 1,
      "id": str,                          # uuid4 hex
      "created_at": str,                  # ISO 8601, UTC, when the line was written
      "created_unix": float,
      "task": str, "state": "succeeded" | "failed" | "running", "answer": str | null, "error": str | null,
      "turns": int, "timings": {"total_s": float, "planning_s": float, "tools_s": float},
      "metadata": {...},                  # whatever the caller passed (planner name, frame source, ...)
      "frames": [{"index": k, "path": "images/<id>/<k>.png", "width", "height", "has_depth", "stamp",
                  "frame_id", "added_by": null | <tool call index>, "metadata": {...}}],
      "tool_calls": [{
          "index": int, "turn": int | null, "name": str, "arguments": {...}, "ok": bool, "text": str,
          "duration_s": float, "stored": ["$name", ...], "new_images": [k, ...], "data": {...},
          "image_index": int | null,      # the image the call is about: its image_index argument, else the
                                          # image of the $variables it was given, else 0
          "variables": {name: value},     # stored variables: small numeric arrays inline (e.g. obb_corners_2d,
                                          # edges, grasp_pose), others as {"shape", "dtype"} or {"type"},
                                          # masks as {"shape", "dtype", "mask": <path>}
          "masks": [{"variable": str, "path": str, "image_index": int | null, "shape": [H, W], "pixels": int}]
      }],
      "messages": [...],                  # the raw chat messages (role, content, image_indices, name, ok, data)
      "conversations": [{"from": "system" | "human" | "gpt" | "observation", "value": str}],
      "images": [path, ...]               # one per "<image>" placeholder of "conversations", in order
      "image_indices": [k, ...]           # the conversation image_index of each entry of "images"
    }

"conversations" + "images" is the ShareGPT layout LLaMA-Factory (``formatting: sharegpt`` with
``messages: conversations, images: images``) and verl-style multimodal SFT loaders read: an optional
leading system turn, then human / gpt / observation / gpt ... alternating, ending with a gpt turn (a
failed episode's trailing observation is left out). The human turn is "<image>\\n<task>"; an
observation is the tool results of one assistant turn, several joined the way Qwen2.5's chat template
joins consecutive tool messages ("\\n</tool_response>\\n<tool_response>\\n"), followed by "\\n<image>" for
each image its calls added. A literal "<image>" inside a text is written as "[image]" so that
placeholders and images always match.

Secrets are never written: every string (keys included) is scrubbed of the values of environment
variables whose name ends with _API_KEY, _TOKEN or KEY (values of 8 characters or more) and of common
key shapes (sk-..., Bearer ..., hf_..., ghp_..., AKIA..., xox?-..., AIza...), replaced by "[redacted]".

Agent.run() does not hand out the images tools added nor the variable store; run_traced() runs an
episode and captures both (and per-call variable snapshots) without changing the agent.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from spacetools_ros.agent.loop import Agent, Episode
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.tools.base import ToolContext, VariableStore
from spacetools_ros.tools.registry import ToolCallRecord

SCHEMA = "spacetools.trace"
SCHEMA_VERSION = 1
EPISODES_FILE = "episodes.jsonl"
IMAGES_DIR = "images"
REDACTED = "[redacted]"
SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "KEY")
MIN_SECRET_LENGTH = 8
SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{12,}"),  # OpenAI / Anthropic (sk-proj-..., sk-ant-...)
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=\-]{8,}", re.I),  # HTTP Authorization values
    re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{16,}"),  # Hugging Face
    re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])"),  # AWS access key id
    re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}"),  # Google
)
IMAGE_TOKEN = "<image>"
IMAGE_TOKEN_ESCAPED = "[image]"
TOOL_RESPONSE_JOIN = "\n</tool_response>\n<tool_response>\n"
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}
INLINE_ARRAY_MAX = 64  # stored numeric arrays up to this many elements are written inline
DATA_ARRAY_MAX = 100_000  # larger arrays inside data/messages are summarised, not written


# --------------------------------------------------------------------------------------------- scrubbing


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables that look like credentials (name ends with _API_KEY, _TOKEN or KEY,
    value of at least MIN_SECRET_LENGTH characters), longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if k.upper().endswith(SECRET_ENV_SUFFIXES) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


class Scrubber:
    """Replaces credentials in strings and nested JSON-like objects with "[redacted]".

    The secret values are read from the environment when the scrubber is made (pass environ to use
    another mapping, extra for further values).
    """

    def __init__(self, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> None:
        values = set(secret_values(environ)) | {v for v in extra if len(v) >= MIN_SECRET_LENGTH}
        self.values = sorted(values, key=len, reverse=True)
        # the same values as they appear inside JSON text (quotes, backslashes, control characters escaped)
        self._json_values = sorted({json.dumps(v, ensure_ascii=a)[1:-1] for v in self.values for a in (False, True)},
                                   key=len, reverse=True)

    def text(self, value: str) -> str:
        """value with every known secret and key-shaped substring replaced."""
        for secret in self.values:
            if secret in value:
                value = value.replace(secret, REDACTED)
        for pattern in SECRET_PATTERNS:
            value = pattern.sub(REDACTED, value)
        return value

    def json_text(self, text: str) -> str:
        """Scrub serialised JSON without breaking it (secrets matched in their escaped form)."""
        for secret in self._json_values:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in SECRET_PATTERNS:  # their characters never include quotes or backslashes
            text = pattern.sub(REDACTED, text)
        return text

    def obj(self, value: Any) -> Any:
        """A copy of a JSON-like object (dicts, lists, strings, numbers) with every string scrubbed, keys too."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.obj(v) for v in value]
        return value


def scrub(value: Any) -> Any:
    """Scrub a string or JSON-like object with the current environment's secrets (see Scrubber)."""
    return Scrubber().obj(value)


# --------------------------------------------------------------------------------------------- JSON safety


def json_safe(value: Any, max_array: int = DATA_ARRAY_MAX) -> Any:
    """value as plain JSON types: numpy arrays and scalars become lists and numbers, non-finite floats null,
    arrays larger than max_array elements a {"shape", "dtype"} summary, unknown objects a short repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_safe(value.item(), max_array)
    if isinstance(value, np.ndarray):
        if value.size > max_array or value.dtype == object and value.size > 1000:
            return {"shape": list(value.shape), "dtype": str(value.dtype)}
        return json_safe(value.tolist(), max_array)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, max_array) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, max_array) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict") and callable(value.to_dict):
        try:
            return json_safe(value.to_dict(), max_array)
        except Exception:  # a broken to_dict must not stop a trace
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__}
    return {"type": type(value).__name__, "repr": repr(value)[:200]}


def episode_message(episode: Episode, task_id: str = "", scrubber: Scrubber | None = None) -> dict[str, Any]:
    """The trace of one episode as one JSON object (what agent_node publishes on /spacetools/trace): task_id,
    task, state, answer, error, turns, timings, tool_calls (name, arguments, ok, text, duration_s, stored,
    new_images, data with large arrays summarised) and messages (role and text of the conversation). Credentials
    are scrubbed; images are not included (their indices are)."""
    scrubber = scrubber or Scrubber()
    calls = [{**c.summary(), "data": json_safe(c.data)} for c in episode.tool_calls]
    messages = [{"role": m.get("role"), "content": m.get("content") if isinstance(m.get("content"), str) else
                 json_safe(m.get("content"))} for m in episode.messages]
    record = {"task_id": task_id, "task": episode.task, "state": episode.state, "answer": episode.answer,
              "error": episode.error, "turns": episode.turns,
              "timings": {k: round(v, 4) for k, v in episode.timings.items()}, "tool_calls": calls,
              "messages": messages}
    return scrubber.obj(json_safe(record))


def _is_mask(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == bool and value.ndim == 2 and value.size > 0


def _describe_variable(value: Any) -> Any:
    """How a stored variable appears in a tool call summary (masks are handled by the writer)."""
    if isinstance(value, bool | int | float | np.generic):
        return json_safe(value)
    try:
        array = np.asarray(value) if isinstance(value, list | tuple | np.ndarray) else None
    except (ValueError, TypeError):  # ragged lists
        array = None
    if array is not None and array.dtype.kind in "biuf":
        if array.size <= INLINE_ARRAY_MAX:
            return json_safe(array.round(6) if array.dtype.kind == "f" else array)
        return {"shape": list(array.shape), "dtype": str(array.dtype)}
    if isinstance(value, list | tuple):
        return {"type": type(value).__name__, "len": len(value)}
    return {"type": type(value).__name__}


# --------------------------------------------------------------------------------------------- ShareGPT view


def _conversation(messages: list[dict[str, Any]], available: set[int]) -> tuple[list[dict[str, str]], list[int]]:
    """(ShareGPT turns, image_index of each "<image>" placeholder in order) of chat messages.

    Only images in available get a placeholder. Consecutive tool messages merge into one observation;
    a trailing observation or human turn (no assistant reply after it) is left out.
    """
    turns: list[dict[str, Any]] = []  # {"from", "parts": [str], "images": [int]}
    for message in messages:
        role = SHAREGPT_ROLES.get(str(message.get("role")))
        if role is None:
            continue
        body = message.get("content")
        body = body if isinstance(body, str) else json.dumps(json_safe(body))
        indices = [int(i) for i in message.get("image_indices") or [] if int(i) in available]
        if role == "human":
            own = len(message.get("image_indices") or [])
            prefix = (IMAGE_TOKEN + "\n") * own
            if own and body.startswith(prefix):  # the loop's own placeholders
                body = body[len(prefix):]
        body = body.replace(IMAGE_TOKEN, IMAGE_TOKEN_ESCAPED)
        if turns and turns[-1]["from"] == role and role != "system":
            turns[-1]["parts"].append(body)
            turns[-1]["images"].extend(indices)
        else:
            turns.append({"from": role, "parts": [body], "images": indices})
    while turns and turns[-1]["from"] != "gpt":
        turns.pop()
    out: list[dict[str, str]] = []
    order: list[int] = []
    for turn in turns:
        role, images = turn["from"], turn["images"]
        if role == "observation":
            value = TOOL_RESPONSE_JOIN.join(turn["parts"]) + "".join("\n" + IMAGE_TOKEN for _ in images)
        elif role == "human":
            value = (IMAGE_TOKEN + "\n") * len(images) + "\n".join(turn["parts"])
        else:
            value = "\n".join(turn["parts"])
            images = []  # assistant and system turns carry no images
        order.extend(images)
        out.append({"from": role, "value": value})
    return out, order


def _valid_sharegpt(conversations: list[dict[str, str]]) -> bool:
    """Whether turns alternate as LLaMA-Factory requires: [system], then (human|observation, gpt) pairs."""
    turns = conversations[1:] if conversations and conversations[0]["from"] == "system" else conversations
    if not turns or len(turns) % 2:
        return False
    return all(t["from"] in (("human", "observation") if i % 2 == 0 else ("gpt",)) for i, t in enumerate(turns))


def load_episodes(path: str | Path) -> list[dict[str, Any]]:
    """The records of a trace (the folder or its episodes.jsonl), in the order written.

    Each record gets "_trace_dir": the absolute folder its relative paths start from. Lines that are
    not valid JSON (e.g. a write cut short by a crash) are skipped with a warning.
    """
    path = Path(path)
    file = path / EPISODES_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no trace at {path} (expected {file})")
    records = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            warnings.warn(f"{file}:{number}: skipped a line that is not JSON ({exc})", stacklevel=2)
            continue
        if not isinstance(record, dict):
            warnings.warn(f"{file}:{number}: skipped a line that is not a JSON object", stacklevel=2)
            continue
        if int(record.get("schema_version", 0)) > SCHEMA_VERSION:
            warnings.warn(f"{file}:{number}: schema_version {record.get('schema_version')} is newer than "
                          f"{SCHEMA_VERSION}", stacklevel=2)
        record["_trace_dir"] = str(file.parent.resolve())
        records.append(record)
    return records


def to_sharegpt(records: Iterable[dict[str, Any]], relative_to: str | Path | None = None,
                succeeded_only: bool = False) -> list[dict[str, Any]]:
    """The ShareGPT SFT view of trace records: [{"conversations": [...], "images": [paths]}].

    Image paths are absolute when the record came from load_episodes (it knows its folder) and
    relative_to is None; with relative_to they are relative to that folder (e.g. the folder a dataset
    JSON is written to, LLaMA-Factory's media_dir); otherwise they stay relative to the trace folder.
    Records without an assistant turn (nothing to learn) are left out, and failed episodes too when
    succeeded_only.
    """
    out = []
    for record in records:
        if succeeded_only and record.get("state") != "succeeded":
            continue
        conversations = record.get("conversations") or []
        if not any(turn.get("from") == "gpt" for turn in conversations):
            continue
        base = record.get("_trace_dir")
        images = []
        for rel in record.get("images") or []:
            path = Path(base) / rel if base else Path(rel)
            if relative_to is not None:
                images.append(os.path.relpath(path.resolve() if base else path, Path(relative_to).resolve()))
            else:
                images.append(str(path))
        out.append({"conversations": [dict(t) for t in conversations], "images": images})
    return out


def export_sharegpt(trace_path: str | Path, out_file: str | Path, succeeded_only: bool = True) -> int:
    """Write a trace's ShareGPT view as one JSON list to out_file (image paths relative to its folder, as
    LLaMA-Factory's media_dir expects when the file sits in the dataset folder); returns the example count."""
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    examples = to_sharegpt(load_episodes(trace_path), relative_to=out_file.parent, succeeded_only=succeeded_only)
    text = json.dumps(Scrubber().obj(examples), ensure_ascii=False, indent=1)
    out_file.write_text(text + "\n", encoding="utf-8")
    return len(examples)


# --------------------------------------------------------------------------------------------- capturing a run


@dataclasses.dataclass
class TracedEpisode:
    """An episode with what Agent.run keeps to itself: the conversation's images, the final variables and,
    per tool call index, the variables that call stored (its own masks even when a later call replaced them)."""

    episode: Episode
    images: list[RGBDFrame]
    variables: dict[str, Any]
    call_variables: dict[int, dict[str, Any]]


class _CapturingRegistry:
    """A registry wrapper that remembers the call context and what each call stored."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.context: ToolContext | None = None
        self.call_variables: dict[int, dict[str, Any]] = {}
        self._calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def call(self, name: str, arguments: Any, context: ToolContext, *args: Any, **kwargs: Any) -> ToolCallRecord:
        """Run the call on the wrapped registry (extra arguments, e.g. timeout, passed on) and snapshot the
        variables it stored."""
        self.context = context
        record = self._inner.call(name, arguments, context, *args, **kwargs)
        if record.ok:
            stored = {}
            for key in record.stored:
                try:
                    stored[key.lstrip("$")] = context.variables.get(key)
                except Exception:  # a variable the call did not really store
                    continue
            self.call_variables[self._calls] = stored
        self._calls += 1
        return record


def run_traced(agent: Agent, task: str, frame: RGBDFrame) -> TracedEpisode:
    """Run agent on one task like agent.run(), also capturing images, variables and per-call variables.

    The given agent is not modified (a shallow copy runs with a wrapped registry), so this is safe beside
    other users of the agent.
    """
    capture = _CapturingRegistry(agent.registry)
    runner = copy.copy(agent)
    runner.registry = capture
    episode = runner.run(task, frame)
    context = capture.context or getattr(runner, "last_context", None)
    images = list(context.images) if context is not None else [frame]
    variables = dict(context.variables.items()) if context is not None else {}
    return TracedEpisode(episode, images, variables, capture.call_variables)


# --------------------------------------------------------------------------------------------- the writer


def _call_turns(messages: list[dict[str, Any]], count: int) -> list[int | None]:
    """The assistant turn (1-based) of each tool call, from the order of tool messages."""
    turns: list[int | None] = []
    turn = 0
    for message in messages:
        if message.get("role") == "assistant":
            turn += 1
        elif message.get("role") == "tool" and message.get("name") != "error" and len(turns) < count:
            turns.append(turn)
    return turns + [None] * (count - len(turns))


def _write_png(path: Path, image: np.ndarray) -> None:
    """Write a BGR or grey uint8 image as PNG; OSError when it cannot be written."""
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def _items(variables: Mapping[str, Any] | VariableStore | None) -> list[tuple[str, Any]]:
    if variables is None:
        return []
    if isinstance(variables, VariableStore):
        return variables.items()
    return [(str(k).lstrip("$"), v) for k, v in variables.items()]


class TraceWriter:
    """Appends episodes to DIR/episodes.jsonl and writes their images under DIR/images/<episode_id>/.

    Thread-safe: one lock orders the appends of one writer. See the module docstring for the schema.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / EPISODES_FILE
        self.last_id: str | None = None
        self._lock = threading.Lock()

    def write_traced(self, traced: TracedEpisode, metadata: Mapping[str, Any] | None = None) -> Path:
        """write() for the result of run_traced()."""
        return self.write(traced.episode, traced.images, traced.variables, call_variables=traced.call_variables,
                          metadata=metadata)

    def write(self, episode: Episode, images: list[RGBDFrame],
              variables: Mapping[str, Any] | VariableStore | None = None, *,
              call_variables: Mapping[int, Mapping[str, Any]] | None = None,
              metadata: Mapping[str, Any] | None = None, episode_id: str | None = None) -> Path:
        """Write one episode (one JSON line, its images and masks); returns the episodes.jsonl path.

        images are the conversation's frames by image_index (images[0] the task's image). variables (a
        dict or the VariableStore) are the variables at the end of the episode: each is attributed to the
        last successful call that stored it, and boolean HxW masks among them are written as PNG and
        referenced from that call's "masks". call_variables ({tool call index: {name: value}}, as
        run_traced gives) attributes every call its own values instead. With an Agent, pass
        agent.last_context.images and agent.last_context.variables after agent.run(). episode_id (letters,
        digits, _ and -) defaults to a new uuid4 hex; the id written is left in self.last_id.
        """
        scrubber = Scrubber()
        episode_id = episode_id or uuid.uuid4().hex
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", episode_id):
            raise ValueError(f"episode_id must be 1-64 letters, digits, _ or -, got {episode_id!r}")
        now = time.time()
        image_dir = self.directory / IMAGES_DIR / episode_id
        image_dir.mkdir(parents=True, exist_ok=True)
        rel_dir = f"{IMAGES_DIR}/{episode_id}"

        added_by = {k: i for i, c in enumerate(episode.tool_calls) for k in c.new_images}
        frames = []
        for k, frame in enumerate(images):
            _write_png(image_dir / f"{k}.png", cv2.cvtColor(np.ascontiguousarray(frame.rgb), cv2.COLOR_RGB2BGR))
            frames.append({"index": k, "path": f"{rel_dir}/{k}.png", "width": frame.width, "height": frame.height,
                           "has_depth": frame.has_depth, "stamp": json_safe(float(frame.stamp)),
                           "frame_id": frame.frame_id, "added_by": added_by.get(k),
                           "metadata": json_safe(frame.metadata, INLINE_ARRAY_MAX)})

        by_call = self._variables_by_call(episode.tool_calls, variables, call_variables)
        tool_calls = []
        turns = _call_turns(episode.messages, len(episode.tool_calls))
        var_image: dict[str, int] = {}
        for i, record in enumerate(episode.tool_calls):
            image_index = self._image_index(record, var_image, len(images))
            summary = record.summary()
            summary.update(index=i, turn=turns[i], data=json_safe(record.data), image_index=image_index,
                           arguments=json_safe(record.arguments))
            stored_values = by_call.get(i, {})
            described: dict[str, Any] = {}
            masks = []
            for key in record.stored:
                name = key.lstrip("$")
                if name not in stored_values:
                    continue
                value = stored_values[name]
                if _is_mask(value):
                    rel = f"{rel_dir}/mask_{i}_{len(masks)}.png"
                    _write_png(self.directory / rel, value.astype(np.uint8) * 255)
                    described[name] = {"shape": list(value.shape), "dtype": "bool", "mask": rel}
                    masks.append({"variable": name, "path": rel, "image_index": image_index,
                                  "shape": list(value.shape), "pixels": int(value.sum())})
                else:
                    described[name] = _describe_variable(value)
            summary["variables"] = described
            summary["masks"] = masks
            tool_calls.append(summary)
            if record.ok and image_index is not None:
                for key in record.stored:
                    var_image[key.lstrip("$")] = image_index

        conversations, order = _conversation(episode.messages, set(range(len(images))))
        record_out = {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "id": episode_id,
            "created_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "created_unix": round(now, 3),
            "task": episode.task, "state": episode.state, "answer": episode.answer, "error": episode.error,
            "turns": episode.turns, "timings": {k: round(float(v), 4) for k, v in episode.timings.items()},
            "metadata": json_safe(dict(metadata or {})),
            "frames": frames,
            "tool_calls": tool_calls,
            "messages": json_safe(episode.messages),
            "conversations": conversations,
            "images": [frames[k]["path"] for k in order],
            "image_indices": order,
        }
        line = json.dumps(scrubber.obj(record_out), ensure_ascii=False, allow_nan=False)
        line = scrubber.json_text(line)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
        self.last_id = episode_id
        return self.path

    @staticmethod
    def _variables_by_call(calls: list[ToolCallRecord], variables: Mapping[str, Any] | VariableStore | None,
                           call_variables: Mapping[int, Mapping[str, Any]] | None) -> dict[int, dict[str, Any]]:
        """{call index: {name: value}}: the per-call snapshots, completed by the final variables (each given
        to the last successful call that stored it)."""
        out = {int(i): {str(k).lstrip("$"): v for k, v in values.items()}
               for i, values in (call_variables or {}).items()}
        for name, value in _items(variables):
            producer = next((i for i in range(len(calls) - 1, -1, -1)
                             if calls[i].ok and "$" + name in calls[i].stored), None)
            if producer is not None:
                out.setdefault(producer, {}).setdefault(name, value)
        return out

    @staticmethod
    def _image_index(record: ToolCallRecord, var_image: dict[str, int], count: int) -> int | None:
        """The image a call is about: its image_index argument, else the image of a $variable it was given,
        else 0; None when there is no such image."""
        args = record.arguments if isinstance(record.arguments, dict) else {}
        value = args.get("image_index")
        index: int | None = None
        if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
            index = int(value)
            index = index + count if index < 0 else index
        else:
            for arg in args.values():
                if isinstance(arg, str) and arg.startswith("$") and arg.lstrip("$") in var_image:
                    index = var_image[arg.lstrip("$")]
                    break
            else:
                index = 0
        return index if index is not None and 0 <= index < count else None
