"""The MoveIt 2 backend of the arm, written against the documented ``moveit_py`` API (ROS 2 Jazzy).

``moveit_py`` is not on PyPI: it comes with MoveIt 2 on a robot PC (``ros-jazzy-moveit-py``). It is imported
lazily, in :class:`MoveItBackend`'s constructor only, so this module imports everywhere. CI does **not** run
this backend against MoveIt: ``test/test_moveit_backend.py`` injects a stand-in ``moveit`` package that
records every call and checks that the backend makes exactly the documented calls, in order, with the right
arguments. Behaviour against a real move_group / controllers must be checked on a robot PC.

What one ``move_to_pose`` does (the recorded call sequence)::

    params = PlanRequestParameters(moveit, plan_request_namespace)   # "" -> the plan_request_params block
    params.max_velocity_scaling_factor = guard.clamp_velocity_scaling(s)
    arm.set_start_state_to_current_state()
    arm.set_goal_state(pose_stamped_msg=<link8 goal in base_link>, pose_link=profile.tip_link)
    result = arm.plan(single_plan_parameters=params)                  # falsy: "MoveIt found no plan"
    msg = result.trajectory.get_robot_trajectory_msg()                # guard.check_trajectory(+ fk box check)
    moveit.execute(result.trajectory, controllers=[])                 # in a worker thread (blocks in Jazzy)
    moveit.get_trajectory_execution_manager().stop_execution()        # only on cancel / timeout

Frames: our goals are TCP poses (``panda_hand_tcp``: 0.1034 m along the flange z, with the hand's orientation,
i.e. rotated -pi/4 about z relative to ``panda_link8``). MoveIt plans for ``profile.tip_link``
(``panda_link8``), so a goal is converted as ``T_base_link8 = T_base_tcp @ inv(T_link8_tcp)``, with
``T_link8_tcp`` taken from the URDF through :class:`~spacetools_ros.robot.kinematics.ArmKinematics`.

Limits (see also the method docstrings):

* ``straight=True`` plans like any other goal: MoveIt's Cartesian path computation is not exposed by
  ``moveit_py`` in Jazzy. Skills apply ``MotionGuard.check_cartesian_path`` to the straight segments before
  calling the backend, and every planned waypoint's TCP is checked against the workspace box here, but the
  executed path is whatever the planner returns, not a guaranteed line.
* The gripper uses the hand group's named states ``open`` / ``close`` (position goals through the hand's
  trajectory controller), not control_msgs/GripperCommand: only "fully open" (width >= max / 2) and "close"
  (width == 0) are supported. Closing on an object may end with the controller reporting a failed execution
  (the fingers cannot reach their goal); the result then says so.
* The PlanRequestParameters namespace defaults to ``""``, i.e. the top-level ``plan_request_params`` block of
  the MoveItPy configuration (moveit_cpp reads ``<ns>.plan_request_params.*`` for a non-empty ``ns``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.robot.backend import MotionError, MotionResult, RobotBackend
from spacetools_ros.robot.profile import RobotProfile
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard, SafetyError
from spacetools_ros.ros.conversions import matrix_to_pose_msg, pose_msg_to_matrix  # noqa: F401 (re-exported)
from spacetools_ros.sources.base import FrameSource, FrameSourceError

__all__ = ["MOVEIT_MISSING_MESSAGE", "MoveItBackend", "pose_msg_to_matrix", "matrix_to_pose_msg"]

_LOG = logging.getLogger(__name__)

MOVEIT_MISSING_MESSAGE = "moveit_py is not installed: run on a robot PC with MoveIt 2 Jazzy (ros-jazzy-moveit-py)"

OPEN_STATE = "open"
"""Named state of the hand group that opens the fingers fully."""
CLOSE_STATE = "close"
"""Named state of the hand group that closes the fingers."""
CAPTURE_TIMEOUT_S = 5.0
"""How long :meth:`MoveItBackend.capture` waits for a frame."""
_POLL_S = 0.005  # how often the calling thread looks at the cancel flag / the clock while a motion executes
_STOP_JOIN_S = 1.0  # how long to wait for execute() to return after stop_execution()
_CLOSED_WIDTH_M = 1.0e-6  # widths at or below this mean "close"


# --------------------------------------------------------------------------------------- conversions


def _seconds(value: Any) -> float:
    """A builtin_interfaces/Duration (sec, nanosec), an rclpy Duration (nanoseconds) or a number, in seconds."""
    if hasattr(value, "sec"):
        return float(value.sec) + 1.0e-9 * float(getattr(value, "nanosec", 0))
    if hasattr(value, "nanoseconds"):
        return 1.0e-9 * float(value.nanoseconds)
    return float(value)


# ------------------------------------------------------------------------------------------ backend


class MoveItBackend(RobotBackend):
    """Motion primitives through ``moveit_py`` (MoveItPy / PlanningComponent), guarded before every motion.

    Every motion is planned, its trajectory checked by :meth:`MotionGuard.check_trajectory` (joint limits,
    speeds, duration, every waypoint's TCP inside the workspace box), and only then executed, in a worker
    thread while the calling thread watches ``gate.cancelled`` and the per-motion timeout
    (``guard.config.motion_timeout_s``); either stops the execution through the trajectory execution manager.
    One motion runs at a time; a primitive called while another runs is refused. In dry run (``gate``) motions
    are planned and checked but never executed.
    """

    def __init__(
        self,
        profile: RobotProfile,
        guard: MotionGuard,
        gate: ExecutionGate,
        node_name: str = "spacetools_moveit",
        config_dict: dict | None = None,
        camera: FrameSource | None = None,
        joint_state_reader: Callable[[], Mapping[str, float]] | None = None,
        *,
        kinematics: Any = None,
        plan_request_namespace: str = "",
        finger_joints: tuple[str, ...] | None = None,
    ) -> None:
        """Start MoveItPy and get the arm's (and hand's) planning components.

        Args:
            profile: the arm (planning_group, tip_link, base_link, hand_group, home_state, joints).
            guard: the checks every goal and trajectory passes.
            gate: execution enable / dry run / cancel (normally ``guard.gate``).
            node_name: MoveItPy's node name.
            config_dict: MoveItPy's parameters (``MoveItConfigsBuilder(...).to_moveit_configs().to_dict()``);
                None: MoveItPy reads them from the node's parameters (launch file).
            camera: the frame source :meth:`capture` reads.
            joint_state_reader: callable returning the latest ``{joint name: position}`` (e.g. from
                /joint_states); used for the gripper width and as a fallback for :meth:`tcp_pose`.
            kinematics: an :class:`~spacetools_ros.robot.kinematics.ArmKinematics` for the profile (built from
                the project URDF when None); gives ``T_link8_tcp`` and the waypoint TCP check.
            plan_request_namespace: namespace of the PlanRequestParameters ("" : the ``plan_request_params``
                block; "ns": the ``ns.plan_request_params`` block).
            finger_joints: the finger joint names (default: ``profile.extras["finger_joints"]``, else every
                joint whose name contains "finger_joint").

        Raises:
            RuntimeError: moveit_py is not installed (:data:`MOVEIT_MISSING_MESSAGE`).
        """
        super().__init__(profile, guard, gate)
        try:
            from moveit.planning import MoveItPy, PlanRequestParameters
        except ImportError as exc:
            raise RuntimeError(MOVEIT_MISSING_MESSAGE) from exc
        if kinematics is None:
            from spacetools_ros.robot.kinematics import ArmKinematics

            kinematics = ArmKinematics(profile=profile)
        self.kinematics = kinematics
        q_ref = np.asarray(kinematics.home, dtype=np.float64)
        self.T_link8_tcp: np.ndarray = np.linalg.inv(kinematics.fk(q_ref, "flange")) @ kinematics.fk(q_ref, "tcp")
        """The TCP in the tip link's frame (constant; from the URDF)."""
        self.camera = camera
        self._obstacle_ids: list[str] = []
        self.joint_state_reader = joint_state_reader
        self.plan_request_namespace = plan_request_namespace
        self.finger_joints = finger_joints if finger_joints is not None else profile.extras.get("finger_joints")
        self._PlanRequestParameters = PlanRequestParameters
        self._motion_lock = threading.Lock()
        self._width_warned = False

        if config_dict is None:
            self.moveit = MoveItPy(node_name=node_name)
        else:
            self.moveit = MoveItPy(node_name=node_name, config_dict=config_dict)
        self.arm = self.moveit.get_planning_component(profile.planning_group)
        self.hand = self.moveit.get_planning_component(profile.hand_group) if profile.hand_group else None

    # ----------------------------------------------------------------------------------- camera
    def capture(self) -> RGBDFrame:
        """A frame from the camera source.

        Raises:
            FrameSourceError: no camera source was given, or it gave no frame within CAPTURE_TIMEOUT_S.
        """
        if self.camera is None:
            raise FrameSourceError("the MoveIt backend has no camera source: pass camera=<FrameSource>")
        frame = self.camera.read(timeout=CAPTURE_TIMEOUT_S)
        if frame is None:
            raise FrameSourceError(f"the camera gave no frame within {CAPTURE_TIMEOUT_S:g} s")
        return frame

    # ----------------------------------------------------------------------------------- frames
    def tip_goal(self, T_base_tcp: np.ndarray) -> np.ndarray:
        """The tip link (``panda_link8``) pose that puts the TCP at ``T_base_tcp``."""
        return np.asarray(T_base_tcp, dtype=np.float64) @ np.linalg.inv(self.T_link8_tcp)

    def pose_stamped(self, T_base_link: np.ndarray) -> Any:
        """A geometry_msgs/PoseStamped of a base-frame pose (frame_id = profile.base_link)."""
        from geometry_msgs.msg import PoseStamped

        msg = PoseStamped()
        msg.header.frame_id = self.profile.base_link
        msg.pose = matrix_to_pose_msg(T_base_link)
        return msg

    # ----------------------------------------------------------------------------------- planning
    def _plan_parameters(self, velocity_scaling: float) -> Any:
        """PlanRequestParameters with the guard-clamped velocity scaling."""
        params = self._PlanRequestParameters(self.moveit, self.plan_request_namespace)
        params.max_velocity_scaling_factor = self.guard.clamp_velocity_scaling(velocity_scaling)
        return params

    def _plan(self, component: Any, goal: dict[str, Any], velocity_scaling: float) -> tuple[Any, str]:
        """Plan ``component`` from the current state to ``goal`` (set_goal_state kwargs).

        Returns (plan result, "") on success, (None, reason) otherwise.
        """
        params = self._plan_parameters(velocity_scaling)
        component.set_start_state_to_current_state()
        accepted = component.set_goal_state(**goal)
        if accepted is False:  # moveit_py returns whether the goal could be set
            return None, f"MoveIt refused the goal state ({', '.join(sorted(goal))})"
        result = component.plan(single_plan_parameters=params)
        if not result:
            code = getattr(getattr(result, "error_code", None), "val", None)
            return None, "MoveIt found no plan" + (f" (error code {code})" if code is not None else "")
        if getattr(result, "trajectory", None) is None:
            return None, "MoveIt found no plan (no trajectory in the result)"
        return result, ""

    def trajectory_arrays(self, trajectory: Any) -> tuple[np.ndarray, np.ndarray]:
        """(positions (N, n_joints) in profile joint order, times (N,)) of a moveit_py RobotTrajectory.

        Reads ``trajectory.get_robot_trajectory_msg().joint_trajectory`` duck-typed: ``joint_names`` and
        ``points[i].positions`` / ``points[i].time_from_start``.

        Raises:
            MotionError: the trajectory is empty or lacks one of the profile's joints.
        """
        msg = trajectory.get_robot_trajectory_msg() if hasattr(trajectory, "get_robot_trajectory_msg") else trajectory
        jt = getattr(msg, "joint_trajectory", msg)
        points = list(getattr(jt, "points", []) or [])
        if not points:
            raise MotionError("MoveIt returned an empty trajectory")
        names = list(getattr(jt, "joint_names", []) or [])
        wanted = self.profile.joint_names
        raw = np.array([[float(v) for v in p.positions] for p in points], dtype=np.float64)
        if names:
            missing = [n for n in wanted if n not in names]
            if missing:
                raise MotionError(f"the planned trajectory lacks joint(s) {', '.join(missing)}")
            positions = raw[:, [names.index(n) for n in wanted]]
        elif raw.shape[1] == len(wanted):
            positions = raw
        else:
            raise MotionError(f"the planned trajectory has {raw.shape[1]} unnamed joints, expected {len(wanted)}")
        times = np.array([_seconds(p.time_from_start) for p in points], dtype=np.float64)
        return positions, times

    def _check_planned(self, result: Any) -> tuple[np.ndarray | None, str, str]:
        """(positions, "", "") when the planned trajectory passes the guard, else (None, message, limit)."""
        try:
            positions, times = self.trajectory_arrays(result.trajectory)
            self.guard.check_trajectory(positions, times, fk=lambda q: self.kinematics.fk(q, "tcp"))
        except SafetyError as exc:
            return None, f"planned trajectory refused by the safety check: {exc}", exc.limit
        except MotionError as exc:
            return None, f"planned trajectory refused: {exc}", "trajectory"
        return positions, "", ""

    # ----------------------------------------------------------------------------------- execution
    @staticmethod
    def _execution_succeeded(status: Any) -> tuple[bool, str]:
        """Interpret moveit.execute()'s return (ExecutionStatus in Jazzy; None or bool elsewhere)."""
        if status is None:
            return True, ""
        text = getattr(status, "status", None)
        if isinstance(text, str):
            return text.upper() == "SUCCEEDED", text
        return bool(status), "" if status else "failed"

    def _stop_execution(self) -> None:
        """Ask MoveIt's trajectory execution manager to stop (errors are logged, not raised)."""
        try:
            self.moveit.get_trajectory_execution_manager().stop_execution()
        except Exception as exc:  # stopping must never raise into the caller
            _LOG.error("stop_execution failed: %s: %s", type(exc).__name__, exc)

    def _execute(self, trajectory: Any, start: float, what: str, planned: np.ndarray | None) -> MotionResult:
        """Run moveit.execute in a worker thread; stop it on cancel or timeout. Returns the MotionResult."""
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def worker() -> None:
            try:
                outcome["status"] = self.moveit.execute(trajectory, controllers=[])
            except Exception as exc:  # reported to the caller below
                outcome["error"] = exc
            finally:
                done.set()

        timeout = float(self.guard.config.motion_timeout_s)
        thread = threading.Thread(target=worker, name="moveit-execute", daemon=True)
        t0 = time.perf_counter()
        thread.start()
        reason = ""
        while not done.wait(_POLL_S):
            if self.gate.cancelled:
                reason = "cancelled"
            elif time.perf_counter() - t0 > timeout:
                reason = f"timeout: {what} took longer than the per-motion timeout {timeout:g} s"
            if reason:
                self._stop_execution()
                thread.join(_STOP_JOIN_S)
                return MotionResult(False, time.perf_counter() - start, True, reason, planned,
                                    {"stopped": True, "execution_finished": done.is_set()})
        if "error" in outcome:
            exc = outcome["error"]
            return MotionResult(False, time.perf_counter() - start, True,
                                f"MoveIt execution failed: {type(exc).__name__}: {exc}", planned)
        ok, status = self._execution_succeeded(outcome.get("status"))
        if self.gate.cancelled:  # cancel arrived as the motion ended
            return MotionResult(False, time.perf_counter() - start, True, "cancelled", planned)
        message = f"{what} executed" if ok else f"MoveIt execution did not succeed ({status or 'failed'})"
        return MotionResult(ok, time.perf_counter() - start, True, message, planned, {"status": status})

    def _motion(self, component: Any, goal: dict[str, Any], velocity_scaling: float, what: str,
                check: bool) -> MotionResult:
        """Gate, plan, check (arm trajectories), execute: the common body of every primitive."""
        start = time.perf_counter()
        may_execute = self.gate.check_can_move()  # SafetyError when disabled (not dry run)
        if self.gate.cancelled:
            return MotionResult(False, 0.0, False, "cancelled")
        if not self._motion_lock.acquire(blocking=False):
            return MotionResult(False, 0.0, False, "another motion is running: stop it or wait")
        try:
            result, reason = self._plan(component, goal, velocity_scaling)
            if result is None:
                return MotionResult(False, time.perf_counter() - start, False, reason)
            planned = None
            if check:
                planned, reason, limit = self._check_planned(result)
                if planned is None:
                    return MotionResult(False, time.perf_counter() - start, False, reason, extras={"limit": limit})
            if not may_execute:
                return MotionResult(True, time.perf_counter() - start, False,
                                    f"dry run: {what} planned and checked, not executed", planned)
            if self.gate.cancelled:
                return MotionResult(False, time.perf_counter() - start, False, "cancelled", planned)
            return self._execute(result.trajectory, start, what, planned)
        finally:
            self._motion_lock.release()

    # ----------------------------------------------------------------------------------- primitives
    def move_to_pose(self, T_base_tcp: np.ndarray, straight: bool = False,
                     velocity_scaling: float = 0.3) -> MotionResult:
        """Move the TCP to a base-frame pose: plan for the tip link, check the trajectory, execute.

        ``straight`` is accepted but planned like any other goal (moveit_py in Jazzy exposes no Cartesian
        path API); the skill has already checked the straight segment with ``check_cartesian_path`` and
        every planned waypoint's TCP is checked against the workspace box here.

        Raises:
            SafetyError: the goal fails the guard, or execution is disabled (and this is not a dry run).
        """
        cfg = self.guard.config
        goal = self.guard.check_pose_goal(T_base_tcp, cfg.base_frame, cfg.base_frame)
        self.guard.clamp_velocity_scaling(velocity_scaling)  # refuse a bad scaling before anything else
        target = self.pose_stamped(self.tip_goal(goal))
        what = "straight move" if straight else "move"
        result = self._motion(self.arm, {"pose_stamped_msg": target, "pose_link": self.profile.tip_link},
                              velocity_scaling, what, check=True)
        if straight:
            result.extras.setdefault("note", "planned as a free motion: moveit_py exposes no Cartesian path API")
        return result

    def plan_to_pose(self, T_base_tcp: np.ndarray) -> MotionResult:
        """Whether MoveIt finds a plan from the current state to a checked TCP pose (nothing moves)."""
        start = time.perf_counter()
        cfg = self.guard.config
        goal = self.guard.check_pose_goal(T_base_tcp, cfg.base_frame, cfg.base_frame)
        if not self._motion_lock.acquire(blocking=False):
            return MotionResult(False, 0.0, False, "another motion is running: stop it or wait")
        try:
            target = self.pose_stamped(self.tip_goal(goal))
            result, reason = self._plan(self.arm, {"pose_stamped_msg": target, "pose_link": self.profile.tip_link},
                                        self.guard.config.max_velocity_scaling)
        finally:
            self._motion_lock.release()
        if result is None:
            return MotionResult(False, time.perf_counter() - start, False, reason)
        return MotionResult(True, time.perf_counter() - start, False, "MoveIt found a plan from the current state")

    def move_home(self, velocity_scaling: float = 0.3) -> MotionResult:
        """Move to the profile's named home state (``set_goal_state(configuration_name=profile.home_state)``)."""
        return self._motion(self.arm, {"configuration_name": self.profile.home_state}, velocity_scaling,
                            f"move to {self.profile.home_state!r}", check=True)

    def set_gripper(self, width: float) -> MotionResult:
        """Open fully or close the fingers through the hand group's named states.

        ``width >= gripper_max_opening / 2`` -> the ``open`` state (fully open, whatever the width asked);
        ``width == 0`` -> the ``close`` state. Other widths are refused (not supported by named states).
        """
        try:
            w = float(width)
        except (TypeError, ValueError):
            return MotionResult(False, 0.0, False, f"gripper width must be a number, got {width!r}")
        if self.hand is None:
            return MotionResult(False, 0.0, False, "the profile has no hand group: the gripper cannot be moved")
        max_opening = float(self.profile.gripper_max_opening)
        if not math.isfinite(w) or w < 0 or w > max_opening + 1e-9:
            return MotionResult(False, 0.0, False, f"gripper width {w:g} m is outside [0, {max_opening:g}] m")
        if w <= _CLOSED_WIDTH_M:
            state = CLOSE_STATE
        elif w >= 0.5 * max_opening:
            state = OPEN_STATE
        else:
            return MotionResult(False, 0.0, False,
                                f"gripper width {w:g} m is not supported: the MoveIt backend only opens fully "
                                f"(width >= {0.5 * max_opening:g} m) or closes (width 0)")
        result = self._motion(self.hand, {"configuration_name": state}, self.guard.config.max_velocity_scaling,
                              f"gripper {state}", check=False)
        result.extras["named_state"] = state
        return result

    def stop(self) -> None:
        """Stop any motion now: trip the gate's cancel and stop MoveIt's trajectory execution."""
        self.gate.cancel()
        self._stop_execution()

    # ----------------------------------------------------------------------------------- state
    def _joint_positions(self) -> Mapping[str, float] | None:
        """The latest {joint: position}: from joint_state_reader, else MoveIt's current state, else None."""
        if self.joint_state_reader is not None:
            return self.joint_state_reader()
        try:
            with self.moveit.get_planning_scene_monitor().read_only() as scene:
                positions = getattr(scene.current_state, "joint_positions", None)
                return dict(positions) if positions is not None else None
        except Exception as exc:
            _LOG.debug("no joint positions from MoveIt's current state: %s", exc)
            return None

    def gripper_width(self) -> float:
        """The finger opening (sum of the finger joints; twice the one finger when only one is reported).

        NaN (with a logged warning) when no joint state is available.
        """
        joints = self._joint_positions()
        if not joints:
            if not self._width_warned:
                _LOG.warning("gripper width unknown: no joint_state_reader given and no joint state from MoveIt")
                self._width_warned = True
            return float("nan")
        names = list(self.finger_joints) if self.finger_joints else [n for n in joints if "finger_joint" in n]
        values = [float(joints[n]) for n in names if n in joints]
        if not values:
            _LOG.warning("gripper width unknown: no finger joint (%s) in the joint state", ", ".join(names) or "none")
            return float("nan")
        return float(sum(values)) if len(values) > 1 else 2.0 * values[0]

    def tcp_pose(self) -> np.ndarray:
        """The current TCP pose in the base frame (4x4).

        From MoveIt's current robot state (``scene.current_state.get_pose(tip_link)``, the tip link in the
        planning frame, which is ``base_link`` for the Panda configs) times ``T_link8_tcp``; else the forward
        kinematics of the joint state from ``joint_state_reader``.

        Raises:
            MotionError: neither source gives the arm's state.
        """
        try:
            with self.moveit.get_planning_scene_monitor().read_only() as scene:
                pose = scene.current_state.get_pose(self.profile.tip_link)
            return pose_msg_to_matrix(pose) @ self.T_link8_tcp
        except Exception as exc:
            _LOG.debug("no tip pose from MoveIt's current state (%s); using joint states", exc)
        joints = self.joint_state_reader() if self.joint_state_reader is not None else None
        if not joints:
            raise MotionError("current TCP pose unknown: no robot state from MoveIt and no joint_state_reader")
        missing = [n for n in self.profile.joint_names if n not in joints]
        if missing:
            raise MotionError(f"current TCP pose unknown: joint state lacks {', '.join(missing)}")
        q = np.array([float(joints[n]) for n in self.profile.joint_names])
        return self.kinematics.fk(q, "tcp")

    # ----------------------------------------------------------------------------------- planning scene
    def add_collision_objects(self, scene_objects: Iterable[Any], *, prefix: str = "object_",
                              padding: float = 0.01) -> list[str]:
        """Add segmented objects to MoveIt's planning scene as boxes; returns the ids added.

        Each object needs ``centroid_base`` (box centre in the base frame; objects without it are skipped
        with a warning), ``extent`` (length, width, height) and ``id``. The footprint's orientation is not
        known (SegmentedObject keeps only its extents), so the box is axis-aligned with a square footprint of
        side hypot(length, width) — it encloses the footprint at any yaw — plus ``padding`` on every side.
        """
        from moveit_msgs.msg import CollisionObject
        from shape_msgs.msg import SolidPrimitive

        messages, ids = [], []
        for k, obj in enumerate(scene_objects):
            centre = getattr(obj, "centroid_base", None)
            if centre is None:
                _LOG.warning("object %s has no base-frame pose (no T_base_camera): not added", getattr(obj, "id", k))
                continue
            length, width, height = (float(v) for v in np.asarray(obj.extent, dtype=np.float64)[:3])
            side = math.hypot(length, width) + 2.0 * padding
            msg = CollisionObject()
            msg.header.frame_id = self.profile.base_link
            msg.id = f"{prefix}{getattr(obj, 'id', k)}"
            T = np.eye(4)
            T[:3, 3] = np.asarray(centre, dtype=np.float64)[:3]
            msg.pose = matrix_to_pose_msg(T)
            box = SolidPrimitive()
            box.type = SolidPrimitive.BOX
            box.dimensions = [side, side, height + 2.0 * padding]
            msg.primitives = [box]
            msg.primitive_poses = [matrix_to_pose_msg(np.eye(4))]
            msg.operation = CollisionObject.ADD
            messages.append(msg)
            ids.append(msg.id)
        if messages:
            with self.moveit.get_planning_scene_monitor().read_write() as scene:
                for msg in messages:
                    scene.apply_collision_object(msg)
        return ids

    def set_obstacles(self, objects: Sequence[Any]) -> list[str]:
        """Replace the perceived objects in MoveIt's planning scene (ids prefixed ``perceived_``) with these."""
        self.remove_collision_objects(self._obstacle_ids)
        self._obstacle_ids = self.add_collision_objects(objects, prefix="perceived_")
        return list(self._obstacle_ids)

    def remove_collision_objects(self, ids: Iterable[str]) -> None:
        """Remove collision objects (by id) from MoveIt's planning scene."""
        from moveit_msgs.msg import CollisionObject

        messages = []
        for object_id in ids:
            msg = CollisionObject()
            msg.header.frame_id = self.profile.base_link
            msg.id = str(object_id)
            msg.operation = CollisionObject.REMOVE
            messages.append(msg)
        if messages:
            with self.moveit.get_planning_scene_monitor().read_write() as scene:
                for msg in messages:
                    scene.apply_collision_object(msg)
