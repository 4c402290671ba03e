"""Assemble an Agent (planner + registry of default tools) from the configuration."""

from __future__ import annotations

from spacetools_ros.agent.loop import Agent
from spacetools_ros.config import AppConfig, ConfigError
from spacetools_ros.perception.classical import PerceptionBackends, classical_backends
from spacetools_ros.planners.base import Planner
from spacetools_ros.robot.skills import Manipulator
from spacetools_ros.sources.base import FrameSource
from spacetools_ros.tools.perception_tools import (
    make_depth_tools,
    make_geometry_tools,
    make_pointing_tools,
    make_segmentation_tools,
)
from spacetools_ros.tools.registry import ToolRegistry
from spacetools_ros.tools.robot_tools import make_robot_tools
from spacetools_ros.tools.tabletop import make_segment_objects_tool
from spacetools_ros.tools.vision_ops import make_vision_ops_tools


def build_backends(config: AppConfig) -> PerceptionBackends:
    """The classical backends, with each role a model is configured for replaced by that model.

    Models load here, at start-up: a missing or broken model folder is a ModelConfigError now,
    not at the first tool call.
    """
    backends = classical_backends(config.tabletop, config.grasp)
    for role in ("pointing", "segmentation", "depth"):
        model = getattr(config.models, role)
        if model is not None:
            from spacetools_ros.perception.models import load_backend

            setattr(backends, role, load_backend(role, model))
    return backends


def build_manipulator(config: AppConfig, camera: FrameSource | None, sim: object | None = None,
                      node: object | None = None) -> Manipulator | None:
    """The arm behind the robot.* tools, or None when config.robot.backend is "none".

    dry_run: checks and plans against the camera's frames, never moves (camera is required).
    sim: executes in ``sim``, a running :class:`~spacetools_ros.robot.sim.TabletopSim` (required; camera is
    ignored, captures are rendered by the sim itself).
    ros_sim: commands sim_node over ROS through ``node`` (an rclpy node spun on another thread; required), with
    captures from camera (required).
    moveit: moveit_py on the robot PC (MoveIt's parameters from the node's launch file), captures from camera.
    The execution gate starts as config.robot.starts_enabled says (on in simulation, off on a robot).
    """
    if config.robot.backend == "none":
        return None
    from spacetools_ros.robot.profile import ProfileError, profile_for_backend
    from spacetools_ros.robot.safety import ExecutionGate, MotionGuard

    try:  # the arm config.robot.profile names, checked for this backend (complete, and an arm it can drive)
        profile = profile_for_backend(config.robot.profile, config.robot.backend)
    except ProfileError as exc:
        raise ConfigError(f"robot.profile: {exc}") from None

    gate = ExecutionGate(enabled=config.robot.starts_enabled)
    guard = MotionGuard.from_profile(profile, gate=gate)
    if config.robot.backend == "sim":
        if sim is None:
            raise ConfigError("robot.backend sim needs a running simulation: pass sim=TabletopSim(...) to "
                              "build_agent / build_manipulator")
        from spacetools_ros.robot.sim import SimBackend

        return Manipulator(SimBackend(sim, guard, gate, profile))
    if config.robot.backend == "ros_sim":
        if node is None or camera is None:
            raise ConfigError("robot.backend ros_sim needs an rclpy node and a camera source: pass node= and camera= "
                              "to build_agent / build_manipulator (agent_node does)")
        from spacetools_ros.robot.ros_sim_backend import RosSimBackend

        return Manipulator(RosSimBackend(node, camera, guard, gate, profile))
    if config.robot.backend == "moveit":
        try:
            from spacetools_ros.robot.moveit_backend import MoveItBackend

            return Manipulator(MoveItBackend(profile, guard, gate, camera=camera))
        except (ImportError, RuntimeError) as exc:  # moveit_py missing, or MoveItPy failed to start
            raise ConfigError(f"robot.backend moveit: {exc}") from None
    from spacetools_ros.robot.dry_run import DryRunBackend
    from spacetools_ros.robot.kinematics import ArmKinematics

    if camera is None:
        raise ConfigError("robot.backend dry_run needs a camera source for robot.capture_image")
    guard = MotionGuard.from_profile(profile, gate=ExecutionGate(dry_run=True))
    return Manipulator(DryRunBackend(profile, guard, camera, ArmKinematics(profile=profile)))


def build_registry(config: AppConfig, backends: PerceptionBackends | None = None,
                   manipulator: Manipulator | None = None) -> ToolRegistry:
    """The registry of every default tool, configured (robot tools when a manipulator is given)."""
    backends = backends or build_backends(config)
    robot = make_robot_tools(manipulator, backends) if manipulator is not None else []
    return ToolRegistry([
        *robot,
        make_segment_objects_tool(config.tabletop),
        *make_pointing_tools(backends),
        *make_segmentation_tools(backends),
        *make_depth_tools(backends),
        *make_geometry_tools(backends),
        *make_vision_ops_tools(),
    ])


def build_planner(config: AppConfig) -> Planner:
    """The planner config.planner names (model planners load their model here, at start-up)."""
    if config.planner == "transformers":
        from spacetools_ros.planners.transformers_planner import TransformersPlanner

        return TransformersPlanner(config.planner_options)
    if config.planner == "openai":
        from spacetools_ros.planners.openai_planner import OpenAIPlanner

        return OpenAIPlanner(config.planner_options)
    from spacetools_ros.planners.scripted import ScriptedPlanner

    return ScriptedPlanner()


def build_agent(config: AppConfig, camera: FrameSource | None = None, sim: object | None = None,
                node: object | None = None) -> Agent:
    """An Agent with the configured planner, tools and loop limits; camera feeds robot.capture_image
    (dry_run, ros_sim), sim is the TabletopSim the robot tools act in (robot.backend sim), node the rclpy node
    the ros_sim backend talks to sim_node through."""
    planner = build_planner(config)
    manipulator = build_manipulator(config, camera, sim, node)
    backends = build_backends(config)
    registry = build_registry(config, backends, manipulator=manipulator)
    if hasattr(planner, "set_tools"):  # planners that send tools natively get the schemas directly
        planner.set_tools(registry.schemas())
    agent = Agent(planner, registry, config.agent)
    agent.manipulator = manipulator  # the arm (or None): nodes reach its execution gate through it
    agent.backends = backends  # the perception the tools use (its scene cache feeds visualisation)
    return agent
