"""Grasp and place skills over any backend's primitives, every pose checked by the MotionGuard first."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spacetools_ros.robot.backend import MotionError, MotionResult, RobotBackend
from spacetools_ros.robot.obstacles import grasp_obstacles, place_obstacles
from spacetools_ros.robot.safety import SafetyError

PRE_GRASP_OFFSET_M = 0.10  # start of the straight approach, back along the approach axis
LIFT_M = 0.12  # straight lift after closing, and the height above a place target to descend from
HOLDING_MIN_WIDTH_M = 0.003  # fingers stopped wider than this: something is between them
RELEASE_CLEARANCE_M = 0.015  # the held object's bottom ends this far above the support point when placed: the
# point may lie a little under the real support (a bowl's inner bottom above the table plane the 2D point was cast
# on); closer, the arm would press the object into it
DESCENT_CONTACT_TOLERANCE_M = 0.03  # a place descent blocked this close above its target has touched down
PLACE_FLOOR_MARGIN_M = 0.003  # the lowest place target sits this far above the minimum TCP height
TRANSIT_CLEARANCE_M = 0.22  # the held object's bottom is carried at least this high above the table (clears
# tabletop objects up to ~0.2 m tall, so the carried object does not sweep into them on the way)


@dataclass
class SkillResult:
    """The outcome of a skill, as the robot tools report it."""

    success: bool
    duration_s: float
    message: str
    moved: bool


HALF_TURN = np.diag([-1.0, -1.0, 1.0, 1.0])  # half a turn about the TCP z (approach) axis
JOINT_ROOM_RAD = 0.5  # a grasp whose arm configuration comes this close to a joint limit tries its twin


def _translated(T: np.ndarray, offset_base: np.ndarray) -> np.ndarray:
    out = np.array(T, dtype=np.float64)
    out[:3, 3] += offset_base
    return out


class Manipulator:
    """Pick and place with one backend: pre-grasp, straight approach, close, lift; place, release, retreat.

    Every pose of a skill is checked before the first motion, so a skill whose any step would leave
    the workspace does not start at all.
    """

    def __init__(self, backend: RobotBackend) -> None:
        self.backend = backend
        self.grasp_height_m: float | None = None  # TCP height above the object's bottom when it was grasped

    def _check(self, poses: list[tuple[str, np.ndarray]]) -> None:
        """Every pose of a skill passes the guard before the first motion."""
        guard = self.backend.guard
        for name, pose in poses:
            try:
                guard.check_pose_goal(pose, guard.config.base_frame, guard.config.base_frame)
            except SafetyError as exc:
                raise SafetyError(f"{name} pose refused: {exc}") from None

    def _plan(self, poses: list[tuple[str, np.ndarray]]) -> None:
        """Every pose must be reachable before anything moves."""
        for name, pose in poses:
            result = self.backend.plan_to_pose(pose)
            if not result.success:
                raise MotionError(f"{name} pose is not reachable: {result.message}")

    def _run(self, steps: list) -> None:
        for step in steps:
            if self.backend.gate.cancelled:
                raise MotionError("cancelled")
            result = step()
            if not result.success:
                raise MotionError(result.message or "motion failed")

    def _joint_room(self, pose: np.ndarray) -> float | None:
        """How far (rad) the arm configuration the backend plans for a pose keeps from the nearest joint limit; None
        when the pose is refused or unreachable, or the backend does not report the configuration."""
        guard, profile = self.backend.guard, self.backend.profile
        try:
            guard.check_pose_goal(pose, guard.config.base_frame, guard.config.base_frame)
        except SafetyError:
            return None
        result = self.backend.plan_to_pose(pose)
        if not result.success or result.trajectory is None or len(result.trajectory) == 0:
            return None
        q = np.asarray(result.trajectory, dtype=np.float64)[-1]
        if q.shape != profile.lower_limits.shape:
            return None
        return float(np.min(np.minimum(q - profile.lower_limits, profile.upper_limits - q)))

    def _roomier_twin(self, grasp: np.ndarray) -> np.ndarray:
        """The grasp, or its twin half a turn about the approach axis (the same grip for a parallel-jaw hand) when the
        grasp's arm configuration comes within JOINT_ROOM_RAD of a joint limit and the twin's keeps further away.

        An arm at a limit (the wrist's, typically) cannot turn the held object along with the motions of a place
        that follow: the straight carry fails and the joint-space fallback swings the wrist round, throwing it.
        """
        room = self._joint_room(grasp)
        if room is None or room >= JOINT_ROOM_RAD:
            return grasp
        twin = grasp @ HALF_TURN
        twin_room = self._joint_room(twin)
        return twin if twin_room is not None and twin_room > room else grasp

    def execute_grasp(self, T_base_grasp: np.ndarray, obstacles: Sequence[Any] | None = None) -> SkillResult:
        """Grasp at a base-frame TCP pose (z = approach direction, y = closing direction) and lift.

        obstacles: perceived objects (see :mod:`spacetools_ros.robot.obstacles`); all but the grasped one are
        given to the backend's planner to avoid.
        """
        start = time.perf_counter()
        guard, backend = self.backend.guard, self.backend
        grasp = guard.check_pose_goal(T_base_grasp, guard.config.base_frame, guard.config.base_frame)
        if obstacles is not None:
            backend.set_obstacles(grasp_obstacles(obstacles, grasp[:3, 3]))
        grasp = self._roomier_twin(grasp)  # the same position: the obstacles stay those of the grasp
        pre = _translated(grasp, -PRE_GRASP_OFFSET_M * grasp[:3, 2])
        lift = _translated(grasp, np.array([0.0, 0.0, LIFT_M]))
        self._check([("pre-grasp", pre), ("lift", lift)])
        guard.check_cartesian_path(np.stack([pre[:3, 3], grasp[:3, 3], lift[:3, 3]]))
        self._plan([("pre-grasp", pre), ("grasp", grasp), ("lift", lift)])
        if not guard.check_can_move():
            return SkillResult(True, time.perf_counter() - start, "dry run: grasp planned, nothing moved", False)
        backend.gate.reset_cancel()
        try:
            self._run([lambda: backend.set_gripper(self.backend.profile.gripper_max_opening),
                       lambda: backend.move_to_pose(pre),
                       lambda: backend.move_to_pose(grasp, straight=True),
                       lambda: backend.set_gripper(0.0)])
            holding = backend.gripper_width() > HOLDING_MIN_WIDTH_M
            self._run([lambda: backend.move_to_pose(lift, straight=True)])
            holding = holding and backend.gripper_width() > HOLDING_MIN_WIDTH_M
        except MotionError as exc:
            return SkillResult(False, time.perf_counter() - start, f"Grasp execution failed: {exc}", True)
        self.grasp_height_m = float(grasp[2, 3] - backend.profile.table_height) if holding else None
        message = "Grasp execution succeeded" if holding else "Grasp execution failed: nothing held after closing"
        return SkillResult(holding, time.perf_counter() - start, message, True)

    def place_at(self, point_base: np.ndarray, obstacles: Sequence[Any] | None = None) -> SkillResult:
        """Place the held object with its bottom at a base-frame support point, release, retreat up.

        The object is carried at a transit height (its bottom TRANSIT_CLEARANCE_M above the table, or LIFT_M above
        the place point if that is higher): straight up, across (a straight line, or a joint motion where there is
        no continuous straight one), then straight down. A descent stopped short by contact with the support
        counts as touching down. obstacles: perceived objects; all but the support under the place point and the
        held object are given to the backend's planner to avoid.
        """
        start = time.perf_counter()
        guard, backend = self.backend.guard, self.backend
        point = np.asarray(point_base, dtype=np.float64).reshape(3)
        if not np.isfinite(point).all():
            raise SafetyError("place point is not finite")
        current = backend.tcp_pose()
        if obstacles is not None:
            backend.set_obstacles(place_obstacles(obstacles, point, current[:3, 3]))
        height = self.grasp_height_m if self.grasp_height_m is not None else 0.05
        target = np.array(current, dtype=np.float64)
        target[:3, 3] = point + np.array([0.0, 0.0, height + RELEASE_CLEARANCE_M])
        # a support point at (or, by depth noise, under) the table would put the TCP at the safety floor: stop a
        # little above it instead (the descent ends at contact anyway), so sampled trajectories keep clear of it
        target[2, 3] = max(float(target[2, 3]), guard.config.min_tcp_z + PLACE_FLOOR_MARGIN_M)
        above = _translated(target, np.array([0.0, 0.0, LIFT_M]))
        transit_z = max(float(above[2, 3]), float(backend.profile.table_height) + height + TRANSIT_CLEARANCE_M)
        transit_z = min(transit_z, float(guard.config.workspace_max[2]) - 0.01)
        transit_z = max(transit_z, float(above[2, 3]))
        up = np.array(current, dtype=np.float64)
        up[2, 3] = max(float(current[2, 3]), transit_z)
        over = np.array(target, dtype=np.float64)
        over[2, 3] = max(transit_z, float(above[2, 3]))
        self._check([("place", target), ("above-place", above), ("transit", up), ("transit above place", over)])
        self._plan([("transit", up), ("transit above place", over), ("above-place", above), ("place", target)])
        if not guard.check_can_move():
            return SkillResult(True, time.perf_counter() - start, "dry run: place planned, nothing moved", False)
        backend.gate.reset_cancel()

        def across():
            result = backend.move_to_pose(over, straight=True)
            if not result.success and not result.moved and not backend.gate.cancelled:
                result = backend.move_to_pose(over)
            return result

        def descend():
            result = backend.move_to_pose(target, straight=True)
            if result.success or backend.gate.cancelled:
                return result
            # stopped short by contact: the held object rests on the support if the TCP got (nearly) down
            reached = float(backend.tcp_pose()[2, 3])
            if reached - float(target[2, 3]) <= DESCENT_CONTACT_TOLERANCE_M:
                return MotionResult(True, result.duration_s, True, f"touched down ({result.message})")
            return result

        try:
            steps = []
            if up[2, 3] > current[2, 3] + 1e-3:
                steps.append(lambda: backend.move_to_pose(up, straight=True))
            self._run([*steps, across, descend,
                       lambda: backend.set_gripper(self.backend.profile.gripper_max_opening),
                       lambda: backend.move_to_pose(above, straight=True)])
        except MotionError as exc:
            return SkillResult(False, time.perf_counter() - start, f"Release operation failed: {exc}", True)
        self.grasp_height_m = None
        return SkillResult(True, time.perf_counter() - start, "Release operation succeeded", True)
