"""Robot profiles: what the stack must know about an arm (joints, limits, links, workspace)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class JointSpec:
    """One revolute joint: name, position limits (rad) and velocity limit (rad/s)."""

    name: str
    lower: float
    upper: float
    max_velocity: float


@dataclass(frozen=True)
class RobotProfile:
    """A 7-DOF arm with a parallel gripper, as MoveIt and our safety checks see it.

    workspace_min/max: the box (base frame, metres) the tool centre point must stay inside.
    min_height_above_table: the TCP's lowest allowed height above the table top (base z of the table).
    tcp_offset: distance from the tip link (flange) to the TCP along the flange z axis.
    home: joint positions of the named home state.
    finger_joints: the gripper's prismatic finger joints (each travels gripper_max_opening / 2).
    unconfigured: facts the profile's source lacks (e.g. "workspace box"); a profile with any refuses to move.
    moveit_config_package, moveit_robot_name: the arm's MoveIt config package and robot name (launch files build
    MoveIt's parameters from them on the robot PC).
    """

    name: str
    base_link: str
    tip_link: str
    planning_group: str
    joints: tuple[JointSpec, ...]
    tcp_offset: float
    gripper_max_opening: float
    home_state: str
    home: tuple[float, ...]
    workspace_min: tuple[float, float, float]
    workspace_max: tuple[float, float, float]
    table_height: float = 0.0
    min_height_above_table: float = 0.01
    max_velocity_scaling: float = 0.5
    hand_group: str = "hand"
    gripper_action: str = ""
    finger_joints: tuple[str, ...] = ()
    extras: dict = field(default_factory=dict)
    unconfigured: tuple[str, ...] = ()
    moveit_config_package: str = ""
    moveit_robot_name: str = ""

    @property
    def joint_names(self) -> list[str]:
        """Joint names in chain order."""
        return [j.name for j in self.joints]

    @property
    def lower_limits(self) -> np.ndarray:
        """Lower joint limits (rad)."""
        return np.array([j.lower for j in self.joints])

    @property
    def upper_limits(self) -> np.ndarray:
        """Upper joint limits (rad)."""
        return np.array([j.upper for j in self.joints])

    @property
    def velocity_limits(self) -> np.ndarray:
        """Joint velocity limits (rad/s)."""
        return np.array([j.max_velocity for j in self.joints])


PANDA = RobotProfile(
    name="panda",
    base_link="panda_link0",
    tip_link="panda_link8",
    planning_group="panda_arm",
    joints=(
        JointSpec("panda_joint1", -2.8973, 2.8973, 2.175),
        JointSpec("panda_joint2", -1.7628, 1.7628, 2.175),
        JointSpec("panda_joint3", -2.8973, 2.8973, 2.175),
        JointSpec("panda_joint4", -3.0718, -0.0698, 2.175),
        JointSpec("panda_joint5", -2.8973, 2.8973, 2.61),
        JointSpec("panda_joint6", -0.0175, 3.7525, 2.61),
        JointSpec("panda_joint7", -2.8973, 2.8973, 2.61),
    ),
    tcp_offset=0.1034,
    gripper_max_opening=0.08,
    home_state="ready",
    home=(0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398),
    workspace_min=(0.2, -0.6, 0.0),
    workspace_max=(0.85, 0.6, 0.7),
    gripper_action="/panda_hand_controller/gripper_cmd",
    finger_joints=("panda_finger_joint1", "panda_finger_joint2"),
)


# ------------------------------------------------------------------------------------- profiles as data

PROFILE_NAMES = ("panda", "fr3", "kinova_gen3", "xarm7")
"""The profiles shipped in config/robots/<name>.yaml; robot.profile also takes the path of a profile YAML file."""
UNKNOWN = "unknown"
"""The value a profile YAML gives a fact it does not know; such a profile refuses to move until it is filled in."""
SIMULATED_ARM = "panda"
"""The arm the simulator and the project's URDF (urdf/panda.urdf) model."""


class ProfileError(ValueError):
    """A robot profile is missing, malformed, incomplete for motion, or does not fit the chosen backend."""


def profiles_dir() -> Path:
    """config/robots of the source tree, else of the installed package's share directory."""
    in_tree = Path(__file__).resolve().parents[2] / "config" / "robots"
    if in_tree.is_dir():
        return in_tree
    try:  # installed by colcon: share/spacetools_ros/config/robots
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("spacetools_ros")) / "config" / "robots"
    except Exception:  # not installed as a ROS package
        return in_tree


def is_profile_file(value: str) -> bool:
    """Whether robot.profile names a profile YAML file rather than a shipped profile."""
    return str(value).endswith((".yaml", ".yml"))


def profile_path(name_or_path: str) -> Path:
    """The YAML file of a shipped profile name, or the given YAML path; ProfileError when it names neither."""
    if is_profile_file(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ProfileError(f"robot profile file {path} does not exist")
        return path
    if name_or_path not in PROFILE_NAMES:
        raise ProfileError(f"'{name_or_path}' is not one of {', '.join(PROFILE_NAMES)} nor a profile YAML file")
    return profiles_dir() / f"{name_or_path}.yaml"


def _number(data: dict, key: str, missing: list[str], what: str | None = None) -> float:
    """data[key] as a float; nan (and `what` noted in missing) when it is 'unknown'."""
    value = data.get(key, UNKNOWN)
    if value == UNKNOWN or value is None:
        missing.append(what or key)
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProfileError(f"{key}: expected a finite number or '{UNKNOWN}', got {value!r}")
    return float(value)


def _vector(data: dict, key: str, n: int, missing: list[str], what: str) -> tuple[float, ...]:
    """data[key] as n floats; n nans (and `what` noted in missing) when it is 'unknown'."""
    value = data.get(key, UNKNOWN)
    if value == UNKNOWN or value is None:
        missing.append(what)
        return (math.nan,) * n
    if not isinstance(value, list) or len(value) != n:
        raise ProfileError(f"{key}: expected {n} numbers or '{UNKNOWN}', got {value!r}")
    return tuple(_number({key: v}, key, missing, what) for v in value)


def profile_from_dict(data: dict[str, Any], source: str = "") -> RobotProfile:
    """A RobotProfile from the YAML layout of config/robots/*.yaml (see panda.yaml); 'unknown' values become
    NaN and are listed in ``unconfigured``."""
    if not isinstance(data, dict):
        raise ProfileError(f"{source or 'profile'}: expected a mapping")
    missing: list[str] = []
    try:
        joints = tuple(
            JointSpec(str(j["name"]), _number(j, "lower", missing, f"limits of {j['name']}"),
                      _number(j, "upper", missing, f"limits of {j['name']}"),
                      _number(j, "max_velocity", missing, f"max velocity of {j['name']}"))
            for j in data["joints"])
        home = data.get("home", UNKNOWN)
        moveit = data.get("moveit") or {}
        profile = RobotProfile(
            name=str(data["name"]),
            base_link=str(data["base_link"]),
            tip_link=str(data["tip_link"]),
            planning_group=str(data["planning_group"]),
            joints=joints,
            tcp_offset=_number(data, "tcp_offset", missing, "TCP offset"),
            gripper_max_opening=_number(data, "gripper_max_opening", missing, "gripper opening"),
            home_state=str(data["home_state"]),
            home=_vector(data, "home", len(joints), missing, "home pose") if home != UNKNOWN
            else _vector({}, "home", len(joints), missing, "home pose"),
            workspace_min=_vector(data, "workspace_min", 3, missing, "workspace box"),
            workspace_max=_vector(data, "workspace_max", 3, missing, "workspace box"),
            table_height=_number(data, "table_height", missing, "table height"),
            min_height_above_table=_number(data, "min_height_above_table", missing, "height above the table"),
            max_velocity_scaling=_number(data, "max_velocity_scaling", missing, "velocity scaling"),
            hand_group=str(data.get("hand_group", "")),
            gripper_action=str(data.get("gripper_action", "")),
            finger_joints=tuple(str(n) for n in data.get("finger_joints", [])),
            extras={key: data[key] for key in ("description", "tcp_link", "camera_mount") if key in data}
            | {"source": source},
            unconfigured=tuple(dict.fromkeys(missing)),
            moveit_config_package=str(moveit.get("config_package", "")),
            moveit_robot_name=str(moveit.get("robot_name", "")),
        )
    except (KeyError, TypeError) as exc:
        raise ProfileError(f"{source or 'profile'}: missing or malformed entry {exc}") from None
    except ProfileError as exc:
        raise ProfileError(f"{source or 'profile'}: {exc}") from None
    if not joints:
        raise ProfileError(f"{source or 'profile'}: no joints")
    return profile


@lru_cache(maxsize=32)
def _load(path: str, mtime: float) -> RobotProfile:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"cannot read robot profile {path}: {exc}") from None
    return profile_from_dict(data, path)


def load_profile(name_or_path: str) -> RobotProfile:
    """The profile of a shipped name (panda, fr3, kinova_gen3, xarm7) or of a profile YAML file."""
    path = profile_path(name_or_path)
    if not path.is_file():
        raise ProfileError(f"robot profile file {path} does not exist")
    return _load(str(path.resolve()), path.stat().st_mtime)


def check_can_move(profile: RobotProfile) -> None:
    """ProfileError unless every fact motion needs is known (limits, home, TCP, gripper, workspace box)."""
    if profile.unconfigured:
        source = profile.extras.get("source") or f"config/robots/{profile.name}.yaml"
        raise ProfileError(
            f"profile '{profile.name}' refuses to move until configured: {', '.join(profile.unconfigured)} "
            f"unknown; copy {source}, replace every '{UNKNOWN}' and set robot.profile to the copy's path")


def profile_for_backend(name_or_path: str, backend: str) -> RobotProfile:
    """The profile robot.backend ``backend`` acts with, checked: complete for motion, and an arm the backend can
    drive. The simulator (sim, ros_sim), the dry-run IK and the MoveIt backend's TCP and waypoint checks all use the
    project's URDF, which models the Panda only: other arms (same joint names required) are refused with the reason.
    """
    profile = load_profile(name_or_path)
    if backend == "none":
        return profile
    check_can_move(profile)
    if profile.joint_names != PANDA.joint_names:
        raise ProfileError(
            f"profile '{profile.name}' cannot be used with robot.backend {backend}: its kinematics (IK, the TCP offset "
            f"and the waypoint checks) come from the project's URDF, which models the {SIMULATED_ARM} only "
            "(urdf/panda.urdf); a URDF for this arm is needed first")
    return profile
