"""A planner backed by any OpenAI-compatible chat-completions endpoint (vLLM, sglang, transformers serve, hosted).

One POST to ``{base_url}/chat/completions`` per assistant turn, with httpx2 (the HTTP client huggingface_hub
already depends on; no SDK). Non-streaming, greedy by default (temperature and max_tokens from PlannerConfig).

Request format
--------------
- Images are content parts ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` holding
  the PNG of the frame's rgb. Each image of a message's "image_indices" replaces the next ``<image>`` marker of
  its text (the agent's user message starts with one), or follows the text when no marker is left.
- tool_mode "hermes" (as SpaceTools was trained): messages go as text; the system message already holds the
  ``<tools>`` block; assistant messages go back verbatim (with their ``<tool_call>`` blocks). Tool messages
  become a *user* message wrapping each result in ``<tool_response>\\n...\\n</tool_response>`` with its images
  inside the wrapper after the text; consecutive tool messages share one user message. That is exactly what
  the Qwen2.5 chat template renders for role "tool" (and what the transformers planner renders), it carries
  images (role "tool" cannot in the OpenAI API) and every endpoint accepts it (role "tool" without a
  ``tool_call_id`` is rejected by hosted APIs).
- tool_mode "native": the endpoint's ``tools`` field gets the OpenAI function schemas (from set_tools(), else
  parsed out of the system message's ``<tools>`` block, which is then removed from the system text). Each
  well-formed ``<tool_call>`` block of an assistant message becomes an entry of its ``tool_calls`` with the
  deterministic id ``call_{a}_{k}`` (a: the assistant message's number, k: the call's); the tool messages that
  answer them become role "tool" messages with the matching ``tool_call_id`` (text only). Images of tool
  results, and loop feedback that answers no call (parse errors), follow in one user message after them.

Reply format
------------
Whatever the mode, the reply is returned as hermes text so the loop parses one format: the endpoint's reasoning
(``reasoning_content`` / ``reasoning``, when a reasoning parser split it off) as ``<think>...</think>``, then
the content, then one ``<tool_call>`` block per entry of ``tool_calls`` (protocol.render_tool_call). Servers
such as transformers serve parse ``<tool_call>`` text into ``tool_calls`` even without ``tools``; the blocks are
put back the same way.

Errors
------
Timeouts, connection errors, HTTP 408/409/425/429 and 5xx are retried ``max_retries`` times with exponential
backoff (0.5 s, 1 s, 2 s, ... capped at 8 s; a numeric Retry-After header is honoured up to 30 s). Other HTTP
errors fail at once. Every failure is a PlannerError naming the URL, the HTTP status and the server's error
message. The API key (read from the environment variable ``api_key_env`` at construction; may be absent for
local servers, then no Authorization header is sent) is scrubbed from every error and log message.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import time
import weakref
from collections import OrderedDict
from typing import Any

import httpx2
import numpy as np

from spacetools_ros.agent.protocol import parse_turn, render_tool_call
from spacetools_ros.config import ConfigError, PlannerConfig
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.planners.base import Planner, PlannerError
from spacetools_ros.planners.chat import interleave, message_role

log = logging.getLogger(__name__)

"""Where a message's text places its next image (the agent's user message starts with it)."""

RETRY_STATUSES = frozenset({408, 409, 425, 429})
"""HTTP statuses retried besides every 5xx."""

MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 30.0
ERROR_SNIPPET_CHARS = 500
PNG_CACHE_SIZE = 16

_TOOLS_BLOCK = re.compile(r"<tools>(.*?)</tools>", re.S)
_THINK_BLOCK = re.compile(r"(<think>.*?</think>)", re.S)
_TOOL_CALL_BLOCK = re.compile(r"<tool_call>.*?</tool_call>", re.S)


def png_data_url(frame: RGBDFrame) -> str:
    """The frame's rgb as a ``data:image/png;base64,...`` URL."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame.rgb)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def function_schemas(schemas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool schemas as OpenAI ``{"type": "function", "function": {...}}`` entries (bare function schemas are
    wrapped). ValueError for an entry that is neither."""
    out = []
    for schema in schemas:
        if not isinstance(schema, dict):
            raise ValueError(f"a tool schema must be a JSON object, got {type(schema).__name__}")
        if schema.get("type") == "function" and isinstance(schema.get("function"), dict):
            out.append(schema)
        elif isinstance(schema.get("name"), str):
            out.append({"type": "function", "function": schema})
        else:
            raise ValueError(f"tool schema without a function name: {json.dumps(schema)[:200]}")
    return out


def tools_from_system(text: str) -> list[dict[str, Any]]:
    """The function schemas of the hermes ``<tools>`` block of a system message (one JSON object per line);
    [] without a block. PlannerError when the block does not hold one JSON schema per line."""
    match = _TOOLS_BLOCK.search(text)
    if not match:
        return []
    schemas = []
    for line in match.group(1).splitlines():
        if line.strip():
            try:
                schemas.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise PlannerError(f"the <tools> block of the system message is not one JSON schema per line: "
                                   f"{exc}") from None
    try:
        return function_schemas(schemas)
    except ValueError as exc:
        raise PlannerError(f"the <tools> block of the system message: {exc}") from None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep their text
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "" if content is None else str(content)


def _merge_text(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent text parts joined into one, empty ones dropped."""
    merged: list[dict[str, Any]] = []
    for part in parts:
        if part["type"] == "text":
            if not part["text"]:
                continue
            if merged and merged[-1]["type"] == "text":
                merged[-1] = {"type": "text", "text": merged[-1]["text"] + part["text"]}
                continue
        merged.append(part)
    return merged


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A message content: a plain string when there is no image, else the list of parts."""
    parts = _merge_text(parts)
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _without_userinfo(url: str) -> str:
    """url without a user:password@ part (never shown in messages)."""
    return re.sub(r"//[^/@]*@", "//", url, count=1)


def _split_native_calls(text: str) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """An assistant text without its well-formed <tool_call> blocks (outside <think>), and those calls."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def take(match: re.Match[str]) -> str:
        parsed = parse_turn(match.group(0))
        if len(parsed.tool_calls) == 1 and not parsed.errors:
            calls.append((parsed.tool_calls[0].name, parsed.tool_calls[0].arguments))
            return ""
        return match.group(0)  # a malformed block stays text: the loop's error message refers to it

    pieces = _THINK_BLOCK.split(text)
    for i in range(0, len(pieces), 2):  # even pieces are outside <think>
        pieces[i] = _TOOL_CALL_BLOCK.sub(take, pieces[i])
    return re.sub(r"\n{3,}", "\n\n", "".join(pieces)).strip(), calls


class OpenAIPlanner(Planner):
    """The next assistant message from an OpenAI-compatible chat-completions endpoint.

    config: PlannerConfig (model, base_url, api_key_env, tool_mode, max_new_tokens, temperature, timeout_s,
    max_retries). transport: an httpx2 transport to use instead of the network (tests). backoff_s: the first
    retry delay (doubles per retry, capped at 8 s).

    Raises ConfigError at construction for a missing base_url or model, an unknown tool_mode or a malformed
    API key. respond() raises PlannerError when the endpoint fails (after the retries); the loop turns that
    into a failed episode. After a successful respond(), last_response holds the endpoint's JSON reply
    (usage counts included).
    """

    name = "openai"

    def __init__(self, config: PlannerConfig, transport: httpx2.BaseTransport | None = None,
                 backoff_s: float = 0.5) -> None:
        if not config.base_url:
            raise ConfigError("planner_options.base_url: the openai planner needs the endpoint, e.g. "
                              "http://localhost:8000/v1")
        if not config.model:
            raise ConfigError("planner_options.model: the openai planner needs the model name the endpoint serves")
        if config.tool_mode not in ("hermes", "native"):
            raise ConfigError(f"planner_options.tool_mode: '{config.tool_mode}' is not one of hermes, native")
        self.config = config
        self.backoff_s = backoff_s
        base = config.base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self._api_key = self._read_key(config.api_key_env)
        headers = {"Accept": "application/json", "User-Agent": "spacetools_ros-openai-planner"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._client = httpx2.Client(headers=headers, timeout=httpx2.Timeout(config.timeout_s), transport=transport)
        self._tools: list[dict[str, Any]] | None = None
        self._png_cache: OrderedDict[int, tuple[weakref.ref[RGBDFrame], str]] = OrderedDict()  # by id(frame)
        self.last_response: dict[str, Any] | None = None

    @staticmethod
    def _read_key(env_name: str) -> str:
        """The API key from the environment ('' when unset); ConfigError (without the key) when malformed."""
        key = os.environ.get(env_name, "").strip() if env_name else ""
        if key and (any(c.isspace() for c in key) or not key.isprintable() or not key.isascii()):
            raise ConfigError(f"the API key in ${env_name} holds spaces or non-printable characters")
        return key

    # ----- public API -----

    def set_tools(self, schemas: list[dict[str, Any]]) -> None:
        """The tool schemas to send as ``tools`` in native mode (OpenAI function schemas, e.g.
        ToolRegistry.schemas()); without it, native mode reads them from the system message's <tools> block.
        Hermes mode ignores them (the system message already lists the tools)."""
        try:
            self._tools = function_schemas(list(schemas))
        except ValueError as exc:
            raise ConfigError(f"openai planner tools: {exc}") from None

    def respond(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> str:
        """The assistant's next message as hermes text (<think>, content, <tool_call> blocks)."""
        body = self.build_request(messages, images)
        reply = self._post(body)
        self.last_response = reply
        return self._reply_text(reply)

    def build_request(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> dict[str, Any]:
        """The JSON body respond() would POST for this conversation (PlannerError for an unknown role or an
        image index out of range)."""
        if self.config.tool_mode == "native":
            chat, tools = self._native_messages(messages, images)
        else:
            chat, tools = self._hermes_messages(messages, images), []
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": chat,
            "max_tokens": self.config.max_new_tokens,
            "temperature": self.config.temperature,
        }
        if tools:
            body["tools"] = tools
        return body

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> OpenAIPlanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- messages -----

    def _image_part(self, index: Any, images: list[RGBDFrame], number: int) -> dict[str, Any]:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(images):
            raise PlannerError(f"message {number} shows image_index {index!r}, but the conversation has "
                               f"{len(images)} image(s)")
        frame = images[index]
        cached = self._png_cache.get(id(frame))
        if cached is None or cached[0]() is not frame:  # each frame is encoded once per conversation
            cached = (weakref.ref(frame), png_data_url(frame))
            self._png_cache[id(frame)] = cached
            while len(self._png_cache) > PNG_CACHE_SIZE:
                self._png_cache.popitem(last=False)
        return {"type": "image_url", "image_url": {"url": cached[1]}}

    def _parts(self, text: str, indices: list[Any], images: list[RGBDFrame], number: int) -> list[dict[str, Any]]:
        """Text and image parts: each image at the next <image> marker, the rest after the text."""
        return [self._image_part(value, images, number) if kind == "image" else {"type": "text", "text": value}
                for kind, value in interleave(text, indices, images, number)]

    def _hermes_messages(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> list[dict[str, Any]]:
        chat: list[dict[str, Any]] = []
        responses: list[dict[str, Any]] = []  # parts of the user message gathering consecutive tool results

        def flush() -> None:
            if responses:
                chat.append({"role": "user", "content": _content(responses)})
                responses.clear()

        for number, message in enumerate(messages):
            role = message_role(message, number)
            text = _text(message.get("content"))
            indices = list(message.get("image_indices") or [])
            if role == "tool":
                if responses:
                    responses.append({"type": "text", "text": "\n"})
                responses.append({"type": "text", "text": "<tool_response>\n"})
                responses.extend(self._parts(text, indices, images, number))
                responses.append({"type": "text", "text": "\n</tool_response>"})
                continue
            flush()
            if role == "assistant":
                chat.append({"role": "assistant", "content": text})
            else:
                chat.append({"role": role, "content": _content(self._parts(text, indices, images, number))})
        flush()
        return chat

    def _native_messages(self, messages: list[dict[str, Any]],
                         images: list[RGBDFrame]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        tools = self._tools
        chat: list[dict[str, Any]] = []
        pending: list[tuple[str, str]] = []  # (id, name) of the latest assistant calls not answered yet
        extra: list[dict[str, Any]] = []  # parts of the user message that follows the tool messages
        assistants = 0

        def flush() -> None:
            for call_id, _ in pending:  # every call needs an answer, or endpoints reject the history
                chat.append({"role": "tool", "tool_call_id": call_id, "content": "Error: the call returned no result."})
            pending.clear()
            if extra:
                chat.append({"role": "user", "content": _content(extra)})
                extra.clear()

        for number, message in enumerate(messages):
            role = message_role(message, number)
            text = _text(message.get("content"))
            indices = list(message.get("image_indices") or [])
            if role == "tool":
                name = message.get("name")
                match = next((k for k, (_, n) in enumerate(pending) if n == name), None)
                if match is not None:
                    call_id, _ = pending.pop(match)
                    chat.append({"role": "tool", "tool_call_id": call_id, "content": text})
                    if indices:  # role "tool" carries text only: the images follow in the user message
                        label = ", ".join(str(i) for i in indices)
                        extra.append({"type": "text", "text": ("\n" if extra else "") + f"{name} returned "
                                                              f"image_index {label}:"})
                        extra.extend(self._image_part(i, images, number) for i in indices)
                else:  # loop feedback that answers no call (a parse error, no call nor answer)
                    if extra:
                        extra.append({"type": "text", "text": "\n"})
                    extra.extend(self._parts(text, indices, images, number))
                continue
            flush()
            if role == "system":
                if tools is None and number == 0:
                    tools = tools_from_system(text)
                text = _TOOLS_BLOCK.sub("", text).rstrip()
                chat.append({"role": "system", "content": _content(self._parts(text, indices, images, number))})
            elif role == "assistant":
                turn, assistants = assistants, assistants + 1
                remaining, calls = _split_native_calls(text)
                if not calls:
                    chat.append({"role": "assistant", "content": text})
                    continue
                tool_calls = []
                for k, (name, arguments) in enumerate(calls):
                    call_id = f"call_{turn}_{k}"
                    tool_calls.append({"id": call_id, "type": "function", "function": {
                        "name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}})
                    pending.append((call_id, name))
                chat.append({"role": "assistant", "content": remaining or None, "tool_calls": tool_calls})
            else:
                chat.append({"role": "user", "content": _content(self._parts(text, indices, images, number))})
        flush()
        return chat, tools or []

    # ----- reply -----

    @staticmethod
    def _reply_text(reply: dict[str, Any]) -> str:
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise PlannerError(f"the endpoint's reply has no choices: {json.dumps(reply)[:ERROR_SNIPPET_CHARS]}")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise PlannerError("the endpoint's reply has no message")
        content = _text(message.get("content"))
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        pieces = []
        if isinstance(reasoning, str) and reasoning.strip() and "<think>" not in content:
            pieces.append(f"<think>{reasoning.strip()}</think>")
        if content.strip():
            pieces.append(content.strip())
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                continue
            arguments: Any = function.get("arguments")
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except json.JSONDecodeError:
                    pass  # kept as a string: the loop tells the model its arguments are not JSON
            pieces.append(render_tool_call(function["name"], arguments if arguments is not None else {}))
        return "\n".join(pieces)

    # ----- HTTP -----

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _server_message(self, response: httpx2.Response) -> str:
        """The server's error message: error.message / error / detail / message of a JSON body, else its text."""
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError):
            data = None
        message: Any = None
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict):
                message = error.get("message") or error
            else:
                message = error or data.get("detail") or data.get("message") or data
        if message is None:
            message = response.text
        if not isinstance(message, str):
            message = json.dumps(message, ensure_ascii=False)
        message = " ".join(message.split())
        if len(message) > ERROR_SNIPPET_CHARS:
            message = message[:ERROR_SNIPPET_CHARS] + " ..."
        return self._scrub(message or response.reason_phrase or "(empty body)")

    def _delay(self, attempt: int, response: httpx2.Response | None) -> float:
        delay = min(self.backoff_s * 2 ** attempt, MAX_BACKOFF_S)
        if response is not None:
            try:
                delay = max(delay, min(float(response.headers.get("retry-after", "")), MAX_RETRY_AFTER_S))
            except ValueError:
                pass
        return delay

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST body with retries; the reply's JSON, or PlannerError (key scrubbed)."""
        attempts = 1 + max(0, self.config.max_retries)
        where = f"openai planner: POST {_without_userinfo(self.url)} (model {self.config.model})"
        problem = ""
        for attempt in range(attempts):
            response: httpx2.Response | None = None
            try:
                response = self._client.post(self.url, json=body)
            except httpx2.TimeoutException:
                problem = f"no reply within {self.config.timeout_s:g} s"
            except (httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
                problem = f"connection failed ({type(exc).__name__}: {exc})"
            except httpx2.HTTPError as exc:
                raise PlannerError(self._scrub(f"{where} failed: {type(exc).__name__}: {exc}")) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        return response.json()
                    except (ValueError, UnicodeDecodeError):
                        snippet = response.text[:ERROR_SNIPPET_CHARS]
                        raise PlannerError(self._scrub(f"{where}: HTTP {status} but the body is not JSON: "
                                                       f"{snippet}")) from None
                problem = f"HTTP {status}: {self._server_message(response)}"
                if status not in RETRY_STATUSES and status < 500:
                    raise PlannerError(self._scrub(f"{where} failed with {problem}"))
            if attempt + 1 < attempts:
                delay = self._delay(attempt, response)
                log.warning("%s", self._scrub(f"{where}: attempt {attempt + 1} of {attempts} failed with {problem}; "
                                              f"retrying in {delay:.1f} s"))
                time.sleep(delay)
        plural = "s" if attempts > 1 else ""
        raise PlannerError(self._scrub(f"{where} failed after {attempts} attempt{plural}: {problem}"))
