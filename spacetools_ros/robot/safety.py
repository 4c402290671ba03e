"""Safety checks every motion passes before any backend moves the arm.

Safety lives in code, not prompts. Everything here is a *pure check*: nothing in this module moves
anything, talks to ROS or plans. Every backend (MoveIt, simulation, dry run) calls these checks
before it plans or executes a motion:

* :class:`MotionGuard` validates goals: Cartesian pose goals (a finite 4x4 rigid transform in the
  robot's base frame whose tool centre point lies inside the workspace box and above the table),
  joint goals (inside the joint limits), planned trajectories (limits, strictly increasing times,
  joint speeds within limits x max velocity scaling, optionally every waypoint's TCP inside the box)
  and straight Cartesian segments (pre-grasp -> grasp -> lift: inside the box, bounded step length).
* :class:`ExecutionGate` holds the execution-enable flag (std_srvs/SetBool semantics, served as
  ``/spacetools/enable_execution``), the dry-run flag and the cancel event.

Semantics of the gate:

* disabled, not dry run: :meth:`ExecutionGate.check_can_move` raises :class:`SafetyError`; no
  planning, no motion.
* dry run: checks run and planning is allowed, but nothing is executed
  (:attr:`ExecutionGate.may_execute` is ``False``; backends report what they *would* have done).
* enabled, not dry run: checks run, then the motion may be executed.
* cancel: :meth:`ExecutionGate.cancel` sets an event that executing backends poll / wait on to
  stop motion; a backend calls :meth:`ExecutionGate.reset_cancel` when it accepts a new goal.
  Disabling execution also trips the cancel event so that a running motion stops.

A :class:`SafetyError`'s message is what the model reads: it names the violated limit and the value.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from spacetools_ros.robot.profile import RobotProfile

ENABLE_SERVICE = "/spacetools/enable_execution"

# no matrix entry (rotation entries are <= 1, translations are metres) may be larger than this
MAX_ABS_VALUE = 1.0e3
# bound on the work one trajectory / path check may do
MAX_POINTS = 100_000
# the bottom row of a homogeneous transform must be [0, 0, 0, 1] to within this
BOTTOM_ROW_TOLERANCE = 1.0e-9

_REAL_KINDS = "iuf"  # numpy dtype kinds accepted as numbers: signed / unsigned integers, floats


class SafetyError(Exception):
    """A goal, trajectory or request violates a safety limit; nothing was (or may be) moved.

    ``str(error)`` is written for the model: it names the violated limit and the offending value.
    ``limit`` is a short machine-readable tag of the check that failed (e.g. ``"workspace_box"``).
    """

    def __init__(self, message: str, *, limit: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.limit = limit

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SafetyConfig:
    """The limits every motion is checked against (base frame, metres, radians, seconds).

    workspace_min / workspace_max: the box the tool centre point (TCP) must stay inside.
    table_height / min_height_above_table: the TCP must stay at least this far above the table top.
    lower_limits / upper_limits / velocity_limits: per joint, in joint_names order.
    max_velocity_scaling: the largest velocity scaling factor any motion may use (0 < s <= 1).
    max_cartesian_step: the longest straight Cartesian segment allowed between consecutive points.
    motion_timeout_s: the longest a single motion may take; backends abort motions that run longer,
        and check_trajectory refuses trajectories planned to take longer.
    joint_tolerance: slack (rad) on joint limits, for encoder noise at a limit.
    rotation_tolerance: max |R^T R - I| entry for a pose goal's rotation.
    require_enable: when True, execution starts disabled until enabled via the service.
    dry_run: when True, checks and planning run but nothing is executed.
    """

    base_frame: str
    joint_names: tuple[str, ...]
    lower_limits: tuple[float, ...]
    upper_limits: tuple[float, ...]
    velocity_limits: tuple[float, ...]
    workspace_min: tuple[float, float, float]
    workspace_max: tuple[float, float, float]
    table_height: float = 0.0
    min_height_above_table: float = 0.01
    max_velocity_scaling: float = 0.5
    max_cartesian_step: float = 0.3
    motion_timeout_s: float = 30.0
    joint_tolerance: float = 1.0e-4
    rotation_tolerance: float = 1.0e-3
    require_enable: bool = True
    dry_run: bool = False

    def __post_init__(self) -> None:
        """Refuse inconsistent configurations (a configuration error, not a model-facing one)."""
        n = len(self.joint_names)
        if n == 0:
            raise ValueError("SafetyConfig: no joints")
        for name in ("lower_limits", "upper_limits", "velocity_limits"):
            values = getattr(self, name)
            if len(values) != n:
                raise ValueError(f"SafetyConfig: {name} has {len(values)} values for {n} joints")
            if not all(math.isfinite(float(v)) for v in values):
                raise ValueError(f"SafetyConfig: {name} must be finite")
        if any(lo >= hi for lo, hi in zip(self.lower_limits, self.upper_limits, strict=True)):
            raise ValueError("SafetyConfig: every lower joint limit must be below its upper limit")
        if any(v <= 0 for v in self.velocity_limits):
            raise ValueError("SafetyConfig: velocity limits must be positive")
        if len(self.workspace_min) != 3 or len(self.workspace_max) != 3:
            raise ValueError("SafetyConfig: the workspace box needs 3 values per corner")
        box = [*self.workspace_min, *self.workspace_max]
        if not all(math.isfinite(float(v)) for v in box):
            raise ValueError("SafetyConfig: the workspace box must be finite")
        if any(lo >= hi for lo, hi in zip(self.workspace_min, self.workspace_max, strict=True)):
            raise ValueError("SafetyConfig: workspace_min must be below workspace_max on every axis")
        if self.min_tcp_z > self.workspace_max[2]:
            raise ValueError("SafetyConfig: the minimum TCP height is above the top of the workspace box")
        if not 0.0 < self.max_velocity_scaling <= 1.0:
            raise ValueError("SafetyConfig: max_velocity_scaling must be in (0, 1]")
        for name in ("max_cartesian_step", "motion_timeout_s", "rotation_tolerance"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"SafetyConfig: {name} must be positive")
        if not (math.isfinite(self.joint_tolerance) and self.joint_tolerance >= 0):
            raise ValueError("SafetyConfig: joint_tolerance must be >= 0")
        if not (math.isfinite(self.table_height) and math.isfinite(self.min_height_above_table)):
            raise ValueError("SafetyConfig: table height and min height must be finite")
        if not self.base_frame:
            raise ValueError("SafetyConfig: base_frame must be set")

    @classmethod
    def from_profile(cls, profile: RobotProfile, **overrides: Any) -> SafetyConfig:
        """The limits of ``profile`` (joint limits, velocity limits, box, table, scaling); ``overrides`` win."""
        config = cls(
            base_frame=profile.base_link,
            joint_names=tuple(profile.joint_names),
            lower_limits=tuple(float(v) for v in profile.lower_limits),
            upper_limits=tuple(float(v) for v in profile.upper_limits),
            velocity_limits=tuple(float(v) for v in profile.velocity_limits),
            workspace_min=tuple(float(v) for v in profile.workspace_min),
            workspace_max=tuple(float(v) for v in profile.workspace_max),
            table_height=float(profile.table_height),
            min_height_above_table=float(profile.min_height_above_table),
            max_velocity_scaling=float(profile.max_velocity_scaling),
        )
        if overrides:
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(overrides) - known)
            if unknown:
                raise ValueError(f"SafetyConfig: unknown option(s) {', '.join(unknown)}")
            config = replace(config, **overrides)
        return config

    @property
    def n_joints(self) -> int:
        """Number of arm joints."""
        return len(self.joint_names)

    @property
    def min_tcp_z(self) -> float:
        """The lowest TCP z allowed: the box floor or table + clearance, whichever is higher."""
        return max(float(self.workspace_min[2]), float(self.table_height) + float(self.min_height_above_table))


# ----------------------------------------------------------------------------------------------- gate


class ExecutionGate:
    """Execution-enable flag, dry-run flag and cancel event, shared by all backends (thread-safe).

    * :meth:`set_enabled` has std_srvs/SetBool semantics: returns ``(success, message)``.
    * :meth:`check_can_move` raises :class:`SafetyError` when execution is disabled and this is not a
      dry run. It returns :attr:`may_execute`: ``False`` in dry run (plan and check, never execute).
    * :meth:`cancel` / :attr:`cancelled` / :meth:`reset_cancel` / :meth:`wait_cancelled`: the stop
      signal executing backends watch. Disabling execution also cancels.
    """

    def __init__(self, *, enabled: bool = False, dry_run: bool = False) -> None:
        self._lock = threading.Lock()
        self._enabled = bool(enabled)
        self._dry_run = bool(dry_run)
        self._cancel = threading.Event()

    @classmethod
    def from_config(cls, config: SafetyConfig) -> ExecutionGate:
        """Starts disabled when ``config.require_enable``, else enabled; dry run as configured."""
        return cls(enabled=not config.require_enable, dry_run=config.dry_run)

    # -- enable ---------------------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Whether execution has been enabled."""
        with self._lock:
            return self._enabled

    def set_enabled(self, enable: bool) -> tuple[bool, str]:
        """Enable or disable execution; returns ``(success, message)`` like std_srvs/SetBool.

        Only a real ``bool`` is accepted. Disabling also trips the cancel event so a running motion stops.
        """
        if not isinstance(enable, bool | np.bool_):
            return False, f"enable must be true or false, got {type(enable).__name__}"
        enable = bool(enable)
        with self._lock:
            was = self._enabled
            self._enabled = enable
            dry = self._dry_run
        if not enable:
            self._cancel.set()
        state = "enabled" if enable else "disabled"
        note = " (dry run: motions are checked and planned but not executed)" if dry else ""
        change = "" if was != enable else " (unchanged)"
        return True, f"execution {state}{change}{note}"

    # -- dry run -------------------------------------------------------------------------------------
    @property
    def dry_run(self) -> bool:
        """Whether this is a dry run (checks and planning run; nothing is executed)."""
        with self._lock:
            return self._dry_run

    def set_dry_run(self, dry_run: bool) -> None:
        """Switch dry run on or off."""
        with self._lock:
            self._dry_run = bool(dry_run)

    @property
    def may_execute(self) -> bool:
        """True only when execution is enabled and this is not a dry run."""
        with self._lock:
            return self._enabled and not self._dry_run

    def check_can_move(self) -> bool:
        """Raise SafetyError when execution is disabled (and not a dry run); return :attr:`may_execute`.

        A ``False`` return means dry run: the caller may check and plan but must not execute.
        """
        with self._lock:
            enabled, dry = self._enabled, self._dry_run
        if dry:
            return False
        if not enabled:
            raise SafetyError(f"execution is disabled: call {ENABLE_SERVICE} with true", limit="execution_enable")
        return True

    # -- cancel --------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask any running motion to stop (sets the cancel event)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancel has been requested since the last :meth:`reset_cancel`."""
        return self._cancel.is_set()

    def reset_cancel(self) -> None:
        """Clear the cancel event (a backend does this when it accepts a new goal)."""
        self._cancel.clear()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block until cancel is requested or ``timeout`` seconds pass; returns :attr:`cancelled`."""
        return self._cancel.wait(timeout)

    @property
    def cancel_event(self) -> threading.Event:
        """The underlying event, for backends that wait on it directly."""
        return self._cancel


# ------------------------------------------------------------------------------------------- parsing


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"


def _check_nested(value: Any, shape: tuple[int | None, ...], what: str, level: int = 0) -> None:
    """Walk a nested list/tuple: exact lengths where fixed, real-number leaves only (no bool, str, None)."""
    if level == len(shape):
        if isinstance(value, bool | np.bool_):
            raise SafetyError(f"{what} contains a boolean ({value!r}); numbers are required", limit="type")
        if isinstance(value, int | float | np.integer | np.floating):
            return
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in _REAL_KINDS:
            return
        if isinstance(value, list | tuple | np.ndarray):
            raise SafetyError(
                f"{what} has the wrong shape: expected {_shape_text(shape)}, nested too deep", limit="shape"
            )
        raise SafetyError(
            f"{what} contains a non-numeric entry of type {type(value).__name__}; numbers are required", limit="type"
        )
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _REAL_KINDS:
            raise SafetyError(f"{what} must hold real numbers, got dtype {value.dtype}", limit="type")
        rest = shape[level:]
        if value.ndim != len(rest) or any(s is not None and s != d for s, d in zip(rest, value.shape, strict=True)):
            raise SafetyError(f"{what} has the wrong shape: expected {_shape_text(shape)}", limit="shape")
        return
    if not isinstance(value, list | tuple):
        raise SafetyError(
            f"{what} has the wrong shape: expected {_shape_text(shape)}, found a {type(value).__name__} "
            f"at nesting level {level}",
            limit="shape",
        )
    n = shape[level]
    if n is not None and len(value) != n:
        raise SafetyError(
            f"{what} has the wrong shape: expected {_shape_text(shape)}, got {len(value)} entries at nesting "
            f"level {level}",
            limit="shape",
        )
    if len(value) > MAX_POINTS:
        raise SafetyError(f"{what} is too long: {len(value)} entries (at most {MAX_POINTS})", limit="shape")
    for item in value:
        _check_nested(item, shape, what, level + 1)


def _as_real_array(value: Any, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    """A validated float64 copy of ``value`` with the given shape (None = any length >= 1), all finite.

    Refuses None, strings, bools (scalars, bool arrays, bools inside lists), object / complex / string
    dtypes, ragged or wrongly shaped nesting, non-finite values and entries above MAX_ABS_VALUE.
    Every failure is a SafetyError; no other exception escapes.
    """
    try:
        if value is None:
            raise SafetyError(f"{what} is missing (got None)", limit="type")
        if isinstance(value, str | bytes | bytearray):
            raise SafetyError(f"{what} must be numbers, not text ({type(value).__name__})", limit="type")
        if isinstance(value, bool | np.bool_):
            raise SafetyError(f"{what} must be numbers, not a boolean", limit="type")
        if isinstance(value, list | tuple):
            _check_nested(value, shape, what)
            arr = np.array(value, dtype=np.float64)
        else:
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
            if not isinstance(arr, np.ndarray):
                raise SafetyError(f"{what} is not an array ({type(value).__name__})", limit="type")
            _check_nested(arr, shape, what)
            with np.errstate(all="ignore"):
                arr = np.array(arr, dtype=np.float64, copy=True)
    except SafetyError:
        raise
    except Exception as exc:  # anything odd in the input (overflowing ints, broken __array__, ...)
        raise SafetyError(f"{what} could not be read as numbers ({type(exc).__name__}: {exc})", limit="type") from None
    if arr.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, arr.shape, strict=True)):
        raise SafetyError(f"{what} has the wrong shape {arr.shape}: expected {_shape_text(shape)}", limit="shape")
    if arr.size == 0:
        raise SafetyError(f"{what} is empty", limit="shape")
    finite = np.isfinite(arr)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise SafetyError(f"{what} contains a non-finite value {arr[idx]} at index {idx}", limit="finite")
    big = np.abs(arr) > MAX_ABS_VALUE
    if big.any():
        idx = tuple(int(i) for i in np.argwhere(big)[0])
        raise SafetyError(
            f"{what} contains an absurd value {arr[idx]:.3g} at index {idx} (|value| must be <= {MAX_ABS_VALUE:g})",
            limit="magnitude",
        )
    return arr


# ------------------------------------------------------------------------------------------- guard


class MotionGuard:
    """The checks every backend runs before any motion (pure: nothing here moves anything).

    Every check raises :class:`SafetyError` with a model-readable message on violation; the pose,
    joint and path checks return clean float64 copies of what they accepted.
    """

    def __init__(self, config: SafetyConfig, gate: ExecutionGate | None = None) -> None:
        self.config = config
        self.gate = gate if gate is not None else ExecutionGate.from_config(config)
        self._lower = np.asarray(config.lower_limits, dtype=np.float64)
        self._upper = np.asarray(config.upper_limits, dtype=np.float64)
        self._vel = np.asarray(config.velocity_limits, dtype=np.float64)
        self._box_min = np.asarray(config.workspace_min, dtype=np.float64)
        self._box_max = np.asarray(config.workspace_max, dtype=np.float64)

    @classmethod
    def from_profile(cls, profile: RobotProfile, gate: ExecutionGate | None = None, **overrides: Any) -> MotionGuard:
        """A guard with ``SafetyConfig.from_profile(profile, **overrides)``."""
        return cls(SafetyConfig.from_profile(profile, **overrides), gate)

    def check_can_move(self) -> bool:
        """Shortcut for ``self.gate.check_can_move()``."""
        return self.gate.check_can_move()

    # -- positions -------------------------------------------------------------------------------------
    def check_tcp_position(self, p: Any, what: str = "TCP") -> np.ndarray:
        """Check one TCP position (base frame): inside the workspace box and above the table."""
        pos = _as_real_array(p, (3,), f"{what} position")
        self._check_position(pos, what)
        return pos

    def _check_position(self, pos: np.ndarray, what: str) -> None:
        cfg = self.config
        frame = cfg.base_frame
        for axis, name in enumerate("xyz"):
            lo, hi, v = self._box_min[axis], self._box_max[axis], float(pos[axis])
            if not lo <= v <= hi:
                raise SafetyError(
                    f"{what} {name} = {v:.4f} m is outside the workspace box {name} range [{lo:.4f}, {hi:.4f}] m "
                    f"(base frame {frame})",
                    limit="workspace_box",
                )
        z = float(pos[2])
        if z < cfg.min_tcp_z:
            raise SafetyError(
                f"{what} z = {z:.4f} m is below the minimum TCP height {cfg.min_tcp_z:.4f} m (table top at "
                f"{cfg.table_height:.4f} m + clearance {cfg.min_height_above_table:.4f} m, base frame {frame})",
                limit="min_height",
            )

    # -- pose goals ------------------------------------------------------------------------------------
    def check_pose_goal(self, T_base_tcp: Any, frame_id: Any, base_frame_id: str | None = None) -> np.ndarray:
        """Validate a TCP pose goal; return a clean float64 4x4 copy.

        ``T_base_tcp``: 4x4 homogeneous transform base -> TCP (array-like of real numbers).
        ``frame_id``: the frame the goal is expressed in; must equal ``base_frame_id`` (default: the
        config's base frame) exactly — goals in any other frame are refused, not transformed here.
        Checks: finite real 4x4, bottom row [0, 0, 0, 1], rotation orthonormal within
        ``rotation_tolerance`` with det +1, TCP position inside the box and above the table.
        """
        base = self.config.base_frame if base_frame_id is None else base_frame_id
        if not isinstance(base, str) or not base:
            raise SafetyError(f"the base frame id must be a non-empty string, got {base!r}", limit="frame")
        if not isinstance(frame_id, str):
            raise SafetyError(
                f"goal frame id must be a string naming a frame, got {type(frame_id).__name__}; expected the base "
                f"frame {base}",
                limit="frame",
            )
        if frame_id != base:
            raise SafetyError(
                f"goal is in frame {frame_id!r}, expected the base frame {base!r} — transform it first", limit="frame"
            )
        T = _as_real_array(T_base_tcp, (4, 4), "pose goal")
        if np.max(np.abs(T[3] - np.array([0.0, 0.0, 0.0, 1.0]))) > BOTTOM_ROW_TOLERANCE:
            raise SafetyError(
                f"pose goal's bottom row is {np.round(T[3], 6).tolist()}, expected [0, 0, 0, 1] (a rigid transform)",
                limit="rotation",
            )
        R = T[:3, :3]
        err = float(np.max(np.abs(R.T @ R - np.eye(3))))
        if err > self.config.rotation_tolerance:
            raise SafetyError(
                f"pose goal's rotation is not orthonormal (max |R^T R - I| = {err:.3g}, tolerance "
                f"{self.config.rotation_tolerance:g}); scaled or sheared matrices are refused",
                limit="rotation",
            )
        det = float(np.linalg.det(R))
        if det <= 0.0:
            raise SafetyError(
                f"pose goal's rotation has determinant {det:.3f}, expected +1 (a reflection is not a rotation)",
                limit="rotation",
            )
        self._check_position(T[:3, 3], "goal TCP")
        T[3] = (0.0, 0.0, 0.0, 1.0)
        return T

    # -- joint goals -----------------------------------------------------------------------------------
    def _check_limits(self, q: np.ndarray, what: str) -> None:
        tol = self.config.joint_tolerance
        bad = (q < self._lower - tol) | (q > self._upper + tol)
        if bad.any():
            j = int(np.argmax(bad))
            raise SafetyError(
                f"{what}: joint {self.config.joint_names[j]} = {q[j]:.4f} rad is outside its limits "
                f"[{self._lower[j]:.4f}, {self._upper[j]:.4f}] rad",
                limit="joint_limits",
            )

    def check_joint_goal(self, q: Any) -> np.ndarray:
        """Validate a joint goal (n_joints finite values within limits ± joint_tolerance).

        Returns a float64 copy clipped exactly into the limits (removes the tolerance slack).
        """
        arr = _as_real_array(q, (self.config.n_joints,), "joint goal")
        self._check_limits(arr, "joint goal")
        return np.clip(arr, self._lower, self._upper)

    # -- trajectories ----------------------------------------------------------------------------------
    def check_trajectory(
        self,
        positions: Any,
        times: Any,
        fk: Callable[[np.ndarray], Any] | None = None,
    ) -> None:
        """Validate a planned joint trajectory before executing it.

        ``positions``: (N, n_joints) waypoints; ``times``: (N,) time from start (s), >= 0, strictly
        increasing. Checks every waypoint within joint limits, the average joint speed between
        consecutive waypoints within ``velocity_limits x max_velocity_scaling``, the duration within
        ``motion_timeout_s``, and, when ``fk`` (q -> 4x4 base->TCP) is given, every waypoint's TCP
        inside the workspace box and above the table.
        """
        cfg = self.config
        pos = _as_real_array(positions, (None, cfg.n_joints), "trajectory positions")
        t = _as_real_array(times, (None,), "trajectory times")
        n = pos.shape[0]
        if t.shape[0] != n:
            raise SafetyError(f"trajectory has {n} waypoints but {t.shape[0]} times", limit="shape")
        if t[0] < 0:
            raise SafetyError(f"trajectory starts at negative time {t[0]:.4f} s", limit="times")
        for i in range(n):
            self._check_limits(pos[i], f"trajectory waypoint {i}")
        if n > 1:
            dt = np.diff(t)
            if (dt <= 0).any():
                i = int(np.argmax(dt <= 0))
                raise SafetyError(
                    f"trajectory times must be strictly increasing: waypoint {i + 1} at {t[i + 1]:.4f} s is not after "
                    f"waypoint {i} at {t[i]:.4f} s",
                    limit="times",
                )
            speed = np.abs(np.diff(pos, axis=0)) / dt[:, None]
            allowed = self._vel * cfg.max_velocity_scaling
            over = speed > allowed * (1.0 + 1e-6) + 1e-9
            if over.any():
                i, j = (int(k) for k in np.argwhere(over)[0])
                raise SafetyError(
                    f"trajectory too fast between waypoints {i} and {i + 1}: joint {cfg.joint_names[j]} moves at "
                    f"{speed[i, j]:.3f} rad/s, above its limit {allowed[j]:.3f} rad/s ({self._vel[j]:.3f} rad/s x "
                    f"max velocity scaling {cfg.max_velocity_scaling:.2f})",
                    limit="velocity",
                )
        duration = float(t[-1])
        if duration > cfg.motion_timeout_s:
            raise SafetyError(
                f"trajectory takes {duration:.1f} s, longer than the per-motion timeout {cfg.motion_timeout_s:.1f} s; "
                "split the motion or use a higher velocity scaling",
                limit="timeout",
            )
        if fk is not None:
            for i in range(n):
                try:
                    T = fk(pos[i].copy())
                except Exception as exc:
                    raise SafetyError(
                        f"forward kinematics failed at trajectory waypoint {i} ({type(exc).__name__}: {exc})",
                        limit="fk",
                    ) from None
                M = _as_real_array(T, (4, 4), f"forward kinematics of trajectory waypoint {i}")
                self._check_position(M[:3, 3], f"trajectory waypoint {i} TCP")

    # -- straight Cartesian segments ------------------------------------------------------------------
    def check_cartesian_path(self, points_base: Any) -> np.ndarray:
        """Validate straight-line TCP waypoints (base frame), e.g. pre-grasp -> grasp -> lift.

        ``points_base``: (N, 3), N >= 1 — include the start point so its first segment is checked too.
        Every point must be inside the box and above the table; consecutive points at most
        ``max_cartesian_step`` apart. Returns a float64 copy.
        """
        pts = _as_real_array(points_base, (None, 3), "Cartesian path")
        for i in range(pts.shape[0]):
            self._check_position(pts[i], f"Cartesian path point {i}")
        if pts.shape[0] > 1:
            steps = np.linalg.norm(np.diff(pts, axis=0), axis=1)
            i = int(np.argmax(steps))
            if steps[i] > self.config.max_cartesian_step:
                raise SafetyError(
                    f"Cartesian path step {i} -> {i + 1} is {steps[i]:.4f} m long, above the max straight-line "
                    f"step {self.config.max_cartesian_step:.4f} m",
                    limit="cartesian_step",
                )
        return pts

    # -- velocity scaling ------------------------------------------------------------------------------
    def clamp_velocity_scaling(self, s: Any) -> float:
        """Return a usable velocity scaling: values above the max are clamped to it.

        Refused (SafetyError): non-numbers (incl. bool, None, strings), NaN / inf, and s <= 0.
        """
        cap = self.config.max_velocity_scaling
        if isinstance(s, bool | np.bool_) or not isinstance(s, int | float | np.integer | np.floating):
            raise SafetyError(
                f"velocity scaling must be a number in (0, {cap:g}], got {type(s).__name__}", limit="velocity_scaling"
            )
        try:
            value = float(s)
        except (OverflowError, ValueError):
            value = math.inf
        if not math.isfinite(value):
            raise SafetyError(f"velocity scaling {value} is not a finite number", limit="velocity_scaling")
        if value <= 0.0:
            raise SafetyError(
                f"velocity scaling {value:g} must be greater than 0 (max {cap:g})", limit="velocity_scaling"
            )
        return min(value, cap)
