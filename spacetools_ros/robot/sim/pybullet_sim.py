"""A PyBullet tabletop world with the Panda, and a :class:`~spacetools_ros.robot.backend.RobotBackend` on it.

World (PyBullet world frame = the robot base frame ``panda_link0`` = ``base_link`` of the frames):

* a table, the same as :mod:`spacetools_ros.sources.synthetic`'s: top at z = 0, x 0.3..0.9 m, y -0.4..0.4 m,
  3 cm thick; a floor at z = -0.75 m and a pedestal under the robot base (outside the table);
* the Panda of ``urdf/panda.urdf``, fixed at the origin (its base at z = 0, level with the table top);
* objects from :class:`~spacetools_ros.sources.synthetic.SceneObjectSpec` (boxes and vertical cylinders,
  0.05-0.3 kg, lateral friction 1.0; the fingers' friction is higher, 1.8);
* a pinhole camera with a synthetic frame's intrinsics and ``T_base_camera`` (:func:`camera_from_scene`),
  rendered with PyBullet's CPU renderer (``ER_TINY_RENDERER``) into an :class:`RGBDFrame` with metric depth.

Physics runs at 240 Hz in DIRECT mode (no GUI); a world is deterministic for a given seed and command
sequence. :class:`SimBackend` executes motion primitives closed-loop on it: IK (pinocchio,
:class:`~spacetools_ros.robot.kinematics.ArmKinematics`) seeded from the current joints, a smooth (minimum-jerk)
joint-space trajectory tracked by PyBullet's joint position motors (straight motions: IK along the Cartesian
line every 5 mm), checking the execution gate's cancel flag at every 240 Hz control step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as pb
from scipy.spatial.transform import Rotation, Slerp

from spacetools_ros.frames.frame import DEFAULT_BASE_FRAME_ID, DEFAULT_CAMERA_FRAME_ID, Intrinsics, RGBDFrame
from spacetools_ros.robot.backend import MotionResult, RobotBackend
from spacetools_ros.robot.kinematics import DEFAULT_URDF_PATH, ArmKinematics
from spacetools_ros.robot.profile import PANDA, RobotProfile
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard
from spacetools_ros.sources.synthetic import (
    FLOOR_RGB,
    FLOOR_Z,
    TABLE_RGB,
    TABLE_THICKNESS,
    TABLE_X,
    TABLE_Y,
    SceneObjectSpec,
    SyntheticScene,
)

SIM_HZ = 240.0
"""Physics (and control) rate."""
DT = 1.0 / SIM_HZ

FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
TCP_LINK = "panda_hand_tcp"
FINGER_MAX = 0.04  # travel of one finger (m)

OBJECT_DENSITY = 500.0  # kg/m^3, clipped to the mass range below
OBJECT_MASS_RANGE = (0.05, 0.3)
OBJECT_FRICTION = 1.0
FINGER_FRICTION = 1.8
GRIPPER_FORCE_N = 50.0  # per finger
GRIPPER_SPEED = 0.1  # m/s per finger

CARTESIAN_SPEED = 0.5  # m/s peak TCP speed of straight motions at velocity scaling 1
STRAIGHT_STEP_M = 0.005  # IK waypoint spacing along straight motions
STRAIGHT_STEP_RAD = 0.05
MAX_WAYPOINT_JUMP = 0.25  # rad: larger joint changes between straight-line waypoints mean a branch switch
MIN_JERK_PEAK = 1.875  # peak speed of the minimum-jerk profile / mean speed
JOINT_TOLERANCE = 2.0e-3  # rad: settled when every joint is this close to its goal
SETTLE_S = 1.0  # the longest a motion waits at its goal for the arm to settle
BRAKE_S = 0.05  # simulated time stepped after a cancel, holding the joints, to stop the arm


def _pose_matrix(position: Sequence[float], quaternion: Sequence[float]) -> np.ndarray:
    """4x4 from a position and an (x, y, z, w) quaternion."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(pb.getMatrixFromQuaternion(quaternion)).reshape(3, 3)
    T[:3, 3] = position
    return T


def _min_jerk(s: np.ndarray | float) -> np.ndarray | float:
    """Minimum-jerk time scaling of a normalised time in [0, 1]."""
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s * s)


def _min_jerk_rate(s: np.ndarray | float) -> np.ndarray | float:
    """d/ds of :func:`_min_jerk`."""
    s = np.clip(s, 0.0, 1.0)
    return 30.0 * s * s * (1.0 - s) ** 2


# ------------------------------------------------------------------------------------------------ camera


@dataclass
class SimCamera:
    """A pinhole camera (OpenCV optical frame: x right, y down, z forward) at T_base_camera.

    near / far bound the rendered depth (metres); depth beyond far is reported as 0 (invalid).
    """

    intrinsics: Intrinsics
    T_base_camera: np.ndarray
    near: float = 0.05
    far: float = 4.0
    frame_id: str = DEFAULT_CAMERA_FRAME_ID

    def view_matrix(self) -> list[float]:
        """OpenGL view matrix (world -> eye, column-major 16 floats): the optical frame turned to x right, y up,
        z backwards."""
        T_gl = np.asarray(self.T_base_camera, dtype=np.float64) @ np.diag([1.0, -1.0, -1.0, 1.0])
        return np.linalg.inv(T_gl).flatten(order="F").tolist()

    def projection_matrix(self) -> list[float]:
        """OpenGL projection matrix (column-major) reproducing fx, fy, cx, cy on a width x height image.

        Pixel (u, v) of the image (row 0 at the top) covers [u, u + 1] in window coordinates, so its centre,
        u + 0.5, maps to the OpenCV pixel coordinate u = cx + fx x / z.
        """
        k, n, f = self.intrinsics, self.near, self.far
        w, h = float(k.width), float(k.height)
        P = np.zeros((4, 4))
        P[0, 0] = 2.0 * k.fx / w
        P[0, 2] = 1.0 - 2.0 * (k.cx + 0.5) / w
        P[1, 1] = 2.0 * k.fy / h
        P[1, 2] = 2.0 * (k.cy + 0.5) / h - 1.0
        P[2, 2] = -(f + n) / (f - n)
        P[2, 3] = -2.0 * f * n / (f - n)
        P[3, 2] = -1.0
        return P.flatten(order="F").tolist()

    def linearise(self, buffer: np.ndarray) -> np.ndarray:
        """Metric depth (float32 metres along the optical axis, 0 where nothing was hit) of an OpenGL depth buffer."""
        d = np.asarray(buffer, dtype=np.float64)
        z = self.far * self.near / (self.far - (self.far - self.near) * d)
        z[d >= 1.0 - 1e-7] = 0.0
        return z.astype(np.float32)


def camera_from_scene(scene: SyntheticScene, near: float = 0.05, far: float = 4.0) -> SimCamera:
    """The camera of a synthetic scene's frame: same intrinsics, T_base_camera and frame id."""
    frame = scene.frame
    if frame.T_base_camera is None:
        raise ValueError("the scene's frame has no T_base_camera")
    return SimCamera(frame.intrinsics, np.array(frame.T_base_camera, dtype=np.float64), near, far, frame.frame_id)


# ------------------------------------------------------------------------------------------------- world


class TabletopSim:
    """A PyBullet world (DIRECT mode): table, floor, the Panda at the origin, objects and a camera.

    Joint vectors are in ``profile.joint_names`` order. ``time`` is simulated seconds since construction.
    Not thread-safe: drive one world from one thread (the cancel flag of a backend may be set from any thread).
    """

    def __init__(
        self,
        objects: Iterable[SceneObjectSpec] = (),
        camera: SimCamera | None = None,
        *,
        seed: int = 0,
        profile: RobotProfile = PANDA,
        urdf_path: str | Path | None = None,
        object_friction: float = OBJECT_FRICTION,
        finger_friction: float = FINGER_FRICTION,
        depth_noise: float = 0.0,
    ) -> None:
        """Build the world.

        Args:
            objects: objects standing on the table (z = 0 at their bottom).
            camera: the camera :meth:`render` uses by default (None: render needs one passed).
            seed: seeds the depth noise (the physics itself is deterministic).
            profile: the arm's joints (order) and home configuration.
            urdf_path: the arm's URDF (default: the project's Panda).
            object_friction / finger_friction: lateral friction coefficients.
            depth_noise: standard deviation (m) of Gaussian depth noise at 1 m, growing with depth squared.
        """
        self.profile = profile
        self.camera = camera
        self.depth_noise = float(depth_noise)
        self.rng = np.random.default_rng(seed)
        self.client = pb.connect(pb.DIRECT)
        self._steps = 0
        c = self.client
        pb.resetSimulation(physicsClientId=c)
        pb.setGravity(0.0, 0.0, -9.81, physicsClientId=c)
        pb.setTimeStep(DT, physicsClientId=c)
        pb.setPhysicsEngineParameter(numSolverIterations=50, deterministicOverlappingPairs=1, physicsClientId=c)

        self.floor = self._static_box((0.0, 0.0, FLOOR_Z - 0.05), (3.0, 3.0, 0.05), FLOOR_RGB)
        hx, hy = 0.5 * (TABLE_X[1] - TABLE_X[0]), 0.5 * (TABLE_Y[1] - TABLE_Y[0])
        centre = (0.5 * (TABLE_X[0] + TABLE_X[1]), 0.5 * (TABLE_Y[0] + TABLE_Y[1]), -0.5 * TABLE_THICKNESS)
        self.table = self._static_box(centre, (hx, hy, 0.5 * TABLE_THICKNESS), TABLE_RGB)
        pz = 0.5 * FLOOR_Z
        self.pedestal = self._static_box((0.0, 0.0, pz - 0.001), (0.12, 0.12, -pz - 0.001), (120, 120, 125))
        pb.changeDynamics(self.table, -1, lateralFriction=object_friction, physicsClientId=c)

        path = Path(urdf_path) if urdf_path is not None else DEFAULT_URDF_PATH
        self.robot = pb.loadURDF(str(path), [0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], useFixedBase=True,
                                 flags=pb.URDF_USE_INERTIA_FROM_FILE, physicsClientId=c)
        by_name: dict[str, int] = {}
        link_index: dict[str, int] = {}
        efforts: dict[str, float] = {}
        for j in range(pb.getNumJoints(self.robot, physicsClientId=c)):
            info = pb.getJointInfo(self.robot, j, physicsClientId=c)
            by_name[info[1].decode()] = j
            link_index[info[12].decode()] = j
            efforts[info[1].decode()] = float(info[10])
        missing = [n for n in [*profile.joint_names, *FINGER_JOINTS] if n not in by_name]
        if missing or TCP_LINK not in link_index:
            raise ValueError(f"{path} lacks joints {missing} or the link {TCP_LINK}")
        self.arm_joints = [by_name[n] for n in profile.joint_names]
        self.finger_joints = [by_name[n] for n in FINGER_JOINTS]
        self.tcp_link = link_index[TCP_LINK]
        self.arm_forces = [efforts[n] if efforts[n] > 0 else 87.0 for n in profile.joint_names]
        for link in (by_name[n] for n in FINGER_JOINTS):
            pb.changeDynamics(self.robot, link, lateralFriction=finger_friction, spinningFriction=0.01,
                              frictionAnchor=1, physicsClientId=c)
        for j in range(-1, pb.getNumJoints(self.robot, physicsClientId=c)):
            pb.changeDynamics(self.robot, j, linearDamping=0.0, angularDamping=0.0, physicsClientId=c)

        self.objects: dict[str, SceneObjectSpec] = {}
        self.object_ids: dict[str, int] = {}
        for spec in objects:
            self.add_object(spec)
        self.reset_arm(np.asarray(profile.home, dtype=float), 2 * FINGER_MAX)
        self.step(24)  # let the objects settle on the table

    # ---------------------------------------------------------------------------------------- building
    def _static_box(self, centre: Sequence[float], half: Sequence[float], rgb: Sequence[int]) -> int:
        c = self.client
        col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=list(half), physicsClientId=c)
        vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=list(half), rgbaColor=[*(v / 255.0 for v in rgb), 1.0],
                                   physicsClientId=c)
        return pb.createMultiBody(0.0, col, vis, list(centre), physicsClientId=c)

    def add_object(self, spec: SceneObjectSpec, friction: float = OBJECT_FRICTION) -> int:
        """Add an object standing on the table (its bottom at z = 0); returns its PyBullet body id."""
        if spec.name in self.object_ids:
            raise ValueError(f"an object named {spec.name!r} is already in the world")
        c = self.client
        sx, sy, sz = (float(v) for v in spec.size)
        rgba = [*(v / 255.0 for v in spec.rgb), 1.0]
        if spec.shape == "box":
            half = [0.5 * sx, 0.5 * sy, 0.5 * sz]
            col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=c)
            vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=half, rgbaColor=rgba, physicsClientId=c)
            volume = sx * sy * sz
        else:
            r = 0.5 * sx
            col = pb.createCollisionShape(pb.GEOM_CYLINDER, radius=r, height=sz, physicsClientId=c)
            vis = pb.createVisualShape(pb.GEOM_CYLINDER, radius=r, length=sz, rgbaColor=rgba, physicsClientId=c)
            volume = math.pi * r * r * sz
        mass = float(np.clip(OBJECT_DENSITY * volume, *OBJECT_MASS_RANGE))
        quat = pb.getQuaternionFromEuler([0.0, 0.0, float(spec.yaw)])
        body = pb.createMultiBody(mass, col, vis, [spec.position[0], spec.position[1], 0.5 * sz], quat,
                                  physicsClientId=c)
        pb.changeDynamics(body, -1, lateralFriction=friction, spinningFriction=0.002, rollingFriction=0.0,
                          physicsClientId=c)
        self.objects[spec.name] = spec
        self.object_ids[spec.name] = body
        return body

    @classmethod
    def from_scene(cls, scene: SyntheticScene, **kwargs: object) -> TabletopSim:
        """The world of a synthetic scene: its objects and its camera."""
        return cls(scene.objects, camera_from_scene(scene), **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        """Disconnect from the physics server (the world is unusable afterwards)."""
        if self.client >= 0 and pb.isConnected(self.client):
            pb.disconnect(self.client)
        self.client = -1

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # ------------------------------------------------------------------------------------------ state
    @property
    def time(self) -> float:
        """Simulated seconds since the world was built."""
        return self._steps * DT

    def step(self, n: int = 1) -> None:
        """Advance the physics by n steps of 1/240 s."""
        for _ in range(int(n)):
            pb.stepSimulation(physicsClientId=self.client)
        self._steps += int(n)

    def reset_arm(self, q: Sequence[float], width: float | None = None) -> None:
        """Teleport the arm to q (and the fingers to width) at rest, and hold there."""
        c = self.client
        for j, v in zip(self.arm_joints, q, strict=True):
            pb.resetJointState(self.robot, j, float(v), 0.0, physicsClientId=c)
        self.set_arm_targets(np.asarray(q, dtype=float))
        if width is not None:
            half = float(np.clip(width / 2.0, 0.0, FINGER_MAX))
            for j in self.finger_joints:
                pb.resetJointState(self.robot, j, half, 0.0, physicsClientId=c)
            self.set_finger_targets(half)

    def joint_positions(self) -> np.ndarray:
        """Arm joint positions (rad)."""
        states = pb.getJointStates(self.robot, self.arm_joints, physicsClientId=self.client)
        return np.array([s[0] for s in states])

    def joint_velocities(self) -> np.ndarray:
        """Arm joint velocities (rad/s)."""
        states = pb.getJointStates(self.robot, self.arm_joints, physicsClientId=self.client)
        return np.array([s[1] for s in states])

    def finger_positions(self) -> np.ndarray:
        """The two finger joint positions (m, 0 closed .. 0.04 open)."""
        states = pb.getJointStates(self.robot, self.finger_joints, physicsClientId=self.client)
        return np.array([s[0] for s in states])

    def finger_velocities(self) -> np.ndarray:
        """The two finger joint velocities (m/s)."""
        states = pb.getJointStates(self.robot, self.finger_joints, physicsClientId=self.client)
        return np.array([s[1] for s in states])

    def tcp_pose_world(self) -> np.ndarray:
        """The TCP link's pose as PyBullet computes it (4x4, base frame)."""
        state = pb.getLinkState(self.robot, self.tcp_link, computeForwardKinematics=True, physicsClientId=self.client)
        return _pose_matrix(state[4], state[5])

    def set_arm_targets(self, q: np.ndarray, qd: np.ndarray | None = None) -> None:
        """Command the arm's position motors to q (with feed-forward velocity qd)."""
        qd = np.zeros(len(q)) if qd is None else qd
        pb.setJointMotorControlArray(
            self.robot, self.arm_joints, pb.POSITION_CONTROL, targetPositions=[float(v) for v in q],
            targetVelocities=[float(v) for v in qd], forces=self.arm_forces, physicsClientId=self.client,
        )

    def set_finger_targets(self, half_width: float, force: float = GRIPPER_FORCE_N) -> None:
        """Command both fingers to half_width each (m), with a force limit (N) and GRIPPER_SPEED."""
        for j in self.finger_joints:
            pb.setJointMotorControl2(self.robot, j, pb.POSITION_CONTROL, targetPosition=float(half_width),
                                     force=float(force), maxVelocity=GRIPPER_SPEED, physicsClientId=self.client)

    # --------------------------------------------------------------------------------------- objects
    def object_poses(self) -> dict[str, np.ndarray]:
        """Ground truth: object name -> 4x4 pose of its volume centre in the base frame."""
        out = {}
        for name, body in self.object_ids.items():
            pos, quat = pb.getBasePositionAndOrientation(body, physicsClientId=self.client)
            out[name] = _pose_matrix(pos, quat)
        return out

    def object_heights(self) -> dict[str, float]:
        """Ground truth: object name -> its vertical extent (m) as it stands (SceneObjectSpec.size z)."""
        return {name: float(spec.size[2]) for name, spec in self.objects.items()}

    def object_bottoms(self) -> dict[str, float]:
        """Ground truth: object name -> the lowest z (m) of its bounding box now (0 when standing on the table)."""
        return {name: float(pb.getAABB(body, physicsClientId=self.client)[0][2])
                for name, body in self.object_ids.items()}

    # ---------------------------------------------------------------------------------------- camera
    def render(self, camera: SimCamera | None = None, stamp: float | None = None) -> RGBDFrame:
        """An RGB-D frame of the camera (default: the world's), depth in metres (0: nothing hit)."""
        cam = camera if camera is not None else self.camera
        if cam is None:
            raise ValueError("this world has no camera")
        k = cam.intrinsics
        _, _, rgba, depth_buffer, _ = pb.getCameraImage(
            k.width, k.height, cam.view_matrix(), cam.projection_matrix(), shadow=0,
            lightDirection=[-0.4, 0.3, 1.0], renderer=pb.ER_TINY_RENDERER,
            flags=pb.ER_NO_SEGMENTATION_MASK, physicsClientId=self.client,
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(k.height, k.width, 4)[:, :, :3].copy()
        depth = cam.linearise(np.asarray(depth_buffer, dtype=np.float64).reshape(k.height, k.width))
        if self.depth_noise > 0:
            valid = depth > 0
            depth[valid] += (self.rng.normal(0.0, self.depth_noise, int(valid.sum())) * depth[valid] ** 2).astype(
                np.float32)
        return RGBDFrame(rgb=rgb, depth=depth, intrinsics=k, T_base_camera=np.array(cam.T_base_camera),
                         stamp=self.time if stamp is None else stamp, frame_id=cam.frame_id,
                         base_frame_id=DEFAULT_BASE_FRAME_ID, metadata={"source": "pybullet_sim"})


# ------------------------------------------------------------------------------------------------ backend


class SimBackend(RobotBackend):
    """Motion primitives executed closed-loop in a :class:`TabletopSim`.

    Every primitive checks its goal with the guard and the gate (a dry-run gate executes nothing), steps the
    physics at 240 Hz, checks ``gate.cancelled`` at every step (cancel: the arm holds its current joints and the
    primitive returns ``MotionResult(False, ..., "cancelled")``) and gives up after
    ``guard.config.motion_timeout_s`` (simulated or wall time, whichever comes first).

    camera_hz > 0 renders the camera every 1/camera_hz simulated seconds during motions into ``last_frame``
    (what a streaming camera would cost); 0 (default) renders only on :meth:`capture`. stream_scale < 1 renders
    those streaming frames at a reduced resolution (the cost of ER_TINY_RENDERER grows with the pixel count).
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
        if gate is None:
            gate = guard.gate if guard is not None else ExecutionGate(enabled=True)
        if guard is None:
            guard = MotionGuard.from_profile(profile, gate)
        super().__init__(profile, guard, gate)
        self.sim = sim
        self.kinematics = kinematics if kinematics is not None else ArmKinematics(profile=profile)
        self.camera_hz = float(camera_hz)
        self.stream_scale = float(stream_scale)
        self.realtime = bool(realtime)
        self.last_frame: RGBDFrame | None = None
        self.render_count = 0
        self._next_render = 0.0
        self._sim_elapsed = 0.0
        self._vel = np.asarray(profile.velocity_limits, dtype=float)

    # ------------------------------------------------------------------------------------- queries
    def capture(self) -> RGBDFrame:
        """Render the world's camera now."""
        frame = self.sim.render()
        self.last_frame = frame
        return frame

    def gripper_width(self) -> float:
        """Sum of the two finger joint positions (m)."""
        return float(np.sum(self.sim.finger_positions()))

    def tcp_pose(self) -> np.ndarray:
        """FK of the current joints (4x4, base frame)."""
        return self.kinematics.fk(self.sim.joint_positions())

    def joint_positions(self) -> np.ndarray:
        """The current arm joints (profile order)."""
        return self.sim.joint_positions()

    def _solve(self, T: np.ndarray) -> np.ndarray | None:
        """IK from the current joints, then from home, then with random restarts; the solution nearest the current
        joints among those that converged."""
        q0 = self.sim.joint_positions()
        ik = self.kinematics.ik
        for seed, restarts in ((q0, 0), (self.kinematics.home, 0), (q0, 20)):
            q = ik(T, seed, restarts=restarts)
            if q is not None:
                return q
        return None

    def plan_to_pose(self, T_base_tcp: np.ndarray) -> MotionResult:
        """Reachable when IK finds a solution within the joint limits."""
        start = time.perf_counter()
        q = self._solve(np.asarray(T_base_tcp, dtype=float))
        if q is None:
            return MotionResult(False, time.perf_counter() - start, False,
                                "no inverse-kinematics solution within the joint limits")
        return MotionResult(True, time.perf_counter() - start, False, "IK solution found",
                            trajectory=np.stack([self.sim.joint_positions(), q]))

    # ------------------------------------------------------------------------------------ motions
    def move_to_pose(self, T_base_tcp: np.ndarray, straight: bool = False,
                     velocity_scaling: float = 0.3) -> MotionResult:
        """IK to the checked pose, then a joint-space (or, straight, Cartesian-line) minimum-jerk motion."""
        start = time.perf_counter()
        cfg = self.guard.config
        goal = self.guard.check_pose_goal(T_base_tcp, cfg.base_frame, cfg.base_frame)
        scaling = self.guard.clamp_velocity_scaling(velocity_scaling)
        if not self.gate.check_can_move():
            return MotionResult(False, 0.0, False, "dry run: nothing executed")
        q0 = self.sim.joint_positions()
        if straight:
            path = self._straight_path(goal, q0)
            if isinstance(path, str):
                return MotionResult(False, time.perf_counter() - start, False, path)
            s_nodes, q_nodes = path
            length = float(np.linalg.norm(goal[:3, 3] - self.kinematics.fk(q0)[:3, 3]))
            duration = MIN_JERK_PEAK * length / (CARTESIAN_SPEED * scaling)
        else:
            q1 = self._solve(goal)
            if q1 is None:
                return MotionResult(False, time.perf_counter() - start, False,
                                    "no inverse-kinematics solution within the joint limits")
            s_nodes, q_nodes = np.array([0.0, 1.0]), np.stack([q0, q1])
            duration = 0.0
        self.guard.check_joint_goal(q_nodes[-1])
        # joint speed bound: max |dq/ds| * peak ds/dt <= limit * scaling
        ds = np.maximum(np.diff(s_nodes), 1e-9)
        rate = np.max(np.abs(np.diff(q_nodes, axis=0)) / ds[:, None] / self._vel[None, :]) if len(ds) else 0.0
        duration = max(duration, MIN_JERK_PEAK * rate / scaling, 0.2)
        return self._execute(s_nodes, q_nodes, duration, start)

    def move_home(self, velocity_scaling: float = 0.3) -> MotionResult:
        """A joint-space motion to the profile's home configuration."""
        start = time.perf_counter()
        q1 = self.guard.check_joint_goal(np.asarray(self.profile.home, dtype=float))
        scaling = self.guard.clamp_velocity_scaling(velocity_scaling)
        if not self.gate.check_can_move():
            return MotionResult(False, 0.0, False, "dry run: nothing executed")
        q0 = self.sim.joint_positions()
        rate = float(np.max(np.abs(q1 - q0) / self._vel))
        return self._execute(np.array([0.0, 1.0]), np.stack([q0, q1]), max(MIN_JERK_PEAK * rate / scaling, 0.2), start)

    def _straight_path(self, goal: np.ndarray, q0: np.ndarray) -> tuple[np.ndarray, np.ndarray] | str:
        """(path parameters, joint waypoints) along the Cartesian line from the current TCP pose to goal, or the
        reason there is none."""
        T0 = self.kinematics.fk(q0)
        p0, p1 = T0[:3, 3], goal[:3, 3]
        rots = Rotation.from_matrix(np.stack([T0[:3, :3], goal[:3, :3]]))
        angle = float((rots[0].inv() * rots[1]).magnitude())
        n = max(2, math.ceil(float(np.linalg.norm(p1 - p0)) / STRAIGHT_STEP_M), math.ceil(angle / STRAIGHT_STEP_RAD))
        s = np.linspace(0.0, 1.0, n + 1)
        slerp = Slerp([0.0, 1.0], rots)
        points = p0[None, :] + s[:, None] * (p1 - p0)[None, :]
        self.guard.check_cartesian_path(points)
        mats = slerp(s).as_matrix()
        qs = [q0]
        for i in range(1, n + 1):
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = mats[i], points[i]
            q = self.kinematics.ik(T, qs[-1], restarts=0)
            if q is None or np.max(np.abs(q - qs[-1])) > MAX_WAYPOINT_JUMP:
                return f"no continuous straight-line IK solution at {100.0 * s[i]:.0f}% of the path"
            qs.append(q)
        return s, np.stack(qs)

    def _hold(self) -> None:
        """Hold the current joints and brake for BRAKE_S simulated seconds."""
        q = self.sim.joint_positions()
        self.sim.set_arm_targets(q)
        self.sim.step(max(1, int(round(BRAKE_S * SIM_HZ))))
        self.sim.set_arm_targets(self.sim.joint_positions())

    def _tick(self, wall_start: float) -> None:
        """One physics step, plus the streaming render and real-time pacing when enabled."""
        self.sim.step()
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

    def _execute(self, s_nodes: np.ndarray, q_nodes: np.ndarray, duration: float, start: float) -> MotionResult:
        """Track q(s(t)) (piecewise-linear in s, s minimum-jerk in t over duration), then settle at the goal."""
        cfg, gate, sim = self.guard.config, self.gate, self.sim
        timeout = float(cfg.motion_timeout_s)
        goal = q_nodes[-1]
        steps = max(1, math.ceil(duration * SIM_HZ))
        self._sim_elapsed = 0.0
        trajectory = q_nodes.copy()
        moved = False
        for k in range(1, steps + 1):
            if gate.cancelled:
                self._hold()
                return MotionResult(False, time.perf_counter() - start, moved, "cancelled", trajectory)
            tau = k / steps
            s = float(_min_jerk(tau))
            sdot = float(_min_jerk_rate(tau)) / duration
            i = int(np.clip(np.searchsorted(s_nodes, s, side="right") - 1, 0, len(s_nodes) - 2))
            seg = max(s_nodes[i + 1] - s_nodes[i], 1e-12)
            slope = (q_nodes[i + 1] - q_nodes[i]) / seg
            q = q_nodes[i] + (s - s_nodes[i]) * slope
            sim.set_arm_targets(q, slope * sdot)
            self._sim_elapsed += DT
            self._tick(start)
            moved = True
            if self._sim_elapsed > timeout or time.perf_counter() - start > timeout:
                self._hold()
                return MotionResult(False, time.perf_counter() - start, moved,
                                    f"motion timed out after {timeout:g} s", trajectory)
        sim.set_arm_targets(goal)
        settle_steps = int(SETTLE_S * SIM_HZ)
        for _ in range(settle_steps):
            err = float(np.max(np.abs(sim.joint_positions() - goal)))
            if err < JOINT_TOLERANCE:
                break
            if gate.cancelled:
                self._hold()
                return MotionResult(False, time.perf_counter() - start, moved, "cancelled", trajectory)
            self._sim_elapsed += DT
            self._tick(start)
        err = float(np.max(np.abs(sim.joint_positions() - goal)))
        if err >= JOINT_TOLERANCE * 5:
            return MotionResult(False, time.perf_counter() - start, moved,
                                f"goal not reached: joint error {err:.4f} rad (blocked?)", trajectory)
        return MotionResult(True, time.perf_counter() - start, moved, "goal reached", trajectory,
                            extras={"sim_time_s": self._sim_elapsed, "joint_error_rad": err})

    def set_gripper(self, width: float) -> MotionResult:
        """Drive both fingers to width / 2 each (force-limited, GRIPPER_FORCE_N per finger); closing stops on
        contact, and the force keeps squeezing what is held."""
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
            self._sim_elapsed += DT
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
