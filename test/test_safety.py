"""Safety checks: adversarial pose goals, joint goals, trajectories, Cartesian paths, the execution gate.

The adversarial test feeds >= 10 000 seeded random and hostile goals through MotionGuard.check_pose_goal
and a fake motion executor that only receives goals the guard accepted; it then re-checks every executed
goal with an independent oracle written here (not the guard's code).
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from spacetools_ros.robot.profile import PANDA
from spacetools_ros.robot.safety import (
    ENABLE_SERVICE,
    ExecutionGate,
    MotionGuard,
    SafetyConfig,
    SafetyError,
)

BASE = PANDA.base_link
BOX_MIN = np.array(PANDA.workspace_min, dtype=float)
BOX_MAX = np.array(PANDA.workspace_max, dtype=float)
FLOOR = max(BOX_MIN[2], PANDA.table_height + PANDA.min_height_above_table)  # lowest TCP z allowed
HOME = np.array(PANDA.home)


# ----------------------------------------------------------------------------------------- helpers


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (unit quaternion from a 4-D Gaussian)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _pose(R: np.ndarray, p) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = p
    return T


def _inside_point(rng: np.random.Generator, margin: float = 0.002) -> np.ndarray:
    """A point strictly inside the allowed region (box and above the floor), ``margin`` from its faces."""
    lo = np.array([BOX_MIN[0], BOX_MIN[1], FLOOR]) + margin
    hi = BOX_MAX - margin
    return rng.uniform(lo, hi)


def _oracle_ok(T) -> bool:
    """Independent acceptance rule for a numeric 4x4: finite, rigid, TCP in the box and above the floor."""
    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4) or not np.isfinite(T).all() or np.abs(T).max() > 1e3:
        return False
    if not np.allclose(T[3], [0, 0, 0, 1], atol=1e-9, rtol=0):
        return False
    R, p = T[:3, :3], T[:3, 3]
    if np.abs(R.T @ R - np.eye(3)).max() > 1e-3 or np.linalg.det(R) <= 0:
        return False
    return bool((p >= BOX_MIN).all() and (p <= BOX_MAX).all() and p[2] >= FLOOR)


def _verify_executed(T: np.ndarray) -> list[str]:
    """What is wrong with a goal the executor received (empty: nothing)."""
    problems = []
    if not isinstance(T, np.ndarray) or T.dtype != np.float64 or T.shape != (4, 4):
        return [f"not a float64 4x4 array: {type(T).__name__} {getattr(T, 'dtype', None)} {getattr(T, 'shape', None)}"]
    if not np.isfinite(T).all():
        problems.append("non-finite")
    else:
        R, p = T[:3, :3], T[:3, 3]
        if np.abs(R.T @ R - np.eye(3)).max() > 1e-3 or np.linalg.det(R) <= 0:
            problems.append("not a rotation")
        if not np.array_equal(T[3], [0.0, 0.0, 0.0, 1.0]):
            problems.append("bad bottom row")
        if (p < BOX_MIN).any() or (p > BOX_MAX).any():
            problems.append(f"TCP outside the box: {p}")
        if p[2] < FLOOR:
            problems.append(f"TCP below min height: {p[2]}")
    return problems


class FakeExecutor:
    """Stands in for a motion backend: records the goals it was asked to move to."""

    def __init__(self) -> None:
        self.executed: list[tuple[str, np.ndarray]] = []

    def move_to(self, category: str, T: np.ndarray) -> None:
        self.executed.append((category, T))


@pytest.fixture
def guard() -> MotionGuard:
    return MotionGuard.from_profile(PANDA)


# -------------------------------------------------------------------------------- adversarial goals


def _adversarial_cases(rng: np.random.Generator) -> list[tuple[str, object, object, bool | None]]:
    """(category, goal, frame_id, expected) — expected None: decided by the oracle (numeric goals)."""
    cases: list[tuple[str, object, object, bool | None]] = []

    def add(cat, goal, expected, frame=BASE):
        cases.append((cat, goal, frame, expected))

    # uniform poses in a large volume around the robot: the oracle decides
    for _ in range(5000):
        p = rng.uniform([-1.5, -1.5, -0.5], [1.5, 1.5, 1.5])
        add("uniform_volume", _pose(_random_rotation(rng), p), None)
    # valid goals inside the allowed region: all must be accepted
    for _ in range(1000):
        add("valid_inside", _pose(_random_rotation(rng), _inside_point(rng)), True)
    # valid goals in other containers / dtypes
    for _ in range(50):
        T = _pose(_random_rotation(rng), _inside_point(rng))
        add("valid_containers", T.tolist(), True)
        add("valid_containers", tuple(tuple(r) for r in T.tolist()), True)
        add("valid_containers", [np.array(r) for r in T], True)
        add("valid_containers", T.astype(np.float32).astype(np.float64), True)
        add("valid_containers", np.asfortranarray(T), True)
    # tiny numeric noise on the rotation is tolerated
    for _ in range(100):
        T = _pose(_random_rotation(rng), _inside_point(rng))
        T[:3, :3] += rng.uniform(-1e-7, 1e-7, size=(3, 3))
        add("near_rotation_valid", T, True)

    # 1 mm outside / inside / exactly on each box face (other coordinates well inside)
    for axis in range(3):
        for side, bound in (("min", BOX_MIN[axis]), ("max", BOX_MAX[axis])):
            outward = -1.0 if side == "min" else 1.0
            for _ in range(100):
                R = _random_rotation(rng)
                p = _inside_point(rng, margin=0.01)
                p[axis] = bound + outward * 0.001
                add(f"outside_face_{'xyz'[axis]}{side}", _pose(R, p), False)
                q = p.copy()
                q[axis] = bound
                add(f"on_face_{'xyz'[axis]}{side}", _pose(R, q), None)  # on the z-min face: below the floor
                q[axis] = bound - outward * 0.001
                add(f"inside_face_{'xyz'[axis]}{side}", _pose(R, q), None)
    # below the table
    for _ in range(300):
        p = _inside_point(rng)
        p[2] = rng.uniform(-0.5, PANDA.table_height - 1e-6)
        add("below_table", _pose(_random_rotation(rng), p), False)
    # at the min-height boundary
    for _ in range(100):
        R = _random_rotation(rng)
        p = _inside_point(rng)
        p[2] = FLOOR
        add("min_height_exact", _pose(R, p), True)
        p[2] = FLOOR - 0.001
        add("min_height_1mm_below", _pose(R, p), False)
        p[2] = FLOOR + 0.001
        add("min_height_1mm_above", _pose(R, p), True)
        p[2] = np.nextafter(FLOOR, -np.inf)
        add("min_height_1ulp_below", _pose(R, p), False)

    # NaN / inf in every entry
    for _ in range(10):
        T0 = _pose(_random_rotation(rng), _inside_point(rng))
        for i in range(4):
            for j in range(4):
                for bad in (np.nan, np.inf, -np.inf):
                    T = T0.copy()
                    T[i, j] = bad
                    add("non_finite", T, False)
    # huge values in every entry, and everywhere
    for _ in range(10):
        T0 = _pose(_random_rotation(rng), _inside_point(rng))
        for i in range(4):
            for j in range(4):
                for bad in (1e300, -1e300):
                    T = T0.copy()
                    T[i, j] = bad
                    add("huge_values", T, False)
    for bad in (1e300, -1e300, 1e20, 1.7e308):
        add("huge_values", np.full((4, 4), bad), False)
        T = np.eye(4)
        T[:3, 3] = bad
        add("huge_values", T, False)

    # matrices that are not rotations
    for _ in range(300):
        R = _random_rotation(rng)
        s = rng.choice([rng.uniform(0.5, 0.99), rng.uniform(1.01, 2.0)])
        add("scaled", _pose(R * s, _inside_point(rng)), False)
        add("scaled_axis", _pose(R @ np.diag([1.0, 1.0, s]), _inside_point(rng)), False)
        shear = np.eye(3)
        i, j = rng.choice(3, size=2, replace=False)
        shear[i, j] = rng.choice([-1, 1]) * rng.uniform(0.01, 1.0)
        add("sheared", _pose(R @ shear, _inside_point(rng)), False)
        add("reflected", _pose(R @ np.diag([1.0, 1.0, -1.0]), _inside_point(rng)), False)
        add("reflected", _pose(-R, _inside_point(rng)), False)
        add("random_matrix", _pose(rng.normal(size=(3, 3)), _inside_point(rng)), False)
        T = _pose(R, _inside_point(rng))
        T[3, rng.integers(4)] += rng.choice([-1, 1]) * rng.uniform(1e-6, 1.0)
        add("bad_bottom_row", T, False)
        T = _pose(R, _inside_point(rng))
        T[:3, :3] += rng.uniform(0.002, 0.05) * rng.choice([-1, 1], size=(3, 3))
        add("perturbed_rotation", T, False)
    add("zero_matrix", np.zeros((4, 4)), False)
    add("zero_rotation", _pose(np.zeros((3, 3)), [0.5, 0.0, 0.3]), False)

    # wrong shapes
    for _ in range(50):
        T = _pose(_random_rotation(rng), _inside_point(rng))
        for arr in (
            T[:3, :3],
            T[:, :3],
            T[:3, :],
            T.reshape(16),
            T[None],
            T[..., None],
            np.pad(T, ((0, 1), (0, 1))),
            np.empty((0,)),
            np.empty((0, 4)),
            np.empty((4, 0)),
            np.float64(0.5),
            T[:3, 3],
        ):
            add("wrong_shape", arr, False)
            add("wrong_shape_list", arr.tolist() if isinstance(arr, np.ndarray) else [arr], False)
        ragged = T.tolist()
        ragged[1] = ragged[1][:3]
        add("wrong_shape_list", ragged, False)
        ragged = T.tolist()
        ragged[2] = [*ragged[2], 0.0]
        add("wrong_shape_list", ragged, False)
        nested = T.tolist()
        nested[0][0] = [nested[0][0]]
        add("wrong_shape_list", nested, False)
    add("wrong_shape_list", [], False)
    add("wrong_shape_list", [[]], False)
    add("wrong_shape_list", [[], [], [], []], False)

    # wrong types
    valid = _pose(_random_rotation(rng), [0.5, 0.0, 0.3])
    bool_row = valid.tolist()
    bool_row[3][3] = True  # True == 1: a bool hidden where a number must be
    none_inside = valid.tolist()
    none_inside[0][3] = None
    for goal in (
        None,
        "identity",
        "np.eye(4)",
        "",
        b"\x00" * 16,
        bytearray(16),
        True,
        False,
        np.True_,
        0,
        0.5,
        np.eye(4, dtype=bool),
        valid.astype(bool),
        valid.astype(object),
        np.array(valid.tolist(), dtype=object),
        [[str(v) for v in row] for row in valid],
        [["a", "b", "c", "d"]] * 4,
        ["abcd", "efgh", "ijkl", "mnop"],
        bool_row,
        none_inside,
        valid.astype(complex),
        (valid + 0j).tolist(),
        [[Decimal(str(v)) for v in row] for row in valid],
        [[Fraction(v) for v in row] for row in valid],
        [[10**400] * 4] * 4,
        np.array([[10**400] * 4] * 4, dtype=object),
        {"T": valid},
        {1, 2, 3, 4},
        (row for row in valid),
        lambda: valid,
        object(),
        np.array(["1"] * 16).reshape(4, 4),
        np.zeros((4, 4), dtype="datetime64[s]"),
        np.zeros((4, 4), dtype=[("a", float)]),
        np.zeros((4, 4), dtype="timedelta64[s]"),
    ):
        for _ in range(8):
            add("wrong_type", goal, False)

    # wrong frame ids (the goal itself is valid)
    for _ in range(50):
        T = _pose(_random_rotation(rng), _inside_point(rng))
        for frame in (
            "world",
            "",
            "panda_link0 ",
            " panda_link0",
            "/panda_link0",
            "PANDA_LINK0",
            "panda_link8",
            "camera_color_optical_frame",
            None,
            0,
            b"panda_link0",
            ["panda_link0"],
        ):
            add("wrong_frame", T, False, frame=frame)
    return cases


def test_adversarial_pose_goals_never_reach_the_executor(guard: MotionGuard) -> None:
    rng = np.random.default_rng(20240607)
    cases = _adversarial_cases(rng)
    assert len(cases) >= 10_000

    executor = FakeExecutor()
    escaped: list[tuple[str, str]] = []
    mismatched: list[tuple[str, bool, bool]] = []
    counts: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    for category, goal, frame, expected in cases:
        counts[category] += 1
        try:
            clean = guard.check_pose_goal(goal, frame, BASE)
        except SafetyError as exc:
            assert str(exc), "a SafetyError needs a message for the model"
            ok = False
        except Exception as exc:  # noqa: BLE001 - the point: nothing but SafetyError may escape
            escaped.append((category, f"{type(exc).__name__}: {exc}"))
            continue
        else:
            ok = True
            accepted[category] += 1
            executor.move_to(category, clean)
        want = _oracle_ok(goal) if expected is None else expected
        if ok != want:
            mismatched.append((category, want, ok))

    assert not escaped, f"{len(escaped)} non-SafetyError exceptions escaped, e.g. {escaped[:5]}"
    bad = [(cat, problems) for cat, T in executor.executed if (problems := _verify_executed(T))]
    assert not bad, f"{len(bad)} unsafe goals reached the executor, e.g. {bad[:5]}"
    assert not mismatched, f"{len(mismatched)} decisions differ from the oracle, e.g. {mismatched[:10]}"

    # the guard must not just reject everything
    assert len(executor.executed) > 2000
    assert accepted["valid_inside"] == counts["valid_inside"] == 1000
    assert accepted["valid_containers"] == counts["valid_containers"]
    assert accepted["min_height_exact"] == counts["min_height_exact"]
    assert 0 < accepted["uniform_volume"] < counts["uniform_volume"]
    for cat in counts:
        if cat.startswith(("outside_face", "below_table", "non_finite", "huge", "scaled", "sheared", "reflected")):
            assert accepted[cat] == 0, cat
        if cat.startswith(("random_matrix", "bad_bottom", "perturbed", "wrong_", "min_height_1mm_below")):
            assert accepted[cat] == 0, cat
    # on the x/y/z-max faces and 1 mm inside any x/y face the goal is allowed
    for cat in ("on_face_xmin", "on_face_xmax", "on_face_ymin", "on_face_ymax", "on_face_zmax"):
        assert accepted[cat] == counts[cat] == 100, cat
    # the box floor (z = 0) lies below the table clearance: on it or 1 mm above it is still refused
    assert accepted["on_face_zmin"] == accepted["inside_face_zmin"] == 0


def test_accepted_goal_is_a_clean_copy(guard: MotionGuard) -> None:
    T = _pose(np.eye(3), [0.5, 0.1, 0.3]).astype(np.float32)
    out = guard.check_pose_goal(T, BASE, BASE)
    assert out.dtype == np.float64 and out.shape == (4, 4)
    out[0, 3] = 99.0
    assert T[0, 3] == pytest.approx(0.5)
    lst = _pose(np.eye(3), [0.5, 0.1, 0.3]).tolist()
    assert np.allclose(guard.check_pose_goal(lst, BASE), np.array(lst))  # base frame defaults to the profile's


@pytest.mark.parametrize(
    ("goal_p", "frame", "fragments"),
    [
        ([0.851, 0.0, 0.3], BASE, ["x = 0.8510", "workspace box", "0.8500"]),
        ([0.5, -0.601, 0.3], BASE, ["y = -0.6010", "workspace box"]),
        ([0.5, 0.0, 0.701], BASE, ["z = 0.7010", "workspace box"]),
        ([0.5, 0.0, 0.005], BASE, ["z = 0.0050", "minimum TCP height 0.0100", "table"]),
        ([0.5, 0.0, 0.3], "world", ["goal is in frame 'world'", "expected the base frame 'panda_link0'", "transform"]),
    ],
)
def test_messages_name_the_limit_and_value(guard: MotionGuard, goal_p, frame, fragments) -> None:
    with pytest.raises(SafetyError) as info:
        guard.check_pose_goal(_pose(np.eye(3), goal_p), frame, BASE)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_non_rotation_and_nan_messages(guard: MotionGuard) -> None:
    with pytest.raises(SafetyError, match="determinant"):
        guard.check_pose_goal(_pose(np.diag([1.0, 1.0, -1.0]), [0.5, 0, 0.3]), BASE)
    with pytest.raises(SafetyError, match="orthonormal"):
        guard.check_pose_goal(_pose(2 * np.eye(3), [0.5, 0, 0.3]), BASE)
    T = _pose(np.eye(3), [0.5, 0, 0.3])
    T[1, 3] = np.nan
    with pytest.raises(SafetyError, match="non-finite"):
        guard.check_pose_goal(T, BASE)
    with pytest.raises(SafetyError, match="shape"):
        guard.check_pose_goal(np.eye(3), BASE)
    with pytest.raises(SafetyError, match="boolean"):
        guard.check_pose_goal([[1, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0.3], [0, 0, 0, True]], BASE)


# ----------------------------------------------------------------------------------- joint goals


def test_joint_goal_valid_and_limits(guard: MotionGuard) -> None:
    out = guard.check_joint_goal(HOME)
    assert out.dtype == np.float64 and np.allclose(out, HOME)
    assert np.allclose(guard.check_joint_goal(PANDA.lower_limits), PANDA.lower_limits)
    assert np.allclose(guard.check_joint_goal(list(PANDA.upper_limits)), PANDA.upper_limits)
    # within the tiny tolerance: accepted and clipped exactly onto the limit
    q = PANDA.upper_limits + 1e-6
    assert np.array_equal(guard.check_joint_goal(q), PANDA.upper_limits)
    for j in range(7):
        for q in (HOME.copy(), HOME.copy()):
            q[j] = PANDA.upper_limits[j] + 0.01
            with pytest.raises(SafetyError, match=PANDA.joint_names[j]):
                guard.check_joint_goal(q)
            q[j] = PANDA.lower_limits[j] - 0.01
            with pytest.raises(SafetyError, match="outside its limits"):
                guard.check_joint_goal(q)
            for bad in (np.nan, np.inf, -np.inf):
                q[j] = bad
                with pytest.raises(SafetyError, match="non-finite"):
                    guard.check_joint_goal(q)


@pytest.mark.parametrize(
    "q",
    [
        None,
        "home",
        True,
        HOME[:6],
        np.append(HOME, 0.0),
        HOME.reshape(1, 7),
        HOME.astype(bool),
        HOME.astype(object),
        [*HOME[:6], True],
        [*HOME[:6], "0.7"],
        [*HOME[:6], None],
        [],
        HOME + 0j,
    ],
)
def test_joint_goal_rejects_garbage(guard: MotionGuard, q) -> None:
    with pytest.raises(SafetyError):
        guard.check_joint_goal(q)


# ----------------------------------------------------------------------------------- trajectories


def _trajectory(q0, q1, n: int = 20, speed_fraction: float = 0.5):
    """A straight joint-space trajectory whose fastest joint runs at speed_fraction x its allowed speed."""
    q0, q1 = np.asarray(q0, float), np.asarray(q1, float)
    allowed = PANDA.velocity_limits * PANDA.max_velocity_scaling
    duration = max(float(np.max(np.abs(q1 - q0) / (allowed * speed_fraction))), 0.1)
    times = np.linspace(0.0, duration, n)
    positions = q0 + (q1 - q0) * (times / duration)[:, None]
    return positions, times


def test_trajectory_valid_passes(guard: MotionGuard) -> None:
    q1 = HOME + np.array([0.5, 0.3, -0.4, 0.5, 0.2, -0.3, 0.6])
    positions, times = _trajectory(HOME, q1)
    assert guard.check_trajectory(positions, times) is None
    assert guard.check_trajectory(positions.tolist(), times.tolist()) is None
    assert guard.check_trajectory(HOME[None], [0.0]) is None  # a single waypoint
    # exactly at the allowed speed passes
    positions, times = _trajectory(HOME, q1, speed_fraction=1.0)
    guard.check_trajectory(positions, times)


def test_trajectory_violations(guard: MotionGuard) -> None:
    q1 = HOME + np.array([0.5, 0.3, -0.4, 0.5, 0.2, -0.3, 0.6])
    positions, times = _trajectory(HOME, q1)
    # too fast: twice the allowed speed (still below the hardware limit: max scaling is enforced)
    fast_p, fast_t = _trajectory(HOME, q1, speed_fraction=1.9)
    with pytest.raises(SafetyError, match="too fast.*max velocity scaling"):
        guard.check_trajectory(fast_p, fast_t)
    # out of limits at one waypoint
    bad = positions.copy()
    bad[7, 3] = 0.2  # joint 4 must stay below -0.0698
    with pytest.raises(SafetyError, match="waypoint 7.*panda_joint4"):
        guard.check_trajectory(bad, times)
    # NaN in positions / times
    bad = positions.copy()
    bad[3, 1] = np.nan
    with pytest.raises(SafetyError, match="non-finite"):
        guard.check_trajectory(bad, times)
    bad_t = times.copy()
    bad_t[5] = np.nan
    with pytest.raises(SafetyError, match="non-finite"):
        guard.check_trajectory(positions, bad_t)
    # non-increasing times: repeated, decreasing
    for k, value in ((5, times[4]), (5, times[4] - 0.01)):
        bad_t = times.copy()
        bad_t[k] = value
        with pytest.raises(SafetyError, match="strictly increasing"):
            guard.check_trajectory(positions, bad_t)
    # negative start, length mismatch, wrong width, empty
    with pytest.raises(SafetyError, match="negative"):
        guard.check_trajectory(positions, times - 1.0)
    with pytest.raises(SafetyError, match="times"):
        guard.check_trajectory(positions, times[:-1])
    with pytest.raises(SafetyError, match="shape"):
        guard.check_trajectory(positions[:, :6], times)
    with pytest.raises(SafetyError):
        guard.check_trajectory(np.empty((0, 7)), np.empty(0))
    with pytest.raises(SafetyError):
        guard.check_trajectory(None, times)
    # longer than the per-motion timeout
    slow_t = times * (guard.config.motion_timeout_s * 2 / times[-1])
    with pytest.raises(SafetyError, match="timeout"):
        guard.check_trajectory(positions, slow_t)


def test_trajectory_with_fk_hook(guard: MotionGuard) -> None:
    """An fk callable (e.g. ArmKinematics.fk) lets the check see every waypoint's TCP."""

    def fake_fk(q: np.ndarray) -> np.ndarray:
        # a toy map: joint 1 sweeps the TCP along y, joint 2 along x; z fixed well above the table
        return _pose(np.eye(3), [0.5 + 0.2 * (q[1] - HOME[1]), 0.4 * q[0], 0.3])

    q_ok = HOME.copy()
    q_ok[0] = 1.0  # y = 0.4: inside
    positions, times = _trajectory(HOME, q_ok)
    guard.check_trajectory(positions, times, fk=fake_fk)

    q_out = HOME.copy()
    q_out[0] = 2.0  # y sweeps to 0.8: the later waypoints leave the box
    positions, times = _trajectory(HOME, q_out)
    guard.check_trajectory(positions, times)  # without fk: joint-wise fine
    with pytest.raises(SafetyError, match="waypoint .* TCP y = .*workspace box"):
        guard.check_trajectory(positions, times, fk=fake_fk)

    def low_fk(q: np.ndarray) -> np.ndarray:
        return _pose(np.eye(3), [0.5, 0.0, 0.3 - 0.3 * abs(q[0])])

    positions, times = _trajectory(HOME, q_ok)
    with pytest.raises(SafetyError, match="minimum TCP height"):
        guard.check_trajectory(positions, times, fk=low_fk)

    def broken_fk(q: np.ndarray) -> np.ndarray:
        raise RuntimeError("solver exploded")

    with pytest.raises(SafetyError, match="forward kinematics failed.*solver exploded"):
        guard.check_trajectory(positions, times, fk=broken_fk)

    def nan_fk(q: np.ndarray) -> np.ndarray:
        return np.full((4, 4), np.nan)

    with pytest.raises(SafetyError, match="non-finite"):
        guard.check_trajectory(positions, times, fk=nan_fk)


# ----------------------------------------------------------------------------------- Cartesian paths


def test_cartesian_path(guard: MotionGuard) -> None:
    pre_grasp, grasp, lift = [0.5, 0.1, 0.25], [0.5, 0.1, 0.12], [0.5, 0.1, 0.3]
    out = guard.check_cartesian_path([pre_grasp, grasp, lift])
    assert out.shape == (3, 3) and out.dtype == np.float64
    guard.check_cartesian_path([grasp])
    # a point below the table clearance, outside the box
    with pytest.raises(SafetyError, match="point 1.*minimum TCP height"):
        guard.check_cartesian_path([pre_grasp, [0.5, 0.1, 0.005], lift])
    with pytest.raises(SafetyError, match="point 2.*workspace box"):
        guard.check_cartesian_path([pre_grasp, grasp, [0.9, 0.1, 0.3]])
    # a step longer than the max straight-line step
    with pytest.raises(SafetyError, match="step 0 -> 1.*max straight-line step 0.3000"):
        guard.check_cartesian_path([[0.3, -0.3, 0.2], [0.6, 0.3, 0.2]])
    step = guard.config.max_cartesian_step
    guard.check_cartesian_path([[0.3, 0.0, 0.2], [0.3 + step, 0.0, 0.2]])  # exactly one max step: allowed
    for bad in ([[0.5, np.nan, 0.2]], [[0.5, 0.1]], [], None, "grasp", [[0.5, 0.1, True]]):
        with pytest.raises(SafetyError):
            guard.check_cartesian_path(bad)


# ----------------------------------------------------------------------------------------- the gate


def test_gate_disabled_by_default_and_enable() -> None:
    guard = MotionGuard.from_profile(PANDA)
    gate = guard.gate
    assert not gate.enabled and not gate.may_execute
    with pytest.raises(SafetyError) as info:
        gate.check_can_move()
    assert ENABLE_SERVICE in str(info.value) and "disabled" in str(info.value)
    assert str(info.value) == "execution is disabled: call /spacetools/enable_execution with true"

    ok, message = gate.set_enabled(True)
    assert ok and "enabled" in message
    assert gate.check_can_move() is True and gate.may_execute
    assert guard.check_can_move() is True
    ok, message = gate.set_enabled(False)
    assert ok and "disabled" in message
    with pytest.raises(SafetyError):
        guard.check_can_move()
    # SetBool semantics: only a real bool; anything else fails without changing the state
    for bad in ("true", 1, None):
        ok, message = gate.set_enabled(bad)  # type: ignore[arg-type]
        assert not ok and "true or false" in message
        assert not gate.enabled


def test_gate_from_config_flags() -> None:
    gate = ExecutionGate.from_config(SafetyConfig.from_profile(PANDA, require_enable=False))
    assert gate.enabled and gate.may_execute
    gate = ExecutionGate.from_config(SafetyConfig.from_profile(PANDA, dry_run=True))
    assert gate.dry_run and not gate.enabled


def test_dry_run_plans_but_never_executes() -> None:
    """Dry run: every check runs and planning is allowed, but may_execute stays False (nothing moves)."""
    guard = MotionGuard.from_profile(PANDA, dry_run=True)
    gate = guard.gate
    assert gate.check_can_move() is False  # no exception while disabled: planning allowed
    assert not gate.may_execute
    gate.set_enabled(True)
    assert gate.check_can_move() is False and not gate.may_execute  # still a dry run
    with pytest.raises(SafetyError):  # the checks still run in dry run
        guard.check_pose_goal(_pose(np.eye(3), [2.0, 0.0, 0.3]), BASE)
    gate.set_dry_run(False)
    assert gate.check_can_move() is True and gate.may_execute


def test_gate_is_thread_safe() -> None:
    gate = ExecutionGate()
    errors: list[BaseException] = []
    results: Counter[bool] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(9)

    def toggler(k: int) -> None:
        try:
            start.wait()
            for i in range(500):
                ok, _ = gate.set_enabled((i + k) % 2 == 0)
                assert ok
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def reader() -> None:
        try:
            start.wait()
            for _ in range(2000):
                try:
                    allowed = gate.check_can_move()
                except SafetyError:
                    allowed = False
                with lock:
                    results[allowed] += 1
                assert isinstance(gate.may_execute, bool)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=toggler, args=(k,)) for k in range(8)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors and not any(t.is_alive() for t in threads)
    assert sum(results.values()) == 2000
    # after the storm the flag is a clean bool that set_enabled still controls
    gate.set_enabled(True)
    assert gate.enabled is True and gate.check_can_move() is True
    gate.set_enabled(False)
    assert gate.enabled is False


def test_cancel_event() -> None:
    gate = ExecutionGate(enabled=True)
    assert not gate.cancelled
    assert gate.wait_cancelled(0.01) is False
    gate.cancel()
    assert gate.cancelled and gate.cancel_event.is_set()
    gate.reset_cancel()
    assert not gate.cancelled
    # a cancel from another thread wakes a backend waiting on the event
    timer = threading.Timer(0.05, gate.cancel)
    timer.start()
    assert gate.wait_cancelled(5.0) is True
    timer.join()
    gate.reset_cancel()
    # disabling execution also stops a running motion
    gate.set_enabled(False)
    assert gate.cancelled


# ------------------------------------------------------------------------------------ velocity scaling


def test_velocity_scaling_clamp(guard: MotionGuard) -> None:
    cap = PANDA.max_velocity_scaling
    assert guard.clamp_velocity_scaling(0.1) == pytest.approx(0.1)
    assert guard.clamp_velocity_scaling(cap) == pytest.approx(cap)
    assert guard.clamp_velocity_scaling(0.9) == pytest.approx(cap)
    assert guard.clamp_velocity_scaling(1) == pytest.approx(cap)
    assert guard.clamp_velocity_scaling(np.float32(0.25)) == pytest.approx(0.25)
    assert isinstance(guard.clamp_velocity_scaling(np.float32(0.25)), float)
    assert guard.clamp_velocity_scaling(1e-6) == pytest.approx(1e-6)
    for bad in (0, 0.0, -0.1, float("nan"), float("inf"), -float("inf"), None, "0.5", True, [0.5], 10**400):
        with pytest.raises(SafetyError):
            guard.clamp_velocity_scaling(bad)


# ------------------------------------------------------------------------------------------ config


def test_config_from_profile() -> None:
    cfg = SafetyConfig.from_profile(PANDA)
    assert cfg.base_frame == "panda_link0"
    assert cfg.joint_names == tuple(PANDA.joint_names)
    assert cfg.lower_limits == tuple(PANDA.lower_limits) and cfg.upper_limits == tuple(PANDA.upper_limits)
    assert cfg.velocity_limits == tuple(PANDA.velocity_limits)
    assert cfg.workspace_min == PANDA.workspace_min and cfg.workspace_max == PANDA.workspace_max
    assert cfg.max_velocity_scaling == PANDA.max_velocity_scaling
    assert cfg.min_tcp_z == pytest.approx(FLOOR)
    assert cfg.max_cartesian_step == pytest.approx(0.3) and cfg.motion_timeout_s > 0
    assert cfg.require_enable and not cfg.dry_run
    cfg2 = SafetyConfig.from_profile(PANDA, max_cartesian_step=0.1, dry_run=True)
    assert cfg2.max_cartesian_step == 0.1 and cfg2.dry_run
    with pytest.raises(ValueError):
        SafetyConfig.from_profile(PANDA, not_an_option=1)
    with pytest.raises(ValueError):
        SafetyConfig.from_profile(PANDA, max_velocity_scaling=1.5)
    with pytest.raises(ValueError):
        SafetyConfig.from_profile(PANDA, workspace_min=(1.0, 0.0, 0.0))
