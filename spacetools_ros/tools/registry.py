"""The tool registry: the one place tools are looked up, described to the model and called."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spacetools_ros.tools.base import Tool, ToolContext, ToolError, ToolResult


@dataclass
class ToolCallRecord:
    """One executed (or refused) call, as traces and results report it."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    text: str
    duration_s: float
    stored: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    new_images: list[int] = field(default_factory=list)  # image_index of each image the call added

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view (without structured data)."""
        return {"name": self.name, "arguments": self.arguments, "ok": self.ok, "text": self.text,
                "duration_s": round(self.duration_s, 4), "stored": self.stored, "new_images": self.new_images}


class _CallWorker:
    """A daemon thread running one call at a time, so that a call can be given up after a timeout
    (a hung tool then blocks neither the loop nor the process's exit). Starting a thread per call
    costs hundreds of microseconds here; handing work to a waiting thread costs tens."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="tool-call-worker", daemon=True).start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            function, done = job
            function()
            done.set()

    def run(self, function: Callable[[], None], timeout: float) -> bool:
        """Run function on the worker; False if it did not finish within timeout seconds."""
        done = threading.Event()
        self._jobs.put((function, done))
        return done.wait(max(timeout, 0.0))

    def stop(self) -> None:
        """Let the thread end after its current job."""
        self._jobs.put(None)


class ToolRegistry:
    """Holds tools by name; call() never raises: every failure becomes an error record."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._call_worker: _CallWorker | None = None
        self._worker_lock = threading.Lock()
        for t in tools or []:
            self.register(t)

    def _worker(self) -> _CallWorker:
        with self._worker_lock:
            if self._call_worker is None:
                self._call_worker = _CallWorker()
            return self._call_worker

    def _abandon_worker(self) -> None:
        with self._worker_lock:
            if self._call_worker is not None:
                self._call_worker.stop()
            self._call_worker = None

    def register(self, tool: Tool) -> None:
        """Add a tool; a second tool with the same name is an error."""
        if not isinstance(tool, Tool):
            raise TypeError(f"{tool!r} is not a Tool (decorate the function with @tool)")
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name} is already registered")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        """Registered tool names, sorted."""
        return sorted(self._tools)

    def get(self, name: str) -> Tool:
        """The tool called name; ToolError listing the known names otherwise."""
        if name not in self._tools:
            raise ToolError(f"unknown tool '{name}'; available tools: {', '.join(self.names())}")
        return self._tools[name]

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI function schemas of every tool, by name."""
        return [self._tools[n].openai_schema() for n in self.names()]

    def call(self, name: str, arguments: Any, context: ToolContext, timeout: float | None = None) -> ToolCallRecord:
        """Run one call. Unknown tools, bad arguments, tool errors, unexpected exceptions and (with a
        timeout in seconds) calls that run too long all come back as a failed record whose text explains
        the problem. A call that timed out changes nothing in the context, even if it finishes later."""
        start = time.perf_counter()
        shown_args = arguments if isinstance(arguments, dict) else {"<invalid>": repr(arguments)[:200]}
        outcome: list = []  # [ToolResult] or [error text], filled by the (possibly separate) thread

        def run() -> None:
            try:
                if not isinstance(arguments, dict):
                    raise ToolError(f"arguments for {name} must be a JSON object, got {type(arguments).__name__}")
                outcome.append(self.get(name)(context, arguments))
            except ToolError as exc:
                outcome.append(f"Error: {exc}")
            except Exception as exc:  # a tool bug must not end the episode: report it to the planner
                outcome.append(f"Error: {name} failed: {type(exc).__name__}: {exc}")

        if timeout is None:
            run()
        elif not self._worker().run(run, timeout):
            self._abandon_worker()  # it is stuck in the call: later calls get a fresh worker
            return ToolCallRecord(name, shown_args, False, f"Error: {name} timed out after {timeout:.1f} s",
                                  time.perf_counter() - start)
        if isinstance(outcome[0], str):
            return ToolCallRecord(name, shown_args, False, outcome[0], time.perf_counter() - start)
        result: ToolResult = outcome[0]
        for key, value in result.variables.items():
            context.variables.set(key, value)
        first = len(context.images)
        context.images.extend(result.images)
        return ToolCallRecord(name, shown_args, True, result.text, time.perf_counter() - start,
                              stored=["$" + k for k in result.variables], data=result.data,
                              new_images=list(range(first, len(context.images))))
