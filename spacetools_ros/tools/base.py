"""The one way to define a tool: a typed function whose JSON schema comes from its signature and docstring.

    @tool("tabletop.segment_objects")
    def segment_objects(ctx: ToolContext, image_index: int = 0) -> ToolResult:
        '''Find the table plane and the objects on it.

        Args:
            image_index: 0-based index of the image in the conversation.
        '''

A parameter annotated ToolContext receives the call's context and is hidden from the schema.
Arguments are validated with pydantic before the function runs; a call that fails validation
never runs.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import pydantic
import pydantic.json_schema

from spacetools_ros.frames.frame import RGBDFrame


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the planner as text."""


class VariableStore:
    """Named objects tools store (masks, clouds, poses) that later calls pass as "$name"."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def set(self, name: str, value: Any) -> None:
        """Store value under name (without the leading $)."""
        self._values[name.lstrip("$")] = value

    def get(self, name: str) -> Any:
        """The value stored under name ("x" or "$x"); ToolError when there is none."""
        key = name.lstrip("$")
        if key not in self._values:
            known = ", ".join("$" + k for k in sorted(self._values)) or "none"
            raise ToolError(f"unknown variable ${key} (stored: {known})")
        return self._values[key]

    def names(self) -> list[str]:
        """Stored names, sorted."""
        return sorted(self._values)

    def items(self) -> list[tuple[str, Any]]:
        """(name, value) pairs, sorted by name."""
        return sorted(self._values.items())

    def resolve(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Arguments with every exact "$name" string replaced by the stored object."""
        return {k: self.get(v) if isinstance(v, str) and v.startswith("$") else v for k, v in arguments.items()}


@dataclass
class ToolContext:
    """What a tool call can see: the conversation's images and the variable store."""

    images: list[RGBDFrame]
    variables: VariableStore = field(default_factory=VariableStore)

    def image(self, index: int) -> RGBDFrame:
        """The image with the given 0-based index (negative counts from the newest)."""
        if not self.images:
            raise ToolError("there is no image in the conversation yet")
        if not -len(self.images) <= index < len(self.images):
            count = len(self.images)
            raise ToolError(f"image_index {index} is out of range: {count} image(s), indices 0..{count - 1}")
        return self.images[index]


@dataclass
class ToolResult:
    """What a tool returns: text for the model, structured data for programs, new variables and images."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    images: list[RGBDFrame] = field(default_factory=list)


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(summary, {parameter: description}) from a Google-style docstring."""
    doc = inspect.cleandoc(doc or "")
    summary_part, _, args_part = doc.partition("\nArgs:")
    summary = " ".join(line.strip() for line in summary_part.strip().splitlines())
    params: dict[str, str] = {}
    current = None
    for line in args_part.splitlines():
        if line.strip() and not line.startswith((" ", "\t")):
            break  # the next section (Returns:, Raises:, ...) begins
        match = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
        if match and (current is None or len(line) - len(line.lstrip()) <= 8):
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current and line.strip():
            params[current] += " " + line.strip()
    return summary, params


def _strip_titles(schema: Any) -> Any:
    """pydantic's JSON schema without the auto-generated 'title' keys (noise for a model)."""
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


class _ToolJsonSchema(pydantic.json_schema.GenerateJsonSchema):
    """Arguments of non-JSON types (arrays, masks, poses) are passed as "$variable" strings."""

    def is_instance_schema(self, schema) -> dict[str, Any]:
        """Schema of an arbitrary-type parameter: a variable reference."""
        return {"type": "string", "description": 'a stored variable, passed as "$name"'}


@dataclass
class Tool:
    """A registered tool: name, description, argument model and the function behind it."""

    name: str
    description: str
    function: Callable[..., ToolResult]
    arguments_model: type[pydantic.BaseModel]
    context_parameter: str | None
    is_robot_tool: bool = False

    def __post_init__(self) -> None:
        # built once, at definition time, so a tool whose schema cannot be made fails on import
        schema = _strip_titles(self.arguments_model.model_json_schema(schema_generator=_ToolJsonSchema))
        schema.setdefault("properties", {})
        schema.setdefault("required", [])
        self.parameters_schema: dict[str, Any] = schema

    def openai_schema(self) -> dict[str, Any]:
        """The OpenAI function schema the model sees inside <tools>."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters_schema}}

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments; ToolError naming every problem when they do not fit."""
        try:
            model = self.arguments_model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolError(f"invalid arguments for {self.name}: {problems}") from None
        return {name: getattr(model, name) for name in type(model).model_fields}

    def __call__(self, context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        """Resolve $variables, validate, then run the function."""
        kwargs = self.validate(context.variables.resolve(arguments))
        if self.context_parameter:
            kwargs[self.context_parameter] = context
        result = self.function(**kwargs)
        if not isinstance(result, ToolResult):
            raise TypeError(f"tool {self.name} returned {type(result).__name__}, not ToolResult")
        return result


def tool(name: str, *, robot: bool = False) -> Callable[[Callable[..., ToolResult]], Tool]:
    """Decorator turning a typed, documented function into a Tool.

    robot=True marks tools that move hardware (the loop applies extra care to them).
    """

    def wrap(function: Callable[..., ToolResult]) -> Tool:
        hints = get_type_hints(function)
        summary, param_docs = parse_docstring(function.__doc__)
        if not summary:
            raise ValueError(f"tool {name} needs a docstring: its first lines are the model's description")
        fields: dict[str, Any] = {}
        context_parameter = None
        for param in inspect.signature(function).parameters.values():
            annotation = hints.get(param.name, Any)
            if annotation is ToolContext:
                context_parameter = param.name
                continue
            if param.name not in param_docs:
                raise ValueError(f"tool {name}: parameter '{param.name}' is not described under Args:")
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (annotation, pydantic.Field(default, description=param_docs[param.name]))
        # NaN/inf never mean anything to a tool; robot tools take no coercion at all ("0.1" or true is
        # not a number to move to)
        model = pydantic.create_model(
            f"{function.__name__}_arguments",
            __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True, allow_inf_nan=False,
                                           strict=robot),
            **fields,
        )
        return Tool(name, summary, function, model, context_parameter, robot)

    return wrap
