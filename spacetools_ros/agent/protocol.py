"""The SpaceTools / hermes text protocol: <think>, <tool_call>{json}</tool_call>, <answer>.

Model output is parsed, never evaluated. parse_turn() never raises: every defect becomes a
message for the model in ParsedTurn.errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)
MAX_CALL_CHARS = 65536


@dataclass(frozen=True)
class ToolCall:
    """A well-formed call: a tool name and a JSON object of arguments."""

    name: str
    arguments: dict[str, Any]


@dataclass
class ParsedTurn:
    """What one assistant message asked for."""

    think: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    answer: str | None = None
    errors: list[str] = field(default_factory=list)


def render_tool_call(name: str, arguments: dict[str, Any]) -> str:
    """A <tool_call> block as the model writes it."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "\n</tool_call>"


def render_answer(answer: str) -> str:
    """An <answer> block."""
    return f"<answer>{answer}</answer>"


def render_think(text: str) -> str:
    """A <think> block."""
    return f"<think>{text}</think>"


def render_tools_block(schemas: list[dict[str, Any]]) -> str:
    """The hermes <tools> block listing one OpenAI function schema per line."""
    return "<tools>\n" + "\n".join(json.dumps(s, ensure_ascii=False) for s in schemas) + "\n</tools>"


def _parse_call(body: str) -> ToolCall:
    """One <tool_call> body as a ToolCall; ValueError with a model-readable reason otherwise."""
    if len(body) > MAX_CALL_CHARS:
        raise ValueError(f"tool call is {len(body)} characters long (limit {MAX_CALL_CHARS})")
    try:
        payload = json.loads(body.strip())
    except (json.JSONDecodeError, RecursionError) as exc:
        hint = '{"name": ..., "arguments": {...}}'
        raise ValueError(f"tool call is not valid JSON ({exc}); write {hint}") from None
    if not isinstance(payload, dict):
        raise ValueError("tool call must be a JSON object with 'name' and 'arguments'")
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("tool call has no 'name' string")
    arguments = payload.get("arguments", {})
    if isinstance(arguments, str):  # OpenAI-style: arguments serialised as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            raise ValueError(f"arguments of {name} are a string that is not JSON") from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ValueError(f"arguments of {name} must be a JSON object, got {type(arguments).__name__}")
    return ToolCall(name.strip(), arguments)


def parse_turn(text: Any) -> ParsedTurn:
    """Parse one assistant message. Never raises."""
    turn = ParsedTurn()
    if not isinstance(text, str):
        turn.errors.append(f"the reply must be text, got {type(text).__name__}")
        return turn
    think = _THINK.search(text)
    turn.think = think.group(1).strip() if think else None
    # tags inside <think> are reasoning, not requests
    body = _THINK.sub("", text)
    for match in _TOOL_CALL.finditer(body):
        inner = match.group(1)
        if "<tool_call>" in inner:
            turn.errors.append("nested <tool_call> tags; write one JSON object per <tool_call> block")
            continue
        try:
            turn.tool_calls.append(_parse_call(inner))
        except ValueError as exc:
            turn.errors.append(str(exc))
    rest = _TOOL_CALL.sub("", body)
    if "<tool_call>" in rest or "</tool_call>" in rest:
        turn.errors.append("unterminated <tool_call> tag; close every <tool_call> with </tool_call>")
    answer = _ANSWER.search(rest)
    if answer:
        turn.answer = answer.group(1).strip()
    elif "<answer>" in rest:
        turn.errors.append("unterminated <answer> tag; close it with </answer>")
    return turn
