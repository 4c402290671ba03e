"""A :class:`RobotBackend` that drives sim_node over ROS (robot.backend ``ros_sim``).

Reads /joint_states, plans with IK locally (:class:`~spacetools_ros.robot.joint_motion.JointTrajectoryBackend`),
checks every sampled joint trajectory with :meth:`MotionGuard.check_trajectory`, publishes it as
trajectory_msgs/JointTrajectory on /spacetools/sim/joint_command and waits (polling ``gate.cancelled`` every
10 ms) until /joint_states reach the goal; a cancel publishes an empty trajectory (sim_node stops and holds).
Progress is measured in simulated time (the /joint_states header stamps), so a simulation running slower than
the wall clock does not time motions out; liveness in wall time (no /joint_states for STATE_WAIT_S: failed).
The gripper is commanded with std_msgs/Float64 (opening width, m). Frames come from the camera source (the
agent node's TopicSource). The node must be spun by an executor on another thread (agent_node's executor)
while a primitive waits.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.robot.backend import MotionResult, read_camera
from spacetools_ros.robot.joint_motion import CHECK_HZ, JointPath, JointTrajectoryBackend
from spacetools_ros.robot.kinematics import ArmKinematics
from spacetools_ros.robot.profile import PANDA, RobotProfile
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard
from spacetools_ros.sources.base import FrameSource, FrameSourceError

JOINT_COMMAND_TOPIC = "/spacetools/sim/joint_command"
GRIPPER_COMMAND_TOPIC = "/spacetools/sim/gripper_command"
JOINT_STATES_TOPIC = "/joint_states"

JOINT_TOLERANCE = 2.0e-3  # rad: reached
JOINT_TOLERANCE_FINAL = 1.0e-2  # rad: still accepted once the settling time is over
SETTLE_S = 1.5  # simulated seconds
POLL_S = 0.01
STATE_WAIT_S = 5.0
GRIPPER_WAIT_S = 4.0  # simulated seconds


class RosSimBackend(JointTrajectoryBackend):
    """Motion primitives executed by sim_node, commanded over standard ROS interfaces."""

    def __init__(
        self,
        node,
        camera: FrameSource,
        guard: MotionGuard | None = None,
        gate: ExecutionGate | None = None,
        profile: RobotProfile = PANDA,
        kinematics: ArmKinematics | None = None,
    ) -> None:
        """Subscribe /joint_states and create the command publishers on ``node`` (spun elsewhere)."""
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64
        from trajectory_msgs.msg import JointTrajectory

        from spacetools_ros.ros.qos import command_qos

        super().__init__(profile, guard, gate, kinematics, enabled_by_default=False)
        self.node = node
        self.camera = camera
        self._names = list(profile.joint_names)
        self._fingers_names = list(profile.finger_joints)
        self._cond = threading.Condition()
        self._q: np.ndarray | None = None
        self._fingers = np.zeros(len(self._fingers_names))
        self._finger_vel = np.zeros(len(self._fingers_names))
        self._stamp = 0.0
        self._sim_stamp = 0.0
        self._traj_pub = node.create_publisher(JointTrajectory, JOINT_COMMAND_TOPIC, command_qos())
        self._grip_pub = node.create_publisher(Float64, GRIPPER_COMMAND_TOPIC, command_qos())
        node.create_subscription(JointState, JOINT_STATES_TOPIC, self._on_joint_states, 10)

    # ------------------------------------------------------------------------------------- state
    def _on_joint_states(self, msg) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if any(n not in index for n in (*self._names, *self._fingers_names)):
            return
        pos = np.asarray(msg.position, dtype=float)
        vel = np.asarray(msg.velocity, dtype=float) if len(msg.velocity) == len(msg.name) else np.zeros(len(pos))
        with self._cond:
            self._q = pos[[index[n] for n in self._names]]
            self._fingers = pos[[index[n] for n in self._fingers_names]]
            self._finger_vel = vel[[index[n] for n in self._fingers_names]]
            self._stamp = time.monotonic()
            self._sim_stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
            self._cond.notify_all()

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(arm joints, finger positions, finger velocities, simulated time of the message); waits for the first
        message and raises when none came for STATE_WAIT_S (wall seconds)."""
        with self._cond:
            if self._q is None and not self._cond.wait_for(lambda: self._q is not None, STATE_WAIT_S):
                raise FrameSourceError(f"no {JOINT_STATES_TOPIC} within {STATE_WAIT_S} s: is sim_node running?")
            if time.monotonic() - self._stamp > STATE_WAIT_S:
                raise FrameSourceError(f"{JOINT_STATES_TOPIC} stopped {time.monotonic() - self._stamp:.1f} s ago: "
                                       "is sim_node running?")
            return self._q.copy(), self._fingers.copy(), self._finger_vel.copy(), self._sim_stamp

    def joint_positions(self) -> np.ndarray:
        """The current arm joints (profile order) from /joint_states."""
        return self._state()[0]

    def capture(self) -> RGBDFrame:
        """The camera's next frame."""
        return read_camera(self.camera)

    def gripper_width(self) -> float:
        """Sum of the finger joint positions (m)."""
        return float(np.sum(self._state()[1]))

    # ------------------------------------------------------------------------------------ motions
    def _publish_trajectory(self, times: np.ndarray, positions: np.ndarray) -> None:
        from builtin_interfaces.msg import Duration
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        msg = JointTrajectory()
        msg.joint_names = list(self._names)
        for t, q in zip(times, positions, strict=True):
            sec = int(t)
            msg.points.append(JointTrajectoryPoint(
                positions=[float(v) for v in q],
                time_from_start=Duration(sec=sec, nanosec=int(round((float(t) - sec) * 1e9)))))
        self._traj_pub.publish(msg)

    def _stop_motion(self) -> None:
        """An empty trajectory: sim_node stops and holds."""
        from trajectory_msgs.msg import JointTrajectory

        self._traj_pub.publish(JointTrajectory(joint_names=list(self._names)))

    def execute_path(self, path: JointPath, start: float) -> MotionResult:
        """Publish the (checked) path sampled at CHECK_HZ and follow /joint_states until they reach its goal (or a
        cancel or timeout stops it)."""
        times, positions = path.sample(CHECK_HZ)
        goal, total = path.goal, float(times[-1])
        deadline = min(float(self.guard.config.motion_timeout_s), total + SETTLE_S + 5.0)  # simulated seconds
        sent = self._state()[3]
        self._publish_trajectory(times, positions)
        while True:
            if self.gate.cancelled:
                self._stop_motion()
                return MotionResult(False, time.perf_counter() - start, True, "cancelled", path.q_nodes)
            try:
                q, _, _, now = self._state()
            except FrameSourceError as exc:  # sim_node went silent mid-motion: command a stop, report why
                self._stop_motion()
                return MotionResult(False, time.perf_counter() - start, True, str(exc), path.q_nodes)
            elapsed = now - sent
            err = float(np.max(np.abs(q - goal)))
            if elapsed >= total and err < JOINT_TOLERANCE:
                break
            if elapsed >= total + SETTLE_S and err < JOINT_TOLERANCE_FINAL:
                break
            if elapsed > deadline:
                self._stop_motion()
                return MotionResult(False, time.perf_counter() - start, True,
                                    f"goal not reached: joint error {err:.4f} rad after {elapsed:.1f} s (blocked?)",
                                    path.q_nodes)
            time.sleep(POLL_S)
        return MotionResult(True, time.perf_counter() - start, True, "goal reached", path.q_nodes,
                            extras={"trajectory_s": total, "joint_error_rad": err})

    def set_gripper(self, width: float) -> MotionResult:
        """Command the opening (force-limited in the sim) and wait until the fingers arrive or stop moving."""
        from std_msgs.msg import Float64

        start = time.perf_counter()
        if not self.gate.check_can_move():
            return MotionResult(False, 0.0, False, "dry run: nothing executed")
        half = float(np.clip(float(width), 0.0, self.profile.gripper_max_opening)) / 2.0
        sent = self._state()[3]
        self._grip_pub.publish(Float64(data=2.0 * half))
        still = 0
        last = sent
        while True:
            if self.gate.cancelled:
                self._grip_pub.publish(Float64(data=float(np.sum(self._state()[1]))))
                return MotionResult(False, time.perf_counter() - start, True, "cancelled")
            try:
                _, fingers, vel, now = self._state()
            except FrameSourceError as exc:
                return MotionResult(False, time.perf_counter() - start, True, str(exc))
            if now - sent > GRIPPER_WAIT_S:
                break
            if now > last and now - sent > 0.1:  # a new state, after the fingers had time to start
                last = now
                if np.all(np.abs(fingers - half) < 2e-4):
                    break
                still = still + 1 if np.all(np.abs(vel) < 2e-3) else 0
                if still >= 12:  # blocked by what is between the fingers
                    break
            time.sleep(POLL_S)
        return MotionResult(True, time.perf_counter() - start, True, f"gripper at {self.gripper_width():.4f} m")

    def stop(self) -> None:
        """Cancel: the running primitive publishes an empty trajectory (stop and hold) and returns."""
        self.gate.cancel()
