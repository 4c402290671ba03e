"""The dry-run backend: checks and plans every motion, never moves (its state changes only on paper)."""

from __future__ import annotations

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.robot.backend import MotionResult, RobotBackend, read_camera
from spacetools_ros.robot.profile import RobotProfile
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard
from spacetools_ros.sources.base import FrameSource


class DryRunBackend(RobotBackend):
    """Frames from a source; motions are checked (and, with kinematics, solved by IK) but not executed.

    `planned` records every pose that passed, for visualisation of the intended motion.
    """

    def __init__(self, profile: RobotProfile, guard: MotionGuard, source: FrameSource, kinematics=None) -> None:
        gate = guard.gate if guard.gate is not None else ExecutionGate(dry_run=True)
        gate.set_dry_run(True)
        super().__init__(profile, guard, gate)
        self.source = source
        self.kinematics = kinematics
        self.planned: list[np.ndarray] = []
        self._width = profile.gripper_max_opening
        self._pose = np.eye(4)

    def capture(self) -> RGBDFrame:
        """The source's next frame."""
        return read_camera(self.source)

    def plan_to_pose(self, T_base_tcp: np.ndarray) -> MotionResult:
        """IK when kinematics are available; the pose is recorded as planned."""
        if self.kinematics is not None and self.kinematics.ik(T_base_tcp) is None:
            return MotionResult(False, 0.0, False, "no inverse-kinematics solution within the joint limits")
        self.planned.append(np.array(T_base_tcp))
        return MotionResult(True, 0.0, False, "planned")

    def move_to_pose(self, T_base_tcp: np.ndarray, straight: bool = False,
                     velocity_scaling: float = 0.3) -> MotionResult:
        """Never called while the gate is in dry run; refuses if it is."""
        return MotionResult(False, 0.0, False, "the dry-run backend never moves")

    def move_home(self) -> MotionResult:
        """Nothing to do."""
        return MotionResult(True, 0.0, False, "dry run: home planned")

    def set_gripper(self, width: float) -> MotionResult:
        """Nothing to do."""
        return MotionResult(True, 0.0, False, "dry run: gripper command planned")

    def gripper_width(self) -> float:
        """The width last commanded on paper."""
        return self._width

    def tcp_pose(self) -> np.ndarray:
        """The last planned pose (identity before any)."""
        return self.planned[-1] if self.planned else self._pose
