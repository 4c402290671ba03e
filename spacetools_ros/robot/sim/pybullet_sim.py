"""A PyBullet tabletop world with the Panda, and a :class:`~spacetools_ros.robot.backend.RobotBackend` on it.

World (PyBullet world frame = the robot base frame ``panda_link0`` = ``base_link`` of the frames):

* a table, the same as :mod:`spacetools_ros.sources.synthetic`'s: top at z = 0, x 0.3..0.9 m, y -0.4..0.4 m,
  3 cm thick; a floor at z = -0.75 m and a pedestal under the robot base (outside the table);
* the Panda of ``urdf/panda.urdf``, fixed at the origin (its base at z = 0, level with the table top);
* objects from :class:`~spacetools_ros.sources.synthetic.SceneObjectSpec` (boxes, vertical cylinders and
  open-top bowls, a bottom disc with a ring of wall boxes; 0.05-0.3 kg, lateral friction 1.0; the fingers'
  friction is higher, 1.8);
* a pinhole camera with a synthetic frame's intrinsics and ``T_base_camera`` (:func:`camera_from_scene`),
  rendered into an :class:`RGBDFrame` with metric depth by ray casting the bodies' visual shapes
  (:mod:`~spacetools_ros.robot.sim.raycast_camera`, the default: fast enough to stream at 640x480) or by
  PyBullet's CPU renderer (``ER_TINY_RENDERER``); both shade the same way.

Physics runs at 240 Hz in DIRECT mode (no GUI); a world is deterministic for a given seed and command
sequence. :class:`~spacetools_ros.robot.sim.sim_backend.SimBackend` executes motion primitives closed-loop on it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as pb

from spacetools_ros.frames.frame import DEFAULT_BASE_FRAME_ID, DEFAULT_CAMERA_FRAME_ID, Intrinsics, RGBDFrame
from spacetools_ros.robot.kinematics import DEFAULT_URDF_PATH
from spacetools_ros.robot.profile import PANDA, RobotProfile
from spacetools_ros.robot.sim.raycast_camera import LIGHT_DIRECTION, PIXEL_SAMPLE_OFFSET, RaycastRenderer
from spacetools_ros.robot.sim.shape_meshes import ShapeMesh, UnsupportedShapeError
from spacetools_ros.sources.synthetic import (
    BOWL_BOTTOM_M,
    BOWL_WALL_M,
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

FINGER_JOINTS = PANDA.finger_joints
TCP_LINK = "panda_hand_tcp"
FINGER_MAX = 0.5 * PANDA.gripper_max_opening  # travel of one finger (m)

OBJECT_DENSITY = 500.0  # kg/m^3, clipped to the mass range below
OBJECT_MASS_RANGE = (0.05, 0.3)
OBJECT_FRICTION = 1.0
FINGER_FRICTION = 1.8
GRIPPER_FORCE_N = 50.0  # per finger
GRIPPER_SPEED = 0.1  # m/s per finger
BOWL_SEGMENTS = 32  # wall boxes around a bowl's rim


def _pose_matrix(position: Sequence[float], quaternion: Sequence[float]) -> np.ndarray:
    """4x4 from a position and an (x, y, z, w) quaternion."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(pb.getMatrixFromQuaternion(quaternion)).reshape(3, 3)
    T[:3, 3] = position
    return T


def _bowl_mesh(outer: float, height: float, segments: int = 48) -> tuple[list, list, list[int]]:
    """Vertices, normals and triangle indices (counter-clockwise seen from outside) of an open-top bowl's
    surface: outer wall, rim, inner wall, inner bottom and outer bottom, centred at mid-height."""
    inner = outer - BOWL_WALL_M
    z_low, z_top, z_in = -0.5 * height, 0.5 * height, -0.5 * height + BOWL_BOTTOM_M
    vertices: list[list[float]] = []
    normals: list[list[float]] = []
    angles = [2.0 * math.pi * k / segments for k in range(segments)]

    def ring(radius: float, z: float, normal: Callable[[float], Sequence[float]]) -> list[int]:
        first = len(vertices)
        for a in angles:
            vertices.append([radius * math.cos(a), radius * math.sin(a), z])
            normals.append(list(normal(a)))
        return list(range(first, first + segments))

    def centre(z: float, nz: float) -> int:
        vertices.append([0.0, 0.0, z])
        normals.append([0.0, 0.0, nz])
        return len(vertices) - 1

    def outward(a: float) -> tuple[float, float, float]:
        return math.cos(a), math.sin(a), 0.0

    def inward(a: float) -> tuple[float, float, float]:
        return -math.cos(a), -math.sin(a), 0.0

    def up(_: float) -> tuple[float, float, float]:
        return 0.0, 0.0, 1.0

    def down(_: float) -> tuple[float, float, float]:
        return 0.0, 0.0, -1.0

    out_low, out_top = ring(outer, z_low, outward), ring(outer, z_top, outward)
    in_low, in_top = ring(inner, z_in, inward), ring(inner, z_top, inward)
    rim_in, rim_out = ring(inner, z_top, up), ring(outer, z_top, up)
    floor_c, floor = centre(z_in, 1.0), ring(inner, z_in, up)
    base_c, base = centre(z_low, -1.0), ring(outer, z_low, down)
    indices: list[int] = []
    for k in range(segments):
        j = (k + 1) % segments
        indices += [out_low[k], out_low[j], out_top[j], out_low[k], out_top[j], out_top[k]]
        indices += [in_low[k], in_top[j], in_low[j], in_low[k], in_top[k], in_top[j]]
        indices += [rim_in[k], rim_out[k], rim_out[j], rim_in[k], rim_out[j], rim_in[j]]
        indices += [floor_c, floor[k], floor[j], base_c, base[j], base[k]]
    return vertices, normals, indices


# ------------------------------------------------------------------------------------------------ camera

RENDERERS = ("raycast", "tiny")
"""How :meth:`TabletopSim.render` draws: ray casting the visual shapes (open3d, fast) or PyBullet's TinyRenderer."""
DEFAULT_RENDERER = "raycast"


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
        u + 0.5, maps to the OpenCV pixel coordinate u = cx + fx x / z. (TinyRenderer samples at the integer
        window coordinates, i.e. PIXEL_SAMPLE_OFFSET from the centres.)
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

    def ray_directions(self) -> np.ndarray:
        """(height * width, 3) camera-frame directions (z = 1) of the rays the renderers sample, row-major: through
        each pixel's centre moved by PIXEL_SAMPLE_OFFSET."""
        k = self.intrinsics
        u, v = np.meshgrid(np.arange(k.width, dtype=np.float64) + PIXEL_SAMPLE_OFFSET[0],
                           np.arange(k.height, dtype=np.float64) + PIXEL_SAMPLE_OFFSET[1])
        return np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], axis=-1).reshape(-1, 3)

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
        renderer: str = DEFAULT_RENDERER,
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
            renderer: how :meth:`render` draws frames, one of RENDERERS: "raycast" (default; falls back to "tiny",
                with a warning, where it cannot run: open3d missing, a visual shape it cannot read) or "tiny"
                (PyBullet's ER_TINY_RENDERER, about 10-20x slower at 640x480).
        """
        self.profile = profile
        self.camera = camera
        self.depth_noise = float(depth_noise)
        if renderer not in RENDERERS:
            raise ValueError(f"unknown renderer {renderer!r}; known: {', '.join(RENDERERS)}")
        self.renderer = renderer
        self._raycaster: RaycastRenderer | None = None
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
        elif spec.shape == "bowl":
            col, vis, volume = self._bowl_shapes(spec, rgba)
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

    def _bowl_shapes(self, spec: SceneObjectSpec, rgba: list[float]) -> tuple[int, int, float]:
        """Collision and visual shapes of an open-top bowl, and its material volume.

        The bowl of :mod:`~spacetools_ros.sources.synthetic`, in a frame at the bowl's mid-height like the other
        objects'. It collides as a compound of a bottom disc BOWL_BOTTOM_M thick and BOWL_SEGMENTS wall boxes
        BOWL_WALL_M thick standing on it around the rim (their outer faces tangent to the outer diameter,
        overlapping inside); it is drawn as a smooth mesh (PyBullet draws at most 15 shapes of an array).
        """
        c = self.client
        outer, height = 0.5 * float(spec.size[0]), float(spec.size[2])
        wall_height = height - BOWL_BOTTOM_M
        n = BOWL_SEGMENTS
        half_wall = [0.5 * BOWL_WALL_M, outer * math.tan(math.pi / n), 0.5 * wall_height]
        types = [pb.GEOM_CYLINDER] + [pb.GEOM_BOX] * n
        positions = [[0.0, 0.0, 0.5 * BOWL_BOTTOM_M - 0.5 * height]]
        orientations = [[0.0, 0.0, 0.0, 1.0]]
        centre = outer - 0.5 * BOWL_WALL_M
        for k in range(n):
            angle = 2.0 * math.pi * k / n
            positions.append([centre * math.cos(angle), centre * math.sin(angle), 0.5 * BOWL_BOTTOM_M])
            orientations.append(list(pb.getQuaternionFromEuler([0.0, 0.0, angle])))
        col = pb.createCollisionShapeArray(types, radii=[outer] + [0.0] * n,
                                           halfExtents=[[0.0, 0.0, 0.0]] + [half_wall] * n,
                                           lengths=[BOWL_BOTTOM_M] + [0.0] * n, collisionFramePositions=positions,
                                           collisionFrameOrientations=orientations, physicsClientId=c)
        vertices, normals, indices = _bowl_mesh(outer, height)
        vis = pb.createVisualShape(pb.GEOM_MESH, vertices=vertices, indices=indices, normals=normals,
                                   rgbaColor=rgba, physicsClientId=c)
        inner = outer - BOWL_WALL_M
        volume = math.pi * outer * outer * BOWL_BOTTOM_M + math.pi * (outer * outer - inner * inner) * wall_height
        return col, vis, volume

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
        """An RGB-D frame of the camera (default: the world's), depth in metres along the optical axis (0: nothing
        hit), drawn by the world's renderer."""
        cam = camera if camera is not None else self.camera
        if cam is None:
            raise ValueError("this world has no camera")
        k = cam.intrinsics
        rgb, depth = self._draw(cam)
        if self.depth_noise > 0:
            valid = depth > 0
            depth[valid] += (self.rng.normal(0.0, self.depth_noise, int(valid.sum())) * depth[valid] ** 2).astype(
                np.float32)
        return RGBDFrame(rgb=rgb, depth=depth, intrinsics=k, T_base_camera=np.array(cam.T_base_camera),
                         stamp=self.time if stamp is None else stamp, frame_id=cam.frame_id,
                         base_frame_id=DEFAULT_BASE_FRAME_ID,
                         metadata={"source": "pybullet_sim", "renderer": self.renderer})

    def _draw(self, cam: SimCamera) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 RGB, float32 metric depth) of the camera by the world's renderer; the ray caster falls back to the
        TinyRenderer, once and with a warning, where it cannot run (open3d missing, a visual shape it cannot read)."""
        if self.renderer == "raycast":
            try:
                if self._raycaster is None:
                    self._raycaster = RaycastRenderer(self.client, self._visual_mesh)
                return self._raycaster.render(cam)
            except (ImportError, UnsupportedShapeError) as exc:
                warnings.warn(f"the ray-casting camera cannot run ({exc}); rendering with PyBullet's TinyRenderer "
                              "instead (much slower at full resolution)", RuntimeWarning, stacklevel=3)
                self.renderer, self._raycaster = "tiny", None
        k = cam.intrinsics
        _, _, rgba, depth_buffer, _ = pb.getCameraImage(
            k.width, k.height, cam.view_matrix(), cam.projection_matrix(), shadow=0,
            lightDirection=list(LIGHT_DIRECTION), renderer=pb.ER_TINY_RENDERER,
            flags=pb.ER_NO_SEGMENTATION_MASK, physicsClientId=self.client,
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(k.height, k.width, 4)[:, :, :3].copy()
        return rgb, cam.linearise(np.asarray(depth_buffer, dtype=np.float64).reshape(k.height, k.width))

    def _visual_mesh(self, body: int, link: int, shape: int) -> ShapeMesh | None:
        """The mesh of a visual shape PyBullet cannot report back (built from vertex arrays: a bowl's), in the
        shape's frame, for the ray-casting camera; None for any other."""
        name = next((n for n, b in self.object_ids.items() if b == body), None)
        spec = self.objects.get(name) if name is not None else None
        if spec is None or spec.shape != "bowl" or link != -1 or shape != 0:
            return None
        vertices, normals, indices = _bowl_mesh(0.5 * float(spec.size[0]), float(spec.size[2]))
        return ShapeMesh(np.asarray(vertices, dtype=np.float64), np.asarray(normals, dtype=np.float64),
                         np.asarray(indices, dtype=np.int32).reshape(-1, 3))
