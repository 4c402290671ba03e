"""Robot profiles: what the stack must know about an arm (joints, limits, links, workspace)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    extras: dict = field(default_factory=dict)

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
)
