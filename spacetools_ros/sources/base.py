"""The one interface every frame source implements."""

from __future__ import annotations

import abc
from collections.abc import Iterator

from spacetools_ros.frames.frame import RGBDFrame


class FrameSourceError(RuntimeError):
    """A source cannot deliver frames (missing files, no device, bad recording)."""


class FrameSource(abc.ABC):
    """A producer of RGB-D frames: a folder, a bag, live topics, a device or a generator.

    Use as a context manager; read() returns the next frame or None when the source is exhausted
    (or, for live sources, when no frame arrived within the timeout).
    """

    def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire resources (files, devices, subscriptions)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    @abc.abstractmethod
    def read(self, timeout: float | None = None) -> RGBDFrame | None:
        """The next frame, or None when exhausted (or timed out)."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[RGBDFrame]:
        while (frame := self.read()) is not None:
            yield frame
