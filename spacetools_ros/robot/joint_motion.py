"""Joint-space motions planned from IK: the shared planning half of backends that execute joint trajectories.

A motion is a :class:`JointPath`: joint waypoints ``q_nodes`` at path parameters ``s_nodes`` (0..1, q piecewise
linear in s) traversed with a minimum-jerk time scaling s(t) over ``duration``. Free motions have two waypoints
(the current joints and an IK solution); straight motions have IK waypoints every 5 mm (and 0.05 rad) along the
Cartesian line. The duration keeps every joint within ``velocity_limits * velocity_scaling`` and the TCP within
CARTESIAN_SPEED * velocity_scaling.

:class:`JointTrajectoryBackend` implements plan_to_pose / move_to_pose / move_home on top of two primitives a
concrete backend supplies: :meth:`~JointTrajectoryBackend.joint_positions` and
:meth:`~JointTrajectoryBackend.execute_path`. The simulator backend tracks the path at 240 Hz in-process; the
ROS simulator backend samples it into a trajectory_msgs/JointTrajectory.
"""

from __future__ import annotations

import abc
import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from spacetools_ros.robot.backend import MotionResult, RobotBackend
from spacetools_ros.robot.kinematics import ArmKinematics
from spacetools_ros.robot.profile import RobotProfile
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard

CARTESIAN_SPEED = 0.5  # m/s peak TCP speed of straight motions at velocity scaling 1
STRAIGHT_STEP_M = 0.005  # IK waypoint spacing along straight motions
STRAIGHT_STEP_RAD = 0.05
MAX_WAYPOINT_JUMP = 0.25  # rad: larger joint changes between straight-line waypoints mean a branch switch
MIN_JERK_PEAK = 1.875  # peak speed of the minimum-jerk profile / mean speed
VELOCITY_MARGIN = 1.02  # the slowest joint runs this much below its (scaled) limit
MIN_DURATION_S = 0.2
CHECK_HZ = 50.0  # a path is checked (joint limits and speeds, TCP in the workspace) at this many samples per second
NO_IK = "no inverse-kinematics solution within the joint limits"
START_LIMIT_TOLERANCE_RAD = 0.01  # a measured start this close past a limit (contact, settling) counts as at it


def min_jerk(s: np.ndarray | float) -> np.ndarray | float:
    """Minimum-jerk time scaling of a normalised time in [0, 1]."""
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s * s)


def min_jerk_rate(s: np.ndarray | float) -> np.ndarray | float:
    """d/ds of :func:`min_jerk`."""
    s = np.clip(s, 0.0, 1.0)
    return 30.0 * s * s * (1.0 - s) ** 2


@dataclass
class JointPath:
    """Joint waypoints q_nodes (Kx7) at increasing path parameters s_nodes (K, 0..1), timed over duration (s)."""

    s_nodes: np.ndarray
    q_nodes: np.ndarray
    duration: float

    @property
    def goal(self) -> np.ndarray:
        """The last waypoint."""
        return self.q_nodes[-1]

    def state_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(joint positions, joint velocities) at t seconds after the start (held at the goal after the end)."""
        tau = float(np.clip(t / self.duration, 0.0, 1.0))
        s = float(min_jerk(tau))
        sdot = float(min_jerk_rate(tau)) / self.duration
        i = int(np.clip(np.searchsorted(self.s_nodes, s, side="right") - 1, 0, len(self.s_nodes) - 2))
        slope = (self.q_nodes[i + 1] - self.q_nodes[i]) / max(self.s_nodes[i + 1] - self.s_nodes[i], 1e-12)
        return self.q_nodes[i] + (s - self.s_nodes[i]) * slope, slope * sdot

    def sample(self, hz: float) -> tuple[np.ndarray, np.ndarray]:
        """(times after the start, Nx7 positions) at hz, ending exactly at (duration, goal)."""
        n = max(2, math.ceil(self.duration * hz))
        times = np.linspace(0.0, self.duration, n + 1)[1:]
        positions = np.stack([self.state_at(float(t))[0] for t in times])
        positions[-1] = self.goal
        return times, positions


class JointTrajectoryBackend(RobotBackend):
    """A backend whose motions are IK-planned :class:`JointPath`s; subclasses execute them.

    Every motion's goal is checked by the guard (pose goal, straight-line path, joint goal, then the timed path
    sampled at CHECK_HZ: joint limits and speeds, the TCP inside the workspace) and the gate (a dry-run or
    disabled gate executes nothing) before :meth:`execute_path` runs.
    """

    def __init__(self, profile: RobotProfile, guard: MotionGuard | None, gate: ExecutionGate | None,
                 kinematics: ArmKinematics | None = None, enabled_by_default: bool = False) -> None:
        """Plan with ``kinematics`` (default: the profile's arm). Without a gate: the guard's, or a new one
        (enabled when ``enabled_by_default``); without a guard: the profile's limits on that gate."""
        if gate is None:
            gate = guard.gate if guard is not None else ExecutionGate(enabled=enabled_by_default)
        if guard is None:
            guard = MotionGuard.from_profile(profile, gate)
        super().__init__(profile, guard, gate)
        self.kinematics = kinematics if kinematics is not None else ArmKinematics(profile=profile)
        self._vel = np.asarray(profile.velocity_limits, dtype=float)

    @abc.abstractmethod
    def joint_positions(self) -> np.ndarray:
        """The current arm joints (profile order)."""

    @abc.abstractmethod
    def execute_path(self, path: JointPath, start: float) -> MotionResult:
        """Run a checked path (``start``: perf_counter at the command, for the result's execution time)."""

    def check_path(self, path: JointPath) -> tuple[np.ndarray, np.ndarray]:
        """The guard's trajectory check (joint limits, speeds, every sample's TCP in the workspace) of the path
        sampled at CHECK_HZ; returns (times, positions) with the start at t = 0. Raises SafetyError."""
        times, positions = path.sample(CHECK_HZ)
        times, positions = np.concatenate([[0.0], times]), np.vstack([path.q_nodes[0], positions])
        self.guard.check_trajectory(positions, times, fk=self.kinematics.fk)
        return times, positions

    def tcp_pose(self) -> np.ndarray:
        """FK of the current joints (4x4, base frame)."""
        return self.kinematics.fk(self.joint_positions())

    def start_joints(self) -> np.ndarray:
        """The measured joints a motion starts from, moved onto a limit they overshoot by at most
        START_LIMIT_TOLERANCE_RAD (an arm pushed by a contact or settling at a limit must still be able to move
        away from it); further past a limit they are returned as they are and the guard refuses the motion."""
        q = np.asarray(self.joint_positions(), dtype=float)
        lower, upper = self.profile.lower_limits, self.profile.upper_limits
        near = (q >= lower - START_LIMIT_TOLERANCE_RAD) & (q <= upper + START_LIMIT_TOLERANCE_RAD)
        return np.where(near, np.clip(q, lower, upper), q)

    def solve(self, T: np.ndarray, q0: np.ndarray) -> np.ndarray | None:
        """IK from q0, then from home, then with random restarts (None when none converges within the limits)."""
        ik = self.kinematics.ik
        for seed, restarts in ((q0, 0), (self.kinematics.home, 0), (q0, 20)):
            q = ik(T, seed, restarts=restarts)
            if q is not None:
                return q
        return None

    def plan_to_pose(self, T_base_tcp: np.ndarray) -> MotionResult:
        """Reachable when IK finds a solution within the joint limits."""
        start = time.perf_counter()
        q0 = self.start_joints()
        q = self.solve(np.asarray(T_base_tcp, dtype=float), q0)
        if q is None:
            return MotionResult(False, time.perf_counter() - start, False, NO_IK)
        return MotionResult(True, time.perf_counter() - start, False, "IK solution found", trajectory=np.stack([q0, q]))

    def move_to_pose(self, T_base_tcp: np.ndarray, straight: bool = False,
                     velocity_scaling: float = 0.3) -> MotionResult:
        """IK to the checked pose, then a joint-space (or, straight, Cartesian-line) minimum-jerk motion."""
        start = time.perf_counter()
        cfg = self.guard.config
        goal = self.guard.check_pose_goal(T_base_tcp, cfg.base_frame, cfg.base_frame)
        scaling = self.guard.clamp_velocity_scaling(velocity_scaling)
        if not self.gate.check_can_move():
            return MotionResult(False, 0.0, False, "dry run: nothing executed")
        q0 = self.start_joints()
        if straight:
            path = self.straight_path(goal, q0)
            if isinstance(path, str):
                return MotionResult(False, time.perf_counter() - start, False, path)
            s_nodes, q_nodes = path
            length = float(np.linalg.norm(goal[:3, 3] - self.kinematics.fk(q0)[:3, 3]))
            cartesian_s = MIN_JERK_PEAK * length / (CARTESIAN_SPEED * scaling)
        else:
            q1 = self.solve(goal, q0)
            if q1 is None:
                return MotionResult(False, time.perf_counter() - start, False, NO_IK)
            s_nodes, q_nodes, cartesian_s = np.array([0.0, 1.0]), np.stack([q0, q1]), 0.0
        self.guard.check_joint_goal(q_nodes[-1])
        path = self.timed(s_nodes, q_nodes, scaling, cartesian_s)
        self.check_path(path)
        return self.execute_path(path, start)

    def move_home(self, velocity_scaling: float = 0.3) -> MotionResult:
        """A joint-space motion to the profile's home configuration."""
        start = time.perf_counter()
        q1 = self.guard.check_joint_goal(np.asarray(self.profile.home, dtype=float))
        scaling = self.guard.clamp_velocity_scaling(velocity_scaling)
        if not self.gate.check_can_move():
            return MotionResult(False, 0.0, False, "dry run: nothing executed")
        path = self.timed(np.array([0.0, 1.0]), np.stack([self.start_joints(), q1]), scaling)
        self.check_path(path)
        return self.execute_path(path, start)

    def timed(self, s_nodes: np.ndarray, q_nodes: np.ndarray, scaling: float, min_duration: float = 0.0) -> JointPath:
        """The path with the shortest duration (at least min_duration) keeping every joint within its scaled limit:
        max |dq/ds| * peak ds/dt <= limit * scaling."""
        ds = np.maximum(np.diff(s_nodes), 1e-9)
        rate = float(np.max(np.abs(np.diff(q_nodes, axis=0)) / ds[:, None] / self._vel[None, :]))
        duration = max(min_duration, VELOCITY_MARGIN * MIN_JERK_PEAK * rate / scaling, MIN_DURATION_S)
        return JointPath(np.asarray(s_nodes, dtype=float), np.asarray(q_nodes, dtype=float), duration)

    def straight_path(self, goal: np.ndarray, q0: np.ndarray) -> tuple[np.ndarray, np.ndarray] | str:
        """(path parameters, joint waypoints) along the Cartesian line from FK(q0) to goal, or why there is none."""
        T0 = self.kinematics.fk(q0)
        p0, p1 = T0[:3, 3], goal[:3, 3]
        rots = Rotation.from_matrix(np.stack([T0[:3, :3], goal[:3, :3]]))
        angle = float((rots[0].inv() * rots[1]).magnitude())
        n = max(2, math.ceil(float(np.linalg.norm(p1 - p0)) / STRAIGHT_STEP_M), math.ceil(angle / STRAIGHT_STEP_RAD))
        s = np.linspace(0.0, 1.0, n + 1)
        points = p0[None, :] + s[:, None] * (p1 - p0)[None, :]
        self.guard.check_cartesian_path(points)
        mats = Slerp([0.0, 1.0], rots)(s).as_matrix()
        qs = [q0]
        for i in range(1, n + 1):
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = mats[i], points[i]
            q = self.kinematics.ik(T, qs[-1], restarts=0)
            if q is None or np.max(np.abs(q - qs[-1])) > MAX_WAYPOINT_JUMP:
                return f"no continuous straight-line IK solution at {100.0 * s[i]:.0f}% of the path"
            qs.append(q)
        return s, np.stack(qs)
