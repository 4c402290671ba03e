"""ArmKinematics and urdf/panda.urdf against the Panda facts table (datasheet kinematics).

The reference forward kinematics here is computed from the facts table with numpy, independently of the URDF:
each joint is a translation, an rpy rotation and a rotation about its local z by q_i; the flange (panda_link8)
is 0.107 m along link7's z; the hand is the flange rotated by -pi/4 about z and the TCP lies 0.1034 m along z.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from spacetools_ros.robot.kinematics import DEFAULT_URDF_PATH, ArmKinematics, KinematicsError
from spacetools_ros.robot.profile import PANDA

PI = np.pi
# joint origin xyz, rpy (relative to the parent link); every joint rotates about its local z
FACTS = [
    ((0.0, 0.0, 0.333), (0.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (-PI / 2, 0.0, 0.0)),
    ((0.0, -0.316, 0.0), (PI / 2, 0.0, 0.0)),
    ((0.0825, 0.0, 0.0), (PI / 2, 0.0, 0.0)),
    ((-0.0825, 0.384, 0.0), (-PI / 2, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (PI / 2, 0.0, 0.0)),
    ((0.088, 0.0, 0.0), (PI / 2, 0.0, 0.0)),
]
FACT_LIMITS = [
    (-2.8973, 2.8973, 2.175),
    (-1.7628, 1.7628, 2.175),
    (-2.8973, 2.8973, 2.175),
    (-3.0718, -0.0698, 2.175),
    (-2.8973, 2.8973, 2.61),
    (-0.0175, 3.7525, 2.61),
    (-2.8973, 2.8973, 2.61),
]
FLANGE = 0.107
HAND_YAW = -PI / 4
TCP = 0.1034

POS_TOL = 1e-3
ROT_TOL = 1e-2


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _tf(xyz=(0.0, 0.0, 0.0), R=None) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = xyz
    if R is not None:
        T[:3, :3] = R
    return T


def reference_fk(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(base->flange, base->TCP) from the facts table alone."""
    T = np.eye(4)
    for (xyz, (r, p, y)), qi in zip(FACTS, q, strict=True):
        T = T @ _tf(xyz, _rot_z(y) @ _rot_y(p) @ _rot_x(r)) @ _tf(R=_rot_z(qi))
    flange = T @ _tf((0.0, 0.0, FLANGE))
    tcp = flange @ _tf(R=_rot_z(HAND_YAW)) @ _tf((0.0, 0.0, TCP))
    return flange, tcp


def _rot_angle(Ra: np.ndarray, Rb: np.ndarray) -> float:
    c = (np.trace(Ra.T @ Rb) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def _pose_err(Ta: np.ndarray, Tb: np.ndarray) -> tuple[float, float]:
    return float(np.linalg.norm(Ta[:3, 3] - Tb[:3, 3])), _rot_angle(Ta[:3, :3], Tb[:3, :3])


@pytest.fixture(scope="module")
def kin() -> ArmKinematics:
    return ArmKinematics()


def _random_q(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(PANDA.lower_limits, PANDA.upper_limits, size=(n, 7))


def test_fk_matches_facts_table(kin: ArmKinematics) -> None:
    rng = np.random.default_rng(0)
    qs = _random_q(rng, 100)
    qs[0] = PANDA.home
    worst = 0.0
    for q in qs:
        flange_ref, tcp_ref = reference_fk(q)
        for T, ref in ((kin.fk(q), tcp_ref), (kin.fk(q, frame="flange"), flange_ref)):
            e_p, e_r = _pose_err(T, ref)
            assert e_p < 1e-3 and e_r < 1e-3, (q, e_p, e_r)
            worst = max(worst, e_p)
    assert worst < 1e-6  # the URDF carries the table's numbers exactly
    # the home ("ready") pose: TCP in front of the base, pointing down, fingers closing along base y
    T_home = kin.fk(PANDA.home)
    np.testing.assert_allclose(T_home[:3, 3], [0.3069, 0.0, 0.4869], atol=2e-4)
    np.testing.assert_allclose(T_home[:3, 2], [0.0, 0.0, -1.0], atol=1e-5)
    np.testing.assert_allclose(np.abs(T_home[:3, 1]), [0.0, 1.0, 0.0], atol=1e-5)


def test_fk_batch_and_frames(kin: ArmKinematics) -> None:
    qs = _random_q(np.random.default_rng(1), 50)
    for frame in ("tcp", "flange", "panda_link4", "panda_hand"):
        batch = kin.fk_batch(qs, frame=frame)
        assert batch.shape == (50, 4, 4)
        single = np.stack([kin.fk(q, frame=frame) for q in qs])
        np.testing.assert_allclose(batch, single, atol=1e-12)
    # TCP = flange rotated -pi/4 about z, then 0.1034 m along z
    flange, tcp = kin.fk(qs[0], frame="flange"), kin.fk(qs[0])
    np.testing.assert_allclose(tcp, flange @ _tf(R=_rot_z(HAND_YAW)) @ _tf((0.0, 0.0, TCP)), atol=1e-12)
    with pytest.raises(KinematicsError):
        kin.fk(qs[0], frame="no_such_frame")
    with pytest.raises(KinematicsError):
        kin.fk(np.zeros(6))


def test_jacobian_matches_finite_differences(kin: ArmKinematics) -> None:
    rng = np.random.default_rng(2)
    eps = 1e-6
    for q in _random_q(rng, 5):
        J = kin.jacobian(q)
        assert J.shape == (6, 7)
        T0 = kin.fk(q)
        for i in range(7):
            dq = np.zeros(7)
            dq[i] = eps
            T1 = kin.fk(q + dq)
            v = (T1[:3, 3] - T0[:3, 3]) / eps
            dR = (T1[:3, :3] @ T0[:3, :3].T - np.eye(3)) / eps
            w = np.array([dR[2, 1], dR[0, 2], dR[1, 0]])
            np.testing.assert_allclose(J[:3, i], v, atol=1e-5)
            np.testing.assert_allclose(J[3:, i], w, atol=1e-5)


def test_within_limits(kin: ArmKinematics) -> None:
    assert kin.within_limits(PANDA.home)
    assert kin.within_limits(PANDA.lower_limits) and kin.within_limits(PANDA.upper_limits)
    q = np.array(PANDA.home)
    q[3] = 0.0  # joint 4 upper limit is -0.0698
    assert not kin.within_limits(q)
    q = np.array(PANDA.home)
    q[0] = np.nan
    assert not kin.within_limits(q)
    assert not kin.within_limits(np.zeros(6))
    np.testing.assert_array_equal(kin.lower, PANDA.lower_limits)
    np.testing.assert_array_equal(kin.upper, PANDA.upper_limits)


def _reachable_targets(kin: ArmKinematics, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = np.array(PANDA.workspace_min), np.array(PANDA.workspace_max)
    targets: list[np.ndarray] = []
    while len(targets) < n:
        qs = _random_q(rng, 256)
        for T in kin.fk_batch(qs):
            p = T[:3, 3]
            if np.all(p >= lo) and np.all(p <= hi) and p[2] > 0.02 and len(targets) < n:
                targets.append(T)
    return targets


def test_ik_reaches_random_workspace_poses(kin: ArmKinematics) -> None:
    targets = _reachable_targets(kin, 200, seed=3)
    home = np.array(PANDA.home)
    successes = 0
    times = []
    for T in targets:
        t0 = time.perf_counter()
        q = kin.ik(T, q_seed=home)
        times.append(time.perf_counter() - t0)
        if q is None:
            continue
        # a returned solution always honours the limits and the tolerances
        assert kin.within_limits(q)
        assert np.all(q >= PANDA.lower_limits) and np.all(q <= PANDA.upper_limits)
        e_p, e_r = _pose_err(reference_fk(q)[1], T)
        assert e_p <= POS_TOL and e_r <= ROT_TOL
        successes += 1
    assert successes >= 0.95 * len(targets)
    assert float(np.median(times)) < 0.05  # typically ~1-2 ms; generous for loaded CI machines


def test_ik_flange_frame_and_seed(kin: ArmKinematics) -> None:
    rng = np.random.default_rng(4)
    q_true = _random_q(rng, 1)[0]
    T = kin.fk(q_true, frame="flange")
    q = kin.ik(T, frame="flange")
    assert q is not None and kin.within_limits(q)
    e_p, e_r = _pose_err(reference_fk(q)[0], T)
    assert e_p <= POS_TOL and e_r <= ROT_TOL
    # seeded next to the answer: converges to (nearly) that configuration
    q_near = kin.ik(kin.fk(q_true), q_seed=q_true + 0.05, restarts=0)
    assert q_near is not None
    assert np.max(np.abs(q_near - q_true)) < 0.2
    # tight tolerances are honoured
    q_tight = kin.ik(kin.fk(q_true), q_seed=q_true, position_tolerance=1e-6, orientation_tolerance=1e-6)
    assert q_tight is not None
    e_p, e_r = kin.pose_error(q_tight, kin.fk(q_true))
    assert e_p <= 1e-6 and e_r <= 1e-6


def test_ik_unreachable_and_invalid_targets(kin: ArmKinematics) -> None:
    far = np.eye(4)
    far[:3, 3] = [2.0, 0.0, 0.5]
    assert kin.ik(far) is None
    far[:3, 3] = [0.0, -2.0, 0.3]
    assert kin.ik(far) is None
    nan = kin.fk(PANDA.home)
    nan[0, 3] = np.nan
    assert kin.ik(nan) is None
    nan = kin.fk(PANDA.home)
    nan[1, 1] = np.nan
    assert kin.ik(nan) is None
    assert kin.ik(np.full((4, 4), np.nan)) is None
    not_rigid = kin.fk(PANDA.home)
    not_rigid[:3, :3] *= 2.0
    assert kin.ik(not_rigid) is None
    assert kin.ik(np.eye(3)) is None
    # just beyond the arm's reach (inside the cheap bound): every attempt fails, still None, in bounded time
    beyond = np.eye(4)
    beyond[:3, 3] = [0.98, 0.0, 0.333]
    t0 = time.perf_counter()
    assert kin.ik(beyond, restarts=5) is None
    assert time.perf_counter() - t0 < 5.0


def test_urdf_joints_and_limits_match_profile() -> None:
    root = ET.parse(DEFAULT_URDF_PATH).getroot()
    joints = {j.get("name"): j for j in root.findall("joint")}
    for spec, (lo, hi, vel) in zip(PANDA.joints, FACT_LIMITS, strict=True):
        j = joints[spec.name]
        assert j.get("type") == "revolute"
        limit = j.find("limit")
        assert float(limit.get("lower")) == spec.lower == lo
        assert float(limit.get("upper")) == spec.upper == hi
        assert float(limit.get("velocity")) == spec.max_velocity == vel
        assert [float(v) for v in j.find("axis").get("xyz").split()] == [0.0, 0.0, 1.0]
    for name in ("panda_finger_joint1", "panda_finger_joint2"):
        j = joints[name]
        assert j.get("type") == "prismatic" and j.find("parent").get("link") == "panda_hand"
        limit = j.find("limit")
        assert float(limit.get("lower")) == 0.0 and float(limit.get("upper")) == PANDA.gripper_max_opening / 2
        assert [float(v) for v in j.find("origin").get("xyz").split()] == [0.0, 0.0, 0.0584]
    links = {link.get("name"): link for link in root.findall("link")}
    assert {PANDA.base_link, PANDA.tip_link, "panda_hand", "panda_hand_tcp"} <= set(links)
    # physics-ready: every body but the TCP marker has mass, inertia and collision geometry
    for name, link in links.items():
        if name == "panda_hand_tcp":
            continue
        inertial = link.find("inertial")
        assert inertial is not None and link.find("collision") is not None, name
        mass = float(inertial.find("mass").get("value"))
        assert 0.01 <= mass <= 4.0, name
        a = {k: float(v) for k, v in inertial.find("inertia").attrib.items()}
        inertia = np.array(
            [[a["ixx"], a["ixy"], a["ixz"]], [a["ixy"], a["iyy"], a["iyz"]], [a["ixz"], a["iyz"], a["izz"]]]
        )
        eig = np.linalg.eigvalsh(inertia)
        assert eig.min() > 0, name
        assert eig[0] + eig[1] >= eig[2] * (1 - 1e-9), name  # triangle inequality of a physical body


def test_ikpy_agrees_on_fk(kin: ArmKinematics) -> None:
    chain_mod = pytest.importorskip("ikpy.chain")
    elements = ["panda_link0"]
    for i in range(1, 8):
        elements += [f"panda_joint{i}", f"panda_link{i}"]
    elements += ["panda_joint8", "panda_link8", "panda_hand_joint", "panda_hand", "panda_hand_tcp_joint"]
    elements += ["panda_hand_tcp"]
    chain = chain_mod.Chain.from_urdf_file(
        str(DEFAULT_URDF_PATH), base_elements=elements, active_links_mask=[False] + [True] * 7 + [False] * 3
    )
    assert [link.name for link in chain.links[1:8]] == PANDA.joint_names
    for link, spec in zip(chain.links[1:8], PANDA.joints, strict=True):
        assert link.bounds == (spec.lower, spec.upper)
    for q in _random_q(np.random.default_rng(5), 20):
        full = np.zeros(len(chain.links))
        full[1:8] = q
        e_p, e_r = _pose_err(chain.forward_kinematics(full), kin.fk(q))
        assert e_p < 1e-3 and e_r < 1e-3


def test_bad_construction(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        ArmKinematics(tmp_path / "missing.urdf")
    from dataclasses import replace

    with pytest.raises(KinematicsError):
        ArmKinematics(profile=replace(PANDA, tip_link="no_such_link"))
    renamed = replace(PANDA, joints=(replace(PANDA.joints[0], name="joint_a1"), *PANDA.joints[1:]))
    with pytest.raises(KinematicsError):
        ArmKinematics(profile=renamed)
