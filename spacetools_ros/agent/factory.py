"""Assemble an Agent (planner + registry of default tools) from the configuration."""

from __future__ import annotations

from spacetools_ros.agent.loop import Agent
from spacetools_ros.config import AppConfig
from spacetools_ros.perception.classical import PerceptionBackends, classical_backends
from spacetools_ros.planners.base import Planner
from spacetools_ros.tools.perception_tools import (
    make_depth_tools,
    make_geometry_tools,
    make_pointing_tools,
    make_segmentation_tools,
)
from spacetools_ros.tools.registry import ToolRegistry
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


def build_registry(config: AppConfig, backends: PerceptionBackends | None = None) -> ToolRegistry:
    """The registry of every default tool, configured."""
    backends = backends or build_backends(config)
    return ToolRegistry([
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


def build_agent(config: AppConfig) -> Agent:
    """An Agent with the configured planner, tools and loop limits."""
    planner, registry = build_planner(config), build_registry(config)
    if hasattr(planner, "set_tools"):  # planners that send tools natively get the schemas directly
        planner.set_tools(registry.schemas())
    return Agent(planner, registry, config.agent)
