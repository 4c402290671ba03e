"""A :class:`~spacetools_ros.robot.backend.RobotBackend` executing motions closed-loop in a :class:`TabletopSim`."""

from __future__ import annotations

import math
import time

import numpy as np

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.robot.backend import MotionResult
from spacetools_ros.robot.joint_motion import JointPath, JointTrajectoryBackend
from spacetools_ros.robot.kinematics import ArmKinematics
from spacetools_ros.robot.profile import PANDA, RobotProfile
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard
from spacetools_ros.robot.sim.pybullet_sim import DT, FINGER_MAX, GRIPPER_SPEED, SIM_HZ, SimCamera, TabletopSim

JOINT_TOLERANCE = 2.0e-3  # rad: settled when every joint is this close to its goal
SETTLE_S = 1.0  # the longest a motion waits at its goal for the arm to settle
BRAKE_S = 0.05  # simulated time stepped after a cancel, holding the joints, to stop the arm


class SimBackend(JointTrajectoryBackend):
    """Motion primitives executed closed-loop in a :class:`TabletopSim`.

    Every primitive checks its goal with the guard and the gate (a dry-run gate executes nothing), steps the
    physics at 240 Hz tracking the planned :class:`~spacetools_ros.robot.joint_motion.JointPath` with the joint
    position motors, checks ``gate.cancelled`` at every step (cancel: the arm holds its current joints and the
    primitive returns ``MotionResult(False, ..., "cancelled")``) and gives up after
    ``guard.config.motion_timeout_s`` (simulated or wall time, whichever comes first).

    camera_hz > 0 renders the camera every 1/camera_hz simulated seconds during motions into ``last_frame``
    (what a streaming camera would cost); 0 (default) renders only on :meth:`capture`. stream_scale < 1 renders
    those streaming frames at a reduced resolution.
    realtime: when True, motions are slowed down to wall-clock time (for visualisation).
    """

    def __init__(
        self,
        sim: TabletopSim,
        guard: MotionGuard | None = None,
        gate: ExecutionGate | None = None,
        profile: RobotProfile = PANDA,
        kinematics: ArmKinematics | None = None,
        *,
        camera_hz: float = 0.0,
        stream_scale: float = 1.0,
        realtime: bool = False,
    ) -> None:
        """Drive ``sim``; guard defaults to the profile's limits with an enabled gate (simulation moves freely)."""
        super().__init__(profile, guard, gate, kinematics, enabled_by_default=True)
        self.sim = sim
        self.camera_hz = float(camera_hz)
        self.stream_scale = float(stream_scale)
        self.realtime = bool(realtime)
        self.last_frame: RGBDFrame | None = None
        self.render_count = 0
        self._next_render = 0.0
        self._sim_elapsed = 0.0

    # ------------------------------------------------------------------------------------- queries
    def capture(self) -> RGBDFrame:
        """Render the world's camera now."""
        frame = self.sim.render()
        self.last_frame = frame
        return frame

    def gripper_width(self) -> float:
        """Sum of the two finger joint positions (m)."""
        return float(np.sum(self.sim.finger_positions()))

    def joint_positions(self) -> np.ndarray:
        """The current arm joints (profile order)."""
        return self.sim.joint_positions()

    # ------------------------------------------------------------------------------------ stepping
    def _hold(self) -> None:
        """Hold the current joints and brake for BRAKE_S simulated seconds."""
        self.sim.set_arm_targets(self.sim.joint_positions())
        self.sim.step(max(1, int(round(BRAKE_S * SIM_HZ))))
        self.sim.set_arm_targets(self.sim.joint_positions())

    def _tick(self, wall_start: float) -> None:
        """One physics step, plus the streaming render and real-time pacing when enabled."""
        self.sim.step()
        self._sim_elapsed += DT
        if self.camera_hz > 0 and self.sim.time >= self._next_render:
            self.last_frame = self.sim.render(self._stream_camera())
            self.render_count += 1
            self._next_render = self.sim.time + 1.0 / self.camera_hz
        if self.realtime:
            lag = self._sim_elapsed - (time.perf_counter() - wall_start)
            if lag > 0:
                time.sleep(lag)

    def _stream_camera(self) -> SimCamera | None:
        """The world's camera at stream_scale of its resolution (None: the world's camera as it is)."""
        cam = self.sim.camera
        if cam is None or self.stream_scale >= 1.0:
            return None
        k = cam.intrinsics
        small = k.scaled(max(1, round(k.width * self.stream_scale)), max(1, round(k.height * self.stream_scale)))
        return SimCamera(small, cam.T_base_camera, cam.near, cam.far, cam.frame_id)

    # ------------------------------------------------------------------------------------ motions
    def execute_path(self, path: JointPath, start: float) -> MotionResult:
        """Track the path at every physics step, then settle at the goal (up to SETTLE_S)."""
        gate, sim = self.gate, self.sim
        timeout = float(self.guard.config.motion_timeout_s)
        steps = max(1, math.ceil(path.duration * SIM_HZ))
        self._sim_elapsed = 0.0
        trajectory = path.q_nodes.copy()
        for k in range(1, steps + 1):
            if gate.cancelled:
                self._hold()
                return MotionResult(False, time.perf_counter() - start, k > 1, "cancelled", trajectory)
            sim.set_arm_targets(*path.state_at(k * path.duration / steps))
            self._tick(start)
            if self._sim_elapsed > timeout or time.perf_counter() - start > timeout:
                self._hold()
                return MotionResult(False, time.perf_counter() - start, True,
                                    f"motion timed out after {timeout:g} s", trajectory)
        goal = path.goal
        sim.set_arm_targets(goal)
        for _ in range(int(SETTLE_S * SIM_HZ)):
            if float(np.max(np.abs(sim.joint_positions() - goal))) < JOINT_TOLERANCE:
                break
            if gate.cancelled:
                self._hold()
                return MotionResult(False, time.perf_counter() - start, True, "cancelled", trajectory)
            self._tick(start)
        err = float(np.max(np.abs(sim.joint_positions() - goal)))
        if err >= JOINT_TOLERANCE * 5:
            return MotionResult(False, time.perf_counter() - start, True,
                                f"goal not reached: joint error {err:.4f} rad (blocked?)", trajectory)
        return MotionResult(True, time.perf_counter() - start, True, "goal reached", trajectory,
                            extras={"sim_time_s": self._sim_elapsed, "joint_error_rad": err})

    def set_gripper(self, width: float) -> MotionResult:
        """Drive both fingers to width / 2 each (force-limited); closing stops on contact, and the force keeps
        squeezing what is held."""
        start = time.perf_counter()
        if not self.gate.check_can_move():
            return MotionResult(False, 0.0, False, "dry run: nothing executed")
        half = float(np.clip(float(width) / 2.0, 0.0, FINGER_MAX))
        sim = self.sim
        sim.set_finger_targets(half)
        self._sim_elapsed = 0.0
        still = 0
        limit = int(max(2.0, 2.0 * FINGER_MAX / GRIPPER_SPEED + 1.0) * SIM_HZ)
        for _ in range(limit):
            if self.gate.cancelled:
                sim.set_finger_targets(float(np.mean(sim.finger_positions())))
                return MotionResult(False, time.perf_counter() - start, True, "cancelled")
            self._tick(start)
            pos, vel = sim.finger_positions(), sim.finger_velocities()
            if np.all(np.abs(pos - half) < 2e-4):
                break
            still = still + 1 if np.all(np.abs(vel) < 2e-3) else 0
            if still >= 12:  # blocked by what is between the fingers
                break
        return MotionResult(True, time.perf_counter() - start, True, f"gripper at {self.gripper_width():.4f} m",
                            extras={"sim_time_s": self._sim_elapsed})

    def stop(self) -> None:
        """Cancel: the running primitive holds the current joints and returns."""
        self.gate.cancel()
