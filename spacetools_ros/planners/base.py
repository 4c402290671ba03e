"""The interface every planner (scripted, local model, remote endpoint) implements."""

from __future__ import annotations

import abc
from typing import Any

from spacetools_ros.frames.frame import RGBDFrame


class PlannerError(Exception):
    """The planner cannot go on (it did not understand the task, a backend failed); ends the episode."""


class Planner(abc.ABC):
    """Produces the next assistant message of the conversation.

    messages are chat dicts: {"role": "system"|"user"|"assistant"|"tool", "content": str, ...}.
    Tool messages also carry "name" and "data" (structured results a program may read; a model
    sees only "content"). images are the conversation's images, addressable by image_index.
    """

    name: str = "planner"

    @abc.abstractmethod
    def respond(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> str:
        """The assistant's next message: <think>, then <tool_call> blocks or an <answer>."""
