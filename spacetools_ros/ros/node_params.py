"""Declare node parameters with descriptions and check them at start-up."""

from __future__ import annotations

from typing import Any


class ParameterError(ValueError):
    """A node parameter has a bad value; the message names the parameter."""


def declare_parameters(node, spec: dict[str, tuple]) -> dict[str, Any]:
    """Declare {name: (default, description[, minimum])} on node and return the values.

    A value of the wrong type, or a number below its minimum (numbers without one must be
    positive), raises ParameterError naming the parameter.
    """
    from rcl_interfaces.msg import ParameterDescriptor

    values = {}
    for name, (default, description, *minimum) in spec.items():
        # dynamic typing: we check types ourselves so that e.g. rate_hz:=5 (an int) is accepted as 5.0
        param = node.declare_parameter(name, default, ParameterDescriptor(description=description, dynamic_typing=True))
        value = param.value
        if default is not None and not isinstance(value, type(default)) and not (
            isinstance(default, float) and isinstance(value, int)
        ):
            raise ParameterError(f"parameter '{name}' must be {type(default).__name__}, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if minimum and value < minimum[0]:
                raise ParameterError(f"parameter '{name}' must be at least {minimum[0]}, got {value!r}")
            if not minimum and value <= 0:
                raise ParameterError(f"parameter '{name}' must be positive, got {value!r}")
        values[name] = float(value) if isinstance(default, float) else value
    return values
