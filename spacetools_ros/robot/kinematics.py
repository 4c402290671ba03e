"""Forward and inverse kinematics of the arm, from its URDF (pinocchio).

:class:`ArmKinematics` loads a URDF (default: the project's own ``urdf/panda.urdf``) and a
:class:`~spacetools_ros.robot.profile.RobotProfile` (default: ``PANDA``). Only the profile's arm joints
move; every other joint of the URDF (the fingers) is locked at its neutral position, which leaves the
arm's frames unchanged. Joint vectors are always in the profile's joint order.

Frames: ``"tcp"`` is the tool centre point between the fingertips (``panda_hand_tcp``: 0.1034 m along the
flange z, with the hand's orientation, i.e. the flange rotated by -pi/4 about z, so that z is the approach
direction and y the closing direction, as in :mod:`spacetools_ros.perception.grasp`); ``"flange"`` is the
profile's tip link (``panda_link8``, what MoveIt plans for). Any other frame name of the URDF is accepted
too. Poses are 4x4 homogeneous transforms in the profile's base link frame (``panda_link0``).

Inverse kinematics is a Levenberg-Marquardt damped least squares on the pose error (SE(3) log), with
joint-limit clamping (joints pinned at a limit drop out of the step), a cheap reachability bound, and
random restarts within the limits when the seed does not converge. A returned solution is always inside
the joint limits and within the requested tolerances (checked again on the final configuration); ``None``
means no solution was found (unreachable, or an invalid target such as NaN entries).

An instance holds one pinocchio ``Data`` workspace: it is not thread-safe; use one instance per thread.
Self-collision and the workspace box are not checked here (see :mod:`spacetools_ros.robot.safety`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pinocchio as pin

from spacetools_ros.robot.profile import PANDA, RobotProfile


def _default_urdf_path() -> Path:
    """urdf/panda.urdf of the source tree, else of the installed package's share directory."""
    in_tree = Path(__file__).resolve().parents[2] / "urdf" / "panda.urdf"
    if in_tree.exists():
        return in_tree
    try:  # installed by colcon: share/spacetools_ros/urdf
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("spacetools_ros")) / "urdf" / "panda.urdf"
    except Exception:  # not installed as a ROS package
        return in_tree


DEFAULT_URDF_PATH = _default_urdf_path()
TCP_FRAME = "panda_hand_tcp"
"""URDF frame of the tool centre point (``frame="tcp"``)."""

POSITION_TOLERANCE = 1.0e-3
"""Default IK position tolerance (metres)."""
ORIENTATION_TOLERANCE = 1.0e-2
"""Default IK orientation tolerance (radians, angle of the residual rotation)."""

_ORTHONORMAL_TOLERANCE = 1.0e-6
_AXES = {"X": np.array([1.0, 0.0, 0.0]), "Y": np.array([0.0, 1.0, 0.0]), "Z": np.array([0.0, 0.0, 1.0])}


class KinematicsError(ValueError):
    """The URDF and the profile do not describe the same serial arm, or an argument is malformed."""


class ArmKinematics:
    """Forward/inverse kinematics and Jacobians of a serial arm (pinocchio model of its URDF).

    Attributes:
        profile: the robot profile (joint order, limits, base and tip links).
        lower, upper: joint position limits (rad) used everywhere: the profile's limits, narrowed to the
            URDF's where those are tighter.
        model: the reduced pinocchio model (arm joints only).
        urdf_path: the URDF the model was built from.
    """

    def __init__(
        self,
        urdf_path: str | Path | None = None,
        profile: RobotProfile = PANDA,
        tcp_frame: str = TCP_FRAME,
    ) -> None:
        """Build the model.

        Args:
            urdf_path: the arm's URDF; ``None`` for the project's Panda description.
            profile: joint names (in order), limits, base link and tip (flange) link.
            tcp_frame: URDF frame used for ``frame="tcp"``.

        Raises:
            FileNotFoundError: the URDF does not exist.
            KinematicsError: a profile joint, the base, tip or TCP frame is missing from the URDF, an arm
                joint is not a single-DOF revolute joint, or the arm joints are not one serial chain.
        """
        self.urdf_path = Path(urdf_path) if urdf_path is not None else DEFAULT_URDF_PATH
        if not self.urdf_path.is_file():
            raise FileNotFoundError(f"URDF not found: {self.urdf_path}")
        self.profile = profile
        full = pin.buildModelFromUrdf(str(self.urdf_path))
        names = profile.joint_names
        missing = [n for n in names if not full.existJointName(n)]
        if missing:
            raise KinematicsError(f"joints {missing} of profile {profile.name!r} are not in {self.urdf_path}")
        arm_ids = [full.getJointId(n) for n in names]
        lock = [j for j in range(1, full.njoints) if j not in arm_ids]
        self.model: pin.Model = pin.buildReducedModel(full, lock, pin.neutral(full)) if lock else full
        self.data: pin.Data = self.model.createData()
        model = self.model

        self._dof = len(names)
        if model.nq != self._dof or model.nv != self._dof:
            raise KinematicsError(f"arm joints of {self.urdf_path} must be single-DOF (nq={model.nq})")
        self._jids = [model.getJointId(n) for n in names]
        self._idx_q = np.array([model.joints[j].idx_q for j in self._jids])
        for prev, jid in zip([0, *self._jids[:-1]], self._jids, strict=True):
            if model.parents[jid] != prev:
                raise KinematicsError(f"joint {model.names[jid]} does not follow {model.names[prev]} in a serial chain")
        self._axes = np.stack([self._joint_axis(jid) for jid in self._jids])
        self._placements = np.stack([model.jointPlacements[j].homogeneous for j in self._jids])

        urdf_lower = model.lowerPositionLimit[self._idx_q]
        urdf_upper = model.upperPositionLimit[self._idx_q]
        self.lower: np.ndarray = np.maximum(profile.lower_limits, urdf_lower)
        self.upper: np.ndarray = np.minimum(profile.upper_limits, urdf_upper)
        if np.any(self.lower > self.upper):
            raise KinematicsError(f"empty joint range between profile {profile.name!r} and {self.urdf_path}")

        for link in (profile.base_link, profile.tip_link, tcp_frame):
            if not model.existFrame(link):
                raise KinematicsError(f"frame {link!r} is not in {self.urdf_path}")
        self._frame_alias = {"tcp": tcp_frame, "flange": profile.tip_link, "tip": profile.tip_link}
        # the base link is fixed to the universe; poses are expressed in it
        base = model.frames[model.getFrameId(profile.base_link)]
        if base.parentJoint != 0:
            raise KinematicsError(f"base link {profile.base_link!r} moves with joint {model.names[base.parentJoint]}")
        self._base_inv = base.placement.inverse()
        self._base_inv_h = self._base_inv.homogeneous
        # the first joint's origin does not move: the centre of the reachability bound
        self._shoulder = (self._base_inv * model.jointPlacements[self._jids[0]]).translation.copy()
        self._home = np.clip(np.asarray(profile.home, dtype=float), self.lower, self.upper)

    # ------------------------------------------------------------------ helpers
    def _joint_axis(self, jid: int) -> np.ndarray:
        """Unit rotation axis of a revolute joint in its own frame."""
        jm = self.model.joints[jid]
        short = jm.shortname()
        if short in ("JointModelRX", "JointModelRY", "JointModelRZ"):
            return _AXES[short[-1]]
        if short == "JointModelRevoluteUnaligned":
            axis = np.asarray(jm.extract().axis, dtype=float)
            return axis / np.linalg.norm(axis)
        raise KinematicsError(f"joint {self.model.names[jid]} is {short}; only revolute joints are supported")

    def _frame_id(self, frame: str) -> int:
        """pinocchio frame id of ``"tcp"``, ``"flange"`` or a URDF frame name."""
        name = self._frame_alias.get(frame, frame)
        if not self.model.existFrame(name):
            raise KinematicsError(f"unknown frame {frame!r}")
        return self.model.getFrameId(name)

    def _to_model(self, q: np.ndarray) -> np.ndarray:
        """Profile-ordered joint vector -> pinocchio configuration."""
        qm = np.empty(self._dof)
        qm[self._idx_q] = q
        return qm

    def _check_q(self, q: Sequence[float] | np.ndarray) -> np.ndarray:
        """(dof,) float array or KinematicsError."""
        arr = np.asarray(q, dtype=float)
        if arr.shape != (self._dof,):
            raise KinematicsError(f"expected {self._dof} joint positions, got shape {arr.shape}")
        return arr

    def _placement(self, qm: np.ndarray, fid: int) -> pin.SE3:
        """Frame placement in the base frame for a model configuration."""
        pin.forwardKinematics(self.model, self.data, qm)
        return self._base_inv * pin.updateFramePlacement(self.model, self.data, fid)

    # ------------------------------------------------------------------ public API
    @property
    def dof(self) -> int:
        """Number of arm joints."""
        return self._dof

    @property
    def joint_names(self) -> list[str]:
        """Arm joint names, in the order of every joint vector."""
        return self.profile.joint_names

    @property
    def home(self) -> np.ndarray:
        """The profile's home configuration (clamped into the limits)."""
        return self._home.copy()

    def within_limits(self, q: Sequence[float] | np.ndarray, margin: float = 0.0) -> bool:
        """True when q is finite and lower + margin <= q <= upper - margin for every joint."""
        arr = np.asarray(q, dtype=float)
        if arr.shape != (self._dof,) or not np.all(np.isfinite(arr)):
            return False
        return bool(np.all(arr >= self.lower + margin) and np.all(arr <= self.upper - margin))

    def fk(self, q: Sequence[float] | np.ndarray, frame: str = "tcp") -> np.ndarray:
        """4x4 pose of ``frame`` (``"tcp"``, ``"flange"`` or a URDF frame name) in the base frame at q."""
        fid = self._frame_id(frame)
        return self._placement(self._to_model(self._check_q(q)), fid).homogeneous.copy()

    def fk_batch(self, qs: np.ndarray, frame: str = "tcp") -> np.ndarray:
        """(N, 4, 4) poses of ``frame`` for (N, dof) configurations (vectorised numpy, no Python loop over N)."""
        qs = np.asarray(qs, dtype=float)
        if qs.ndim != 2 or qs.shape[1] != self._dof:
            raise KinematicsError(f"expected (N, {self._dof}) joint positions, got shape {qs.shape}")
        fid = self._frame_id(frame)
        fr = self.model.frames[fid]
        n = len(qs)
        T = np.broadcast_to(self._base_inv_h, (n, 4, 4)).copy()
        if fr.parentJoint != 0:
            last = self._jids.index(fr.parentJoint)
            for i in range(last + 1):
                k = self._axes[i]
                K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
                s, c = np.sin(qs[:, i])[:, None, None], np.cos(qs[:, i])[:, None, None]
                R = np.eye(3) + s * K + (1.0 - c) * (K @ K)  # Rodrigues, (N, 3, 3)
                M = self._placements[i]
                T[:, :3, 3] += T[:, :3, :3] @ M[:3, 3]
                T[:, :3, :3] = T[:, :3, :3] @ M[:3, :3] @ R
        return T @ fr.placement.homogeneous

    def jacobian(self, q: Sequence[float] | np.ndarray, frame: str = "tcp") -> np.ndarray:
        """(6, dof) geometric Jacobian of ``frame`` at q: rows (linear velocity of the frame origin, angular
        velocity), both in base-frame axes; columns in profile joint order."""
        qm = self._to_model(self._check_q(q))
        fid = self._frame_id(frame)
        J = pin.computeFrameJacobian(self.model, self.data, qm, fid, pin.LOCAL_WORLD_ALIGNED)[:, self._idx_q]
        R = self._base_inv.rotation
        return np.vstack([R @ J[:3], R @ J[3:]])

    def max_reach(self, frame: str = "tcp") -> float:
        """Upper bound on the distance from the first joint's origin to ``frame`` (triangle inequality)."""
        fr = self.model.frames[self._frame_id(frame)]
        if fr.parentJoint == 0:
            return float(np.linalg.norm(fr.placement.translation))
        last = self._jids.index(fr.parentJoint)
        links = sum(float(np.linalg.norm(self._placements[i][:3, 3])) for i in range(1, last + 1))
        return links + float(np.linalg.norm(fr.placement.translation))

    def ik(
        self,
        T_base_target: np.ndarray,
        q_seed: Sequence[float] | np.ndarray | None = None,
        *,
        frame: str = "tcp",
        max_iterations: int = 100,
        restarts: int = 20,
        position_tolerance: float = POSITION_TOLERANCE,
        orientation_tolerance: float = ORIENTATION_TOLERANCE,
        rng: np.random.Generator | int | None = 0,
        timeout_s: float | None = None,
    ) -> np.ndarray | None:
        """Joint positions putting ``frame`` at ``T_base_target`` (4x4, base frame), or None.

        Args:
            T_base_target: target pose of ``frame`` in the base frame.
            q_seed: first initial guess (default: the home configuration); clamped into the limits.
            frame: ``"tcp"`` (default), ``"flange"`` or a URDF frame name.
            max_iterations: iterations per attempt.
            restarts: further attempts from random configurations within the limits after the seed fails.
            position_tolerance: largest accepted position error (metres).
            orientation_tolerance: largest accepted rotation error (radians).
            rng: generator or seed of the restart configurations (default 0: deterministic).
            timeout_s: stop trying after this long (None: no limit); the attempt in progress completes.

        Returns:
            (dof,) joint positions within the limits whose ``fk`` is within the tolerances of the target,
            or None when the target is invalid (not a finite rigid transform), beyond the arm's reach, or
            no attempt converged.
        """
        target = _as_pose(T_base_target)
        if target is None:
            return None
        fid = self._frame_id(frame)
        # cheap reachability bound: distance from the (fixed) first joint origin
        if np.linalg.norm(target.translation - self._shoulder) > self.max_reach(frame) + position_tolerance:
            return None
        seed = self._home if q_seed is None else np.clip(self._check_q(q_seed), self.lower, self.upper)
        if not np.all(np.isfinite(seed)):
            seed = self._home
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        deadline = None if timeout_s is None else time.perf_counter() + timeout_s
        for attempt in range(restarts + 1):
            q0 = seed if attempt == 0 else gen.uniform(self.lower, self.upper)
            q = self._solve(target, q0, fid, max_iterations, position_tolerance, orientation_tolerance)
            if q is not None:
                return q
            if deadline is not None and time.perf_counter() > deadline:
                break
        return None

    def pose_error(
        self, q: Sequence[float] | np.ndarray, T_base_target: np.ndarray, frame: str = "tcp"
    ) -> tuple[float, float]:
        """(position error in metres, rotation error in radians) of ``frame`` at q against a target pose."""
        target = _as_pose(T_base_target)
        if target is None:
            return float("inf"), float("inf")
        cur = self._placement(self._to_model(self._check_q(q)), self._frame_id(frame))
        return _errors(cur, target)

    # ------------------------------------------------------------------ solver
    def _solve(
        self, target: pin.SE3, q0: np.ndarray, fid: int, max_iterations: int, tol_p: float, tol_r: float
    ) -> np.ndarray | None:
        """One Levenberg-Marquardt attempt from q0 (profile order); the solution or None."""
        model, data = self.model, self.data
        lo, hi = self.lower, self.upper
        idx = self._idx_q
        q = q0.astype(float).copy()
        # converge well below the tolerances (quadratic convergence makes this cheap), accept at the tolerances
        goal_p, goal_r = 0.01 * tol_p, 0.01 * tol_r
        lam = 1e-3
        cur = self._placement(self._to_model(q), fid)
        dMi = target.actInv(cur)
        err = pin.log6(dMi).vector  # twist from the target to the current pose, in the target's frame
        cost = float(err @ err)
        stall = 0
        for _ in range(max_iterations):
            e_p, e_r = _errors(cur, target)
            if e_p <= goal_p and e_r <= goal_r:
                break
            J = pin.computeFrameJacobian(model, data, self._to_model(q), fid, pin.LOCAL)[:, idx]
            J = pin.Jlog6(dMi) @ J  # d err / dq
            free = np.ones(self._dof, dtype=bool)
            for _pass in range(3):  # joints pinned at a limit and pushed outwards drop out of the step
                Jf = J * free
                dq = -Jf.T @ np.linalg.solve(Jf @ Jf.T + lam * np.eye(6), err)
                pinned = free & (((q <= lo) & (dq < 0)) | ((q >= hi) & (dq > 0)))
                if not pinned.any():
                    break
                free &= ~pinned
            step = np.max(np.abs(dq))
            if step > 0.5:
                dq *= 0.5 / step
            q_new = np.clip(q + dq, lo, hi)
            new = self._placement(self._to_model(q_new), fid)
            new_dMi = target.actInv(new)
            new_err = pin.log6(new_dMi).vector
            new_cost = float(new_err @ new_err)
            if new_cost < cost:
                q, cur, dMi, err = q_new, new, new_dMi, new_err
                stall = 0 if new_cost < 0.999 * cost else stall + 1
                cost = new_cost
                lam = max(lam * 0.3, 1e-9)
            else:
                lam = min(lam * 10.0, 1e3)
                stall += 1
            if stall >= 12:
                break
        e_p, e_r = _errors(cur, target)
        if e_p <= tol_p and e_r <= tol_r and self.within_limits(q):
            return q
        return None


def _as_pose(T: np.ndarray) -> pin.SE3 | None:
    """A finite rigid 4x4 transform as pin.SE3, else None."""
    try:
        M = np.asarray(T, dtype=float)
    except (TypeError, ValueError):
        return None
    if M.shape != (4, 4) or not np.all(np.isfinite(M)):
        return None
    R = M[:3, :3]
    if not np.allclose(M[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
        return None
    if not np.allclose(R.T @ R, np.eye(3), atol=_ORTHONORMAL_TOLERANCE) or np.linalg.det(R) <= 0:
        return None
    U, _, Vt = np.linalg.svd(R)  # re-orthonormalise rounding noise
    return pin.SE3(U @ Vt, M[:3, 3].copy())


def _errors(cur: pin.SE3, target: pin.SE3) -> tuple[float, float]:
    """(position error, rotation angle) between two placements."""
    e_p = float(np.linalg.norm(cur.translation - target.translation))
    e_r = float(np.linalg.norm(pin.log3(cur.rotation.T @ target.rotation)))
    return e_p, e_r
