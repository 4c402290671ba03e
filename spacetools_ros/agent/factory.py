"""Assemble an Agent (planner + registry of default tools) from the configuration."""

from __future__ import annotations

from spacetools_ros.agent.loop import Agent
from spacetools_ros.config import AppConfig
from spacetools_ros.planners.base import Planner
from spacetools_ros.tools.registry import ToolRegistry
from spacetools_ros.tools.tabletop import make_segment_objects_tool


def build_registry(config: AppConfig) -> ToolRegistry:
    """The registry of every default tool, configured."""
    return ToolRegistry([make_segment_objects_tool(config.tabletop)])


def build_planner(config: AppConfig) -> Planner:
    """The planner config.planner names."""
    from spacetools_ros.planners.scripted import ScriptedPlanner

    return ScriptedPlanner()


def build_agent(config: AppConfig) -> Agent:
    """An Agent with the configured planner, tools and loop limits."""
    return Agent(build_planner(config), build_registry(config), config.agent)
