"""The tool registry: the one place tools are looked up, described to the model and called."""

from __future__ import annotations

import time
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

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view (without structured data)."""
        return {"name": self.name, "arguments": self.arguments, "ok": self.ok, "text": self.text,
                "duration_s": round(self.duration_s, 4), "stored": self.stored}


class ToolRegistry:
    """Holds tools by name; call() never raises: every failure becomes an error record."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools or []:
            self.register(t)

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

    def call(self, name: str, arguments: Any, context: ToolContext) -> ToolCallRecord:
        """Run one call. Unknown tools, bad arguments, tool errors and unexpected exceptions all
        come back as a failed record whose text explains the problem."""
        start = time.perf_counter()
        shown_args = arguments if isinstance(arguments, dict) else {"<invalid>": repr(arguments)[:200]}
        try:
            if not isinstance(arguments, dict):
                raise ToolError(f"arguments for {name} must be a JSON object, got {type(arguments).__name__}")
            result: ToolResult = self.get(name)(context, arguments)
        except ToolError as exc:
            return ToolCallRecord(name, shown_args, False, f"Error: {exc}", time.perf_counter() - start)
        except Exception as exc:  # a tool bug must not end the episode: report it to the planner
            return ToolCallRecord(name, shown_args, False, f"Error: {name} failed: {type(exc).__name__}: {exc}",
                                  time.perf_counter() - start)
        for key, value in result.variables.items():
            context.variables.set(key, value)
        context.images.extend(result.images)
        return ToolCallRecord(name, shown_args, True, result.text, time.perf_counter() - start,
                              stored=["$" + k for k in result.variables], data=result.data)
