"""Reading the loop's messages for model planners: roles, and where each image goes in a message's text."""

from __future__ import annotations

from typing import Any

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.planners.base import PlannerError

ROLES = ("system", "user", "assistant", "tool")
IMAGE_MARKER = "<image>"


def message_role(message: dict[str, Any], number: int) -> str:
    """The message's role; PlannerError for anything but system, user, assistant or tool."""
    role = message.get("role")
    if role not in ROLES:
        raise PlannerError(f"message {number} has role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def message_text(content: Any) -> str:
    """A message's content as text."""
    return content if isinstance(content, str) else ("" if content is None else str(content))


def interleave(text: str, indices: list[Any], images: list[RGBDFrame], number: int) -> list[tuple[str, Any]]:
    """A message as ("text", str) and ("image", image_index) pieces in order.

    Each image of indices replaces the next "<image>" marker of the text, or follows the text when no
    marker is left; a marker without an image stays text. PlannerError for an image index out of range.
    """
    for index in indices:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(images):
            raise PlannerError(f"message {number} shows image_index {index!r}, but the conversation has "
                               f"{len(images)} image(s)")
    pending = iter(indices)
    pieces: list[tuple[str, Any]] = []
    for i, part in enumerate(text.split(IMAGE_MARKER)):
        if i > 0:
            index = next(pending, None)
            pieces.append(("text", IMAGE_MARKER) if index is None else ("image", index))
        if part:
            pieces.append(("text", part))
    pieces.extend(("image", index) for index in pending)
    merged: list[tuple[str, Any]] = []  # adjacent texts (around a stray marker) become one
    for kind, value in pieces:
        if kind == "text" and merged and merged[-1][0] == "text":
            merged[-1] = ("text", merged[-1][1] + value)
        else:
            merged.append((kind, value))
    return merged
