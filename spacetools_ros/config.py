"""The one place for configuration: YAML files mapped onto dataclasses, with unknown keys rejected."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spacetools_ros.agent.loop import AgentConfig
from spacetools_ros.perception.grasp import GraspConfig
from spacetools_ros.perception.models import ModelConfig
from spacetools_ros.perception.tabletop import TabletopConfig
from spacetools_ros.sources.topics import CameraTopics

PLANNERS = ("scripted", "transformers", "openai")
ROBOT_BACKENDS = ("none", "dry_run", "sim", "ros_sim", "moveit")
SIMULATED_BACKENDS = ("sim", "ros_sim")


def _default_config_path() -> Path:
    """config/spacetools.yaml of the source tree, else of the installed package's share directory."""
    in_tree = Path(__file__).resolve().parent.parent / "config" / "spacetools.yaml"
    if in_tree.exists():
        return in_tree
    try:  # installed by colcon: share/spacetools_ros/config
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("spacetools_ros")) / "config" / "spacetools.yaml"
    except Exception:  # not installed as a ROS package: the dataclass defaults apply
        return in_tree


DEFAULT_CONFIG_PATH = _default_config_path()


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message names it."""


@dataclass
class CameraConfig:
    """Where frames come from and how they are paired; topics default to realsense2_camera's."""

    color_topic: str = "/camera/camera/color/image_raw"
    depth_topic: str = "/camera/camera/aligned_depth_to_color/image_raw"
    color_info_topic: str = "/camera/camera/color/camera_info"
    depth_info_topic: str = "/camera/camera/aligned_depth_to_color/camera_info"
    sync_slop_s: float = 0.02
    T_base_camera: list[float] | None = None  # 16 numbers, row-major; None when unknown
    base_frame_id: str = "base_link"

    def topics(self) -> CameraTopics:
        """The four topic names as CameraTopics."""
        return CameraTopics(self.color_topic, self.depth_topic, self.color_info_topic, self.depth_info_topic)


@dataclass
class PlannerConfig:
    """Settings of the model-backed planners (the scripted planner needs none).

    model: transformers: a local model folder (e.g. the SpaceTools Qwen2.5-VL checkpoint);
        openai: the model name the endpoint serves.
    base_url: openai: the endpoint, e.g. http://localhost:8000/v1 (vLLM, sglang) or a hosted API.
    api_key_env: openai: the environment variable holding the API key (never put keys in files).
    tool_mode: openai: "hermes" (tools in the system prompt, calls as <tool_call> text, as SpaceTools was
        trained) or "native" (the endpoint's tools / tool_calls fields).
    device, dtype: transformers: where and how the model runs ("cpu", "cuda"; "float32", "bfloat16", ...).
    max_new_tokens, temperature: generation length and sampling (0: greedy).
    timeout_s, max_retries: openai: per-request timeout and retries (with backoff) on 429/5xx/timeouts.
    """

    model: str = ""
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    tool_mode: str = "hermes"
    device: str = "cpu"
    dtype: str = "float32"
    max_new_tokens: int = 1024
    temperature: float = 0.0
    timeout_s: float = 60.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.tool_mode not in ("hermes", "native"):
            raise ConfigError(f"planner_options.tool_mode: '{self.tool_mode}' is not one of hermes, native")


@dataclass
class RobotConfig:
    """The arm behind the robot.* tools: none (perception only), dry_run (check and plan, never move), sim
    (a PyBullet :class:`~spacetools_ros.robot.sim.TabletopSim` the caller builds and passes to build_agent),
    ros_sim (sim_node over ROS; agent_node passes its node to build_agent) or moveit (moveit_py on the robot PC).

    execution_enabled: the execution gate at start-up; None (default) means on in simulation (sim, ros_sim) and
    off on a real robot (moveit), where it is switched on over /spacetools/enable_execution.
    """

    backend: str = "none"
    profile: str = "panda"
    execution_enabled: bool | None = None

    def __post_init__(self) -> None:
        if self.backend not in ROBOT_BACKENDS:
            raise ConfigError(f"robot.backend: '{self.backend}' is not one of {', '.join(ROBOT_BACKENDS)}")
        self._check_profile()
        if self.execution_enabled is not None and not isinstance(self.execution_enabled, bool):
            raise ConfigError(f"robot.execution_enabled: must be true, false or null, got {self.execution_enabled!r}")

    def _check_profile(self) -> None:
        """robot.profile must name a shipped profile (config/robots/<name>.yaml) or a readable profile YAML file."""
        from spacetools_ros.robot.profile import PROFILE_NAMES, ProfileError, is_profile_file, load_profile

        known = isinstance(self.profile, str) and (self.profile in PROFILE_NAMES or is_profile_file(self.profile))
        if not known:
            raise ConfigError(f"robot.profile: '{self.profile}' is not one of {', '.join(PROFILE_NAMES)} "
                              "nor a profile YAML file (.yaml)")
        try:
            load_profile(self.profile)
        except ProfileError as exc:
            raise ConfigError(f"robot.profile: {exc}") from None

    @property
    def starts_enabled(self) -> bool:
        """Whether the execution gate starts enabled (see execution_enabled)."""
        if self.execution_enabled is not None:
            return self.execution_enabled
        return self.backend in SIMULATED_BACKENDS


@dataclass
class ModelsConfig:
    """Optional model backends per perception role; None keeps the classical default."""

    pointing: ModelConfig | None = None
    segmentation: ModelConfig | None = None
    depth: ModelConfig | None = None


@dataclass
class AppConfig:
    """Everything a run needs: planner choice, loop limits, perception and camera settings."""

    planner: str = "scripted"
    planner_options: PlannerConfig = field(default_factory=PlannerConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    tabletop: TabletopConfig = field(default_factory=TabletopConfig)
    grasp: GraspConfig = field(default_factory=GraspConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)

    def __post_init__(self) -> None:
        if self.planner not in PLANNERS:
            raise ConfigError(f"planner: '{self.planner}' is not one of {', '.join(PLANNERS)}")
        if self.camera.T_base_camera is not None and len(self.camera.T_base_camera) != 16:
            raise ConfigError("camera.T_base_camera: needs 16 numbers (a row-major 4x4 matrix)")


def _check_type(path: str, value: Any, annotation: Any) -> Any:
    """value converted to annotation's type (int -> float allowed); ConfigError naming path otherwise."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return _check_type(path, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: {value!r} does not fit {annotation}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (item,) = typing.get_args(annotation) or (Any,)
        return [_check_type(f"{path}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        item = args[0] if args else Any
        return tuple(_check_type(f"{path}[{i}]", v, item) for i, v in enumerate(value))
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, str, bool) and not (isinstance(value, annotation) and not
                                               (annotation is int and isinstance(value, bool))):
        raise ConfigError(f"{path}: expected {annotation.__name__}, got {value!r}")
    return value


def _optional_dataclass(annotation: Any) -> type | None:
    """The dataclass of an annotation `D` or `D | None`, else None."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        classes = [a for a in typing.get_args(annotation) if dataclasses.is_dataclass(a)]
        return classes[0] if len(classes) == 1 else None
    return None


def from_dict(cls: type, data: dict[str, Any], path: str = "") -> Any:
    """Build dataclass cls from a (nested) dict, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{path or 'config'}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        annotation = hints[key]
        key_path = f"{path}.{key}" if path else key
        inner = _optional_dataclass(annotation)
        if inner is not None:
            kwargs[key] = None if value is None else from_dict(inner, value, key_path)
        else:
            kwargs[key] = _check_type(key_path, value, annotation)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def set_dotted(data: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set data['a']['b'] = value for dotted_key 'a.b' (used by --set key=value overrides)."""
    *parents, leaf = dotted_key.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> AppConfig:
    """The configuration from YAML (the packaged default when path is None) plus key=value overrides."""
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    elif path != DEFAULT_CONFIG_PATH:
        raise ConfigError(f"config file {path} does not exist")
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override '{item}' is not key=value")
        set_dotted(data, key.strip(), yaml.safe_load(raw))
    return from_dict(AppConfig, data)
