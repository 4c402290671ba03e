"""Interfaces of the swappable perception backends (classical defaults, transformers models).

Every backend works on plain numpy: rgb uint8 HxWx3, depth float32 metres, points normalised to
[0, 1] with (0, 0) at the top-left. Backends raise BackendError with a message a model can read.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame


class BackendError(Exception):
    """A backend cannot do what was asked (nothing matches, no depth, model failure)."""


@dataclass
class Detection:
    """A referred object or place: a normalised point, with an optional normalised box and a score."""

    point: tuple[float, float]
    score: float = 1.0
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 normalised
    label: str = ""


class PointingBackend(abc.ABC):
    """Points at what a phrase refers to ("the red cup", "an empty spot left of the bowl")."""

    @abc.abstractmethod
    def detect(self, frame: RGBDFrame, phrase: str, max_results: int) -> list[Detection]:
        """Detections best first (at most max_results); BackendError when nothing matches."""


class SegmentationBackend(abc.ABC):
    """Segments the object under one or more points."""

    @abc.abstractmethod
    def segment(self, frame: RGBDFrame, points: np.ndarray) -> tuple[np.ndarray, float]:
        """(HxW bool mask, score) of the object under points (Kx2 normalised, all on the object)."""


class DepthBackend(abc.ABC):
    """Metric depth for a frame."""

    @abc.abstractmethod
    def estimate(self, frame: RGBDFrame) -> tuple[np.ndarray, float]:
        """(HxW float32 depth in metres, focal length in pixels)."""
