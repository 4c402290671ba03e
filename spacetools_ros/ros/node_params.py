"""Declare node parameters with descriptions and check them at start-up.

The defaults and descriptions live in each node's PARAMETERS dict; config/nodes.yaml holds the same defaults as a
ROS parameters file (test/test_launch_files.py keeps the two equal).
"""

from __future__ import annotations

import math
from typing import Any


class ParameterError(ValueError):
    """A node parameter has a bad value; the message names the parameter."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(name: str, value: Any, default: Any, minimum: Any = None) -> Any:
    """``value`` checked against the parameter's default (its type) and minimum; ParameterError names the parameter.

    Rules: the type of the default (an int is accepted for a float); numbers finite; numbers at least ``minimum``
    (without one: positive); a list default of numbers takes a list of finite numbers (ints accepted). Returns the
    value, floats as float.
    """
    if default is not None and not isinstance(value, type(default)) and not (
        isinstance(default, float) and _is_number(value)
    ):
        raise ParameterError(f"parameter '{name}' must be {type(default).__name__}, got {value!r}")
    if isinstance(default, bool):
        return value
    if _is_number(default):
        if not math.isfinite(value):
            raise ParameterError(f"parameter '{name}' must be a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise ParameterError(f"parameter '{name}' must be at least {minimum}, got {value!r}")
        if minimum is None and value <= 0:
            raise ParameterError(f"parameter '{name}' must be positive, got {value!r}")
        return float(value) if isinstance(default, float) else value
    if isinstance(default, list) and default and _is_number(default[0]):
        bad = [v for v in value if not _is_number(v) or not math.isfinite(v)]
        if bad:
            raise ParameterError(f"parameter '{name}' must be a list of finite numbers, got {value!r}")
        return [float(v) for v in value] if isinstance(default[0], float) else list(value)
    return value


def declare_parameters(node, spec: dict[str, tuple]) -> dict[str, Any]:
    """Declare {name: (default, description[, minimum])} on node and return the checked values.

    A value of the wrong type, a number that is not finite or below its minimum (numbers without one must be
    positive), or a numeric list holding anything but finite numbers raises ParameterError naming the parameter.
    """
    from rcl_interfaces.msg import ParameterDescriptor

    values = {}
    for name, (default, description, *minimum) in spec.items():
        # dynamic typing: we check types ourselves so that e.g. rate_hz:=5 (an int) is accepted as 5.0
        param = node.declare_parameter(name, default, ParameterDescriptor(description=description, dynamic_typing=True))
        values[name] = check_value(name, param.value, default, minimum[0] if minimum else None)
    return values
