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
    The user message and tool messages carry "image_indices": the images (indices into `images`)
    that message shows, in order: the user message shows image 0, a tool message the images its
    call added. Tool messages also carry "name", "ok" and "data" (structured results a program may
    read; a model sees only "content" and the images). images are the conversation's RGB-D frames,
    addressable by image_index; a model sees their rgb.
    """

    name: str = "planner"

    @abc.abstractmethod
    def respond(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> str:
        """The assistant's next message: <think>, then <tool_call> blocks or an <answer>."""
