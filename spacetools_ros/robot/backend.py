"""The interface every arm backend implements (MoveIt on a robot, a simulator, dry run).

Backends offer motion primitives only; every primitive is called with goals that already passed
the MotionGuard, and backends check the gate again before moving. Skills (grasp, place) are
built on the primitives in robot/skills.py, the same for every backend.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.robot.profile import RobotProfile
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard
from spacetools_ros.sources.base import FrameSource, FrameSourceError

CAMERA_TIMEOUT_S = 15.0  # a simulated camera under load can lag well behind its nominal rate


def read_camera(source: FrameSource, timeout: float = CAMERA_TIMEOUT_S) -> RGBDFrame:
    """The camera source's next frame; FrameSourceError when none comes within timeout seconds."""
    frame = source.read(timeout=timeout)
    if frame is None:
        raise FrameSourceError(f"the camera gave no frame within {timeout:g} s")
    return frame


class MotionError(Exception):
    """A motion could not be planned or executed (unreachable, collision, timeout, cancelled)."""


@dataclass
class MotionResult:
    """What a primitive did: whether it succeeded, how long it took and whether anything moved."""

    success: bool
    duration_s: float
    moved: bool
    message: str = ""
    trajectory: np.ndarray | None = None  # (N, 7) joint waypoints planned, when known
    extras: dict = field(default_factory=dict)


class RobotBackend(abc.ABC):
    """Motion primitives of one arm with a parallel gripper, guarded by `guard` and `gate`."""

    def __init__(self, profile: RobotProfile, guard: MotionGuard, gate: ExecutionGate) -> None:
        self.profile = profile
        self.guard = guard
        self.gate = gate

    @abc.abstractmethod
    def capture(self) -> RGBDFrame:
        """A fresh RGB-D frame from the robot's camera (with T_base_camera)."""

    @abc.abstractmethod
    def move_to_pose(self, T_base_tcp: np.ndarray, straight: bool = False,
                     velocity_scaling: float = 0.3) -> MotionResult:
        """Move the TCP to a checked base-frame pose (straight: a Cartesian line from the current pose)."""

    @abc.abstractmethod
    def move_home(self) -> MotionResult:
        """Move to the profile's home state."""

    @abc.abstractmethod
    def set_gripper(self, width: float) -> MotionResult:
        """Open the gripper to width metres (0: close with the grasping force)."""

    @abc.abstractmethod
    def gripper_width(self) -> float:
        """The current finger opening in metres."""

    @abc.abstractmethod
    def tcp_pose(self) -> np.ndarray:
        """The current TCP pose in the base frame (4x4)."""

    def plan_to_pose(self, T_base_tcp: np.ndarray) -> MotionResult:
        """Whether a checked pose can be reached (backends with a planner or IK override this)."""
        return MotionResult(True, 0.0, False, "no planner: reachability not checked")

    def set_obstacles(self, objects: Sequence[Any]) -> list[str]:
        """Make the planner avoid these perceived objects (``centroid_base``, ``extent``, ``id``), replacing the
        ones set before; returns the ids the planner now knows. Backends without a collision-aware planner keep
        this no-op (the simulators' worlds hold the real objects, and contact is physical there)."""
        return []

    def stop(self) -> None:
        """Stop any motion now (cancel); backends override to halt their controllers."""
        self.gate.cancel()
