"""One description of the spacetools node sets, shared by the launch files, `spacetools up` and `spacetools demo`.

:func:`node_set` turns a mode and its settings into plain :class:`NodeSpec` records (package, executable, node
name, parameters, ...); nothing here needs ROS. The launch files (``launch/*.launch.py``) declare every
:data:`ARGUMENTS` entry as a launch argument and turn the same records into ``launch_ros`` Node actions
(:func:`launch_description`); ``spacetools up`` starts them as processes (:func:`process_command`).

Modes:

* ``sim``: sim_node (the PyBullet tabletop: camera, /joint_states, /clock) and agent_node with
  ``robot.backend=ros_sim`` and the generated scene's camera pose as ``T_base_camera``.
* ``replay``: camera_node playing ``bag`` (a rosbag2, a frame folder or ``synthetic[:SEED]``), or ``ros2 bag play``
  where that command exists, and agent_node (no arm unless ``dry_run``).
* ``robot``: the camera (realsense2_camera's driver, our camera_node reading pyrealsense2, or topics someone else
  publishes) and agent_node with ``robot.backend=moveit`` (``dry_run``: the dry-run backend) for the robot profile,
  with the profile's MoveIt config package for the launch file to load MoveIt's parameters from.

``rviz`` adds RViz with ``config/spacetools.rviz`` (and, in sim, robot_state_publisher with the Panda URDF).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PACKAGE = "spacetools_ros"
MODES = ("sim", "replay", "robot")
CAMERAS = {"sim": ("sim",), "replay": ("bag", "topics"), "robot": ("realsense", "pyrealsense", "topics")}
"""The camera choices of each mode (the first is the mode's default)."""
CONFIG_SECTIONS = ("planner", "planner_options", "agent", "tabletop", "grasp", "models", "robot", "camera")
"""Top-level keys of the spacetools configuration: ``--set robot.backend=...`` goes to agent_node's overrides."""
NODE_MODULES = {"camera_node": "spacetools_camera", "agent_node": "spacetools_agent", "sim_node": "spacetools_sim"}
"""Our node executables and their node names."""
SIM_FRAME_TIMEOUT_S = 20.0
"""agent_node's frame_timeout_s in sim: the first rendered frames take a while on a busy machine."""


class GraphError(ValueError):
    """A setting or argument is unknown or has a bad value; the message names it."""


@dataclass(frozen=True)
class Argument:
    """One launch argument (a string, as ``ros2 launch`` passes it) and the modes it applies to."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()
    modes: tuple[str, ...] = MODES


ARGUMENTS: tuple[Argument, ...] = (
    Argument("robot", "panda", "robot profile: panda, fr3, kinova_gen3, xarm7 (config/robots) or a profile YAML path"),
    Argument("planner", "", "planner: scripted, transformers or openai (empty: the configuration's)",
             ("", "scripted", "transformers", "openai")),
    Argument("model", "", "transformers: a local model folder; openai: the served model's name"),
    Argument("base_url", "", "openai: the endpoint, e.g. http://localhost:8000/v1"),
    Argument("camera", "", "sim: sim; replay: bag (camera_node / ros2 bag play) or topics (someone else publishes); "
             "robot: realsense (realsense2_camera driver), pyrealsense (camera_node reading pyrealsense2) or topics; "
             "empty: the mode's first", ("", "sim", "bag", "topics", "realsense", "pyrealsense")),
    Argument("dry_run", "false", "check and plan every motion with IK, never move (robot.backend dry_run)",
             ("true", "false")),
    Argument("use_sim_time", "false", "nodes follow /clock (sim_node publishes it; ros2 bag play --clock in replay)",
             ("true", "false")),
    Argument("rviz", "false", "start RViz with config/spacetools.rviz", ("true", "false")),
    Argument("T_base_camera", "", "camera pose in the robot base frame, 16 numbers row-major (empty: the simulated "
             "or generated scene's own pose, else the configuration's camera.T_base_camera)"),
    Argument("config", "", "spacetools YAML configuration (empty: the packaged config/spacetools.yaml)"),
    Argument("overrides", "", "configuration overrides for agent_node, 'key=value;key=value'"),
    Argument("params_file", "", "a ROS parameters YAML (e.g. config/nodes.yaml) for every spacetools node; the "
             "other arguments override it"),
    Argument("scene_seed", "0", "seed of the generated tabletop", modes=("sim",)),
    Argument("num_objects", "4", "objects in the generated tabletop", modes=("sim",)),
    Argument("include", "", "objects the scene must hold, 'colour shape' separated by ',' (e.g. 'red box, blue bowl')",
             modes=("sim",)),
    Argument("bag", "synthetic:0", "what is replayed: a rosbag2 (.mcap, .db3 or its folder), a frame folder or "
             "synthetic[:SEED]", modes=("replay",)),
    Argument("bag_player", "auto", "camera_node, ros2 (ros2 bag play --loop) or auto (ros2 bag play for a rosbag2 "
             "when the ros2 command exists, else camera_node)", ("auto", "camera_node", "ros2"), modes=("replay",)),
    Argument("moveit_config", "", "MoveIt config package whose parameters agent_node gets (empty: the profile's; "
             "'none': none, MoveIt's parameters come from elsewhere)", modes=("robot",)),
)
_BY_NAME = {a.name: a for a in ARGUMENTS}


def arguments_for(mode: str | None) -> tuple[Argument, ...]:
    """The arguments of one mode (None: every argument, for the launch file whose mode is an argument)."""
    if mode is not None and mode not in MODES:
        raise GraphError(f"mode '{mode}' is not one of {', '.join(MODES)}")
    return tuple(a for a in ARGUMENTS if mode is None or mode in a.modes)


@dataclass(frozen=True)
class Settings:
    """The arguments, typed: what :func:`node_set` builds the node set from (see :data:`ARGUMENTS`)."""

    robot: str
    planner: str
    model: str
    base_url: str
    camera: str
    dry_run: bool
    use_sim_time: bool
    rviz: bool
    T_base_camera: tuple[float, ...]
    config: str
    overrides: tuple[str, ...]
    params_file: str
    scene_seed: int
    num_objects: int
    include: str
    bag: str
    bag_player: str
    moveit_config: str
    node_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """executable -> {parameter: value}, from ``--set sim_node.speed=2``; win over everything else."""


def _bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off", ""):
        return False
    raise GraphError(f"argument '{name}' must be true or false, got {text!r}")


def _int(name: str, text: str, minimum: int = 0) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise GraphError(f"argument '{name}' must be an integer, got {text!r}") from None
    if value < minimum:
        raise GraphError(f"argument '{name}' must be at least {minimum}, got {value}")
    return value


def _pose(text: str) -> tuple[float, ...]:
    parts = [p for p in text.replace(",", " ").replace("[", " ").replace("]", " ").split() if p]
    if not parts:
        return ()
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise GraphError(f"argument 'T_base_camera' must be 16 numbers, got {text!r}") from None
    if len(values) != 16 or not all(math.isfinite(v) for v in values):
        raise GraphError(f"argument 'T_base_camera' must be 16 finite numbers (row-major 4x4), got {len(values)}")
    return values


def parse_settings(values: Mapping[str, Any] | None = None,
                   node_parameters: Mapping[str, Mapping[str, Any]] | None = None) -> Settings:
    """Settings from argument values (strings as launch passes them; other values are str()-ed); missing arguments
    take their defaults. Unknown names and bad values raise GraphError naming the argument."""
    raw = {a.name: a.default for a in ARGUMENTS}
    for name, value in (values or {}).items():
        if name not in _BY_NAME:
            raise GraphError(f"unknown argument '{name}'; known: {', '.join(sorted(_BY_NAME))}")
        raw[name] = value if isinstance(value, str) else json.dumps(value) if isinstance(value, bool) else str(value)
    for name, text in raw.items():
        choices = _BY_NAME[name].choices
        if choices and text.strip().lower() not in choices:
            raise GraphError(f"argument '{name}': '{text}' is not one of {', '.join(c or repr(c) for c in choices)}")
    for name in ("model", "base_url", "bag", "config", "include"):
        if ";" in raw[name]:
            raise GraphError(f"argument '{name}' must not contain ';'")
    return Settings(
        robot=raw["robot"].strip() or "panda", planner=raw["planner"].strip().lower(), model=raw["model"],
        base_url=raw["base_url"], camera=raw["camera"].strip().lower(), dry_run=_bool("dry_run", raw["dry_run"]),
        use_sim_time=_bool("use_sim_time", raw["use_sim_time"]), rviz=_bool("rviz", raw["rviz"]),
        T_base_camera=_pose(raw["T_base_camera"]), config=raw["config"],
        overrides=tuple(item.strip() for item in raw["overrides"].split(";") if item.strip()),
        params_file=raw["params_file"], scene_seed=_int("scene_seed", raw["scene_seed"]),
        num_objects=_int("num_objects", raw["num_objects"]), include=raw["include"], bag=raw["bag"],
        bag_player=raw["bag_player"].strip().lower(), moveit_config=raw["moveit_config"].strip(),
        node_parameters={k: dict(v) for k, v in (node_parameters or {}).items()},
    )


def settings_from_assignments(assignments: Iterable[str]) -> Settings:
    """Settings from ``--set key=value`` items: an argument (``robot=fr3``), a configuration key for agent_node
    (``agent.max_turns=4``, appended to ``overrides``) or a node parameter (``sim_node.speed=2``)."""
    import yaml

    values: dict[str, str] = {}
    config_overrides: list[str] = []
    node_parameters: dict[str, dict[str, Any]] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GraphError(f"--set '{item}' is not key=value")
        head, dot, tail = key.partition(".")
        if key in _BY_NAME:
            values[key] = value
        elif dot and head in NODE_MODULES:
            known = _node_parameter_names(head)
            if tail not in known:
                raise GraphError(f"--set {key}: {head} has no parameter '{tail}'; known: {', '.join(sorted(known))}")
            node_parameters.setdefault(head, {})[tail] = yaml.safe_load(value) if value.strip() else ""
        elif dot and head in CONFIG_SECTIONS or key in CONFIG_SECTIONS:
            if ";" in item:
                raise GraphError(f"--set '{item}': a configuration override must not contain ';'")
            config_overrides.append(f"{key}={value}")
        else:
            raise GraphError(f"--set {key}: not an argument ({', '.join(sorted(_BY_NAME))}), a configuration key "
                             f"({', '.join(CONFIG_SECTIONS)}.*) nor a node parameter ({', '.join(NODE_MODULES)}.*)")
    if config_overrides:
        values["overrides"] = ";".join(filter(None, [values.get("overrides", ""), *config_overrides]))
    return parse_settings(values, node_parameters)


def _node_parameter_names(executable: str) -> set[str]:
    """The parameters one of our nodes declares (its PARAMETERS dict) plus use_sim_time."""
    import importlib

    module = importlib.import_module(f"{PACKAGE}.ros.{executable}")
    return {*module.PARAMETERS, "use_sim_time"}


# ------------------------------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class NodeSpec:
    """One node (or plain process) of a node set, as a launch file or `spacetools up` starts it.

    parameters: ROS parameters (plain values); param_files: parameter YAML files given before them.
    arguments: extra command-line arguments (e.g. RViz's -d CONFIG). cmd: set for a plain process that is not a
    package executable (``ros2 bag play``); package/executable then only describe it. moveit: (robot name, MoveIt
    config package) whose parameters the launch file adds (MoveItConfigsBuilder, on the robot PC). hint: what to do
    when the node is not installed.
    """

    package: str
    executable: str
    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    namespace: str = ""
    arguments: tuple[str, ...] = ()
    param_files: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    moveit: tuple[str, str] | None = None
    description: str = ""
    hint: str = ""

    @property
    def is_process(self) -> bool:
        """A plain process (ExecuteProcess), not a package executable."""
        return bool(self.cmd)

    @property
    def label(self) -> str:
        """A short name for logs: the executable of our nodes, else the node name."""
        return self.executable if self.package == PACKAGE else self.name


def share_path(*parts: str) -> Path:
    """A file of this package: the source tree's, else the installed share directory's."""
    in_tree = Path(__file__).resolve().parents[2].joinpath(*parts)
    if in_tree.exists():
        return in_tree
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE)).joinpath(*parts)
    except Exception:  # not installed as a ROS package
        return in_tree


def _is_rosbag(path: str) -> bool:
    """A rosbag2: an .mcap / .db3 file or a folder with metadata.yaml."""
    p = Path(path).expanduser()
    return p.suffix in (".mcap", ".db3") or (p.is_dir() and (p / "metadata.yaml").is_file())


def _ours(executable: str, parameters: dict[str, Any], settings: Settings, description: str) -> NodeSpec:
    """One of our nodes: --set node parameters win, params_file comes first, use_sim_time when asked."""
    params = dict(parameters)
    if settings.use_sim_time and executable != "sim_node":  # sim_node is the clock
        params["use_sim_time"] = True
    params.update(settings.node_parameters.get(executable, {}))
    return NodeSpec(PACKAGE, executable, NODE_MODULES[executable], params,
                    param_files=(settings.params_file,) if settings.params_file else (), description=description)


def _quoted(value: str) -> str:
    return json.dumps(value)  # a path or URL stays a string in the configuration's YAML


def agent_overrides(mode: str, settings: Settings) -> str:
    """agent_node's configuration overrides ('k=v;k=v') for a mode: the robot backend and profile, the planner, and
    the user's overrides last (they win)."""
    items: list[str] = []
    if mode == "sim":
        items.append("robot.backend=" + ("dry_run" if settings.dry_run else "ros_sim"))
    elif mode == "robot":
        items.append("robot.backend=" + ("dry_run" if settings.dry_run else "moveit"))
    elif settings.dry_run:
        items.append("robot.backend=dry_run")
    if mode == "robot" or settings.robot != "panda":
        items.append(f"robot.profile={_quoted(settings.robot)}")
    if settings.planner:
        items.append(f"planner={settings.planner}")
    if settings.model:
        items.append(f"planner_options.model={_quoted(settings.model)}")
    if settings.base_url:
        items.append(f"planner_options.base_url={_quoted(settings.base_url)}")
    return ";".join([*items, *settings.overrides])


def _agent(mode: str, settings: Settings, pose: tuple[float, ...], extra: dict[str, Any] | None = None,
           moveit: tuple[str, str] | None = None) -> NodeSpec:
    params: dict[str, Any] = {}
    if settings.config:
        params["config"] = settings.config
    params["overrides"] = agent_overrides(mode, settings)
    if pose:
        params["T_base_camera"] = [float(v) for v in pose]
    params.update(extra or {})
    spec = _ours("agent_node", params, settings, "answers tasks on /spacetools/task")
    return replace(spec, moveit=moveit)


def _scene(settings: Settings) -> Any:
    from spacetools_ros.ros.sim_node import scene_from_parameters

    try:
        return scene_from_parameters({"scene_seed": settings.scene_seed, "num_objects": settings.num_objects,
                                      "include": settings.include})
    except ValueError as exc:
        raise GraphError(str(exc)) from None


def _synthetic_pose(source: str) -> tuple[float, ...]:
    """The camera pose of a generated source (synthetic[:SEED]); () for anything else."""
    if not source.startswith("synthetic"):
        return ()
    from spacetools_ros.sources.factory import open_source

    with open_source(source) as opened:
        return tuple(float(v) for v in opened.read().T_base_camera.reshape(-1))


def _rviz(settings: Settings, fixed_frame: str) -> NodeSpec:
    params = {"use_sim_time": True} if settings.use_sim_time else {}
    return NodeSpec("rviz2", "rviz2", "rviz2", params,
                    arguments=("-d", str(share_path("config", "spacetools.rviz")), "-f", fixed_frame),
                    description="RViz: debug image, markers, camera, robot model", hint="rviz=false starts no RViz")


def node_set(mode: str, settings: Settings | Mapping[str, Any] | None = None) -> list[NodeSpec]:
    """The nodes of ``mode`` (sim, replay, robot) for ``settings`` (a Settings, or argument values as for
    :func:`parse_settings`). GraphError names a bad argument."""
    if mode not in MODES:
        raise GraphError(f"mode '{mode}' is not one of {', '.join(MODES)}")
    if not isinstance(settings, Settings):
        settings = parse_settings(settings)
    camera = settings.camera or CAMERAS[mode][0]
    if camera not in CAMERAS[mode]:
        raise GraphError(f"argument 'camera': '{camera}' is not available in mode {mode} "
                         f"(choose {', '.join(CAMERAS[mode])})")
    if mode == "sim":
        return _sim_nodes(settings)
    if mode == "replay":
        return _replay_nodes(settings, camera)
    return _robot_nodes(settings, camera)


def _sim_nodes(settings: Settings) -> list[NodeSpec]:
    from spacetools_ros.robot.profile import ProfileError, load_profile

    try:
        profile = load_profile(settings.robot)
    except ProfileError as exc:
        raise GraphError(f"argument 'robot': {exc}") from None
    scene = _scene(settings)
    pose = settings.T_base_camera or tuple(float(v) for v in scene.frame.T_base_camera.reshape(-1))
    sim = _ours("sim_node", {"scene_seed": settings.scene_seed, "num_objects": settings.num_objects,
                             "include": settings.include}, settings, "the simulated Panda, camera and objects")
    nodes = [sim, _agent("sim", settings, pose, {"frame_timeout_s": SIM_FRAME_TIMEOUT_S})]
    if settings.rviz:
        urdf = share_path("urdf", "panda.urdf")
        sim_time = {"use_sim_time": True} if settings.use_sim_time else {}
        nodes.append(NodeSpec("robot_state_publisher", "robot_state_publisher", "robot_state_publisher",
                              {"robot_description": urdf.read_text(), **sim_time},
                              description="the Panda's TF from /joint_states, for RViz", hint="rviz=false"))
        # the agent's markers are in the configuration's base frame (base_link); the Panda's base is panda_link0
        nodes.append(NodeSpec("tf2_ros", "static_transform_publisher", "base_link_to_panda", sim_time,
                              arguments=("--frame-id", "base_link", "--child-frame-id", profile.base_link),
                              description="base_link = the Panda's base", hint="rviz=false"))
        nodes.append(_rviz(settings, "base_link"))
    return nodes


def _replay_nodes(settings: Settings, camera: str) -> list[NodeSpec]:
    nodes: list[NodeSpec] = []
    if camera == "bag":
        player = settings.bag_player
        if player == "auto":
            player = "ros2" if _is_rosbag(settings.bag) and shutil.which("ros2") else "camera_node"
        if player == "ros2":
            if not _is_rosbag(settings.bag):
                raise GraphError(f"argument 'bag': ros2 bag play needs a rosbag2, got '{settings.bag}'")
            cmd = ("ros2", "bag", "play", settings.bag, "--loop", *(("--clock",) if settings.use_sim_time else ()))
            nodes.append(NodeSpec("rosbag2", "ros2 bag play", "bag_play", cmd=cmd, description="plays the recording"))
        else:
            nodes.append(_ours("camera_node", {"source": settings.bag}, settings,
                               "publishes the recording on realsense2_camera topics"))
    pose = settings.T_base_camera or _synthetic_pose(settings.bag)
    nodes.append(_agent("replay", settings, pose))
    if settings.rviz:
        nodes.append(_rviz(settings, "camera_color_optical_frame" if not pose else "base_link"))
    return nodes


def _robot_nodes(settings: Settings, camera: str) -> list[NodeSpec]:
    from spacetools_ros.robot.profile import ProfileError, load_profile

    try:
        profile = load_profile(settings.robot)
    except ProfileError as exc:
        raise GraphError(f"argument 'robot': {exc}") from None
    nodes: list[NodeSpec] = []
    if camera == "realsense":
        nodes.append(NodeSpec("realsense2_camera", "realsense2_camera_node", "camera",
                              {"align_depth.enable": True, **({"use_sim_time": True} if settings.use_sim_time else {})},
                              namespace="camera", description="the RealSense driver (depth aligned to colour)",
                              hint="camera=pyrealsense reads the RealSense through pyrealsense2 instead, camera=topics "
                                   "uses a driver started elsewhere"))
    elif camera == "pyrealsense":
        nodes.append(_ours("camera_node", {"source": "realsense"}, settings, "the RealSense through pyrealsense2"))
    moveit = None
    if not settings.dry_run and settings.moveit_config.lower() != "none":
        package = settings.moveit_config or profile.moveit_config_package
        if package:
            moveit = (profile.moveit_robot_name or profile.name, package)
    nodes.append(_agent("robot", settings, settings.T_base_camera, moveit=moveit))
    if settings.rviz:
        nodes.append(_rviz(settings, profile.base_link))
    return nodes


# ------------------------------------------------------------------------------------------ processes


class NodeUnavailable(RuntimeError):
    """A node of the set cannot be started on this machine (its package or command is not installed)."""


def _param_value(value: Any) -> str:
    """A -p value: JSON is valid YAML and keeps strings strings ('5', 'true', '')."""
    return json.dumps(value)


def ros_arguments(spec: NodeSpec) -> list[str]:
    """The --ros-args part of a node's command line: name, namespace, parameter files, then -p parameters."""
    args = ["--ros-args", "-r", f"__node:={spec.name}"]
    if spec.namespace:
        args += ["-r", f"__ns:=/{spec.namespace.strip('/')}"]
    for path in spec.param_files:
        args += ["--params-file", path]
    for key, value in spec.parameters.items():
        args += ["-p", f"{key}:={_param_value(value)}"]
    return args


def process_command(spec: NodeSpec, python: str | None = None) -> list[str]:
    """The command line that starts ``spec`` here: our nodes as ``python -m spacetools_ros.ros.<executable>``, other
    packages' executables from the ament index (lib/<package>/<executable>), plain processes as given.
    NodeUnavailable says what is missing."""
    if spec.cmd:
        if shutil.which(spec.cmd[0]) is None:
            raise NodeUnavailable(f"{spec.name}: the '{spec.cmd[0]}' command is not installed here "
                                  f"(needed for {' '.join(spec.cmd[:3])})")
        return list(spec.cmd)
    if spec.package == PACKAGE:
        return [python or sys.executable, "-m", f"{PACKAGE}.ros.{spec.executable}", *spec.arguments,
                *ros_arguments(spec)]
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:  # pragma: no cover - ament_index_python comes with rclpy
        raise NodeUnavailable(f"{spec.package}: ament_index_python is not installed") from None
    try:
        prefix = Path(get_package_prefix(spec.package))
    except (PackageNotFoundError, ValueError, OSError) as exc:  # OSError: AMENT_PREFIX_PATH is not set
        why = "AMENT_PREFIX_PATH is not set" if isinstance(exc, OSError) else "not on AMENT_PREFIX_PATH"
        raise NodeUnavailable(f"{spec.package} is not installed here ({why}): {spec.package}/{spec.executable} "
                              "cannot start" + (f"; {spec.hint}" if spec.hint else "")) from None
    executable = prefix / "lib" / spec.package / spec.executable
    if not executable.is_file():
        raise NodeUnavailable(f"{spec.package} has no executable {spec.executable} ({executable})")
    return [str(executable), *spec.arguments, *ros_arguments(spec)]


def describe(spec: NodeSpec) -> str:
    """One line about a node: package/executable (name) and its parameters (long values shortened)."""
    if spec.cmd:
        return f"{spec.name}: {' '.join(spec.cmd)}"
    shown = {k: (v if len(json.dumps(v)) <= 80 else f"<{len(json.dumps(v))} chars>") for k, v in
             spec.parameters.items()}
    extra = f" + MoveIt parameters of {spec.moveit[1]}" if spec.moveit else ""
    return f"{spec.package}/{spec.executable} ({spec.name}) {json.dumps(shown)}{extra}"


# --------------------------------------------------------------------------------------- launch files


def launch_description(mode: str | None, aliases: Mapping[str, str] | None = None,
                       fixed: Mapping[str, str] | None = None) -> Any:
    """A launch_ros LaunchDescription of a mode's node set (needs the launch packages of a ROS install).

    Every argument of the mode is declared (``aliases`` renames some: {launch name: argument name}; ``fixed`` values
    are not declared); mode None declares a ``mode`` argument too. The nodes are built at launch time from the
    argument values by :func:`node_set` (an OpaqueFunction), so a launch file starts exactly that node set.
    """
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchDescription

    aliases = dict(aliases or {})
    names = {v: k for k, v in aliases.items()}
    entities: list[Any] = []
    if mode is None:
        entities.append(DeclareLaunchArgument("mode", default_value="sim", description="sim, replay or robot",
                                              choices=list(MODES)))
    for argument in arguments_for(mode):
        if argument.name in (fixed or {}):
            continue
        kwargs: dict[str, Any] = {"default_value": argument.default, "description": argument.description}
        if argument.choices:
            kwargs["choices"] = list(argument.choices)
        entities.append(DeclareLaunchArgument(names.get(argument.name, argument.name), **kwargs))
    entities.append(OpaqueFunction(function=_launch_setup,
                                   kwargs={"mode": mode, "aliases": aliases, "fixed": dict(fixed or {})}))
    return LaunchDescription(entities)


def _launch_setup(context: Any, mode: str | None, aliases: Mapping[str, str], fixed: Mapping[str, str]) -> list:
    """The Node / ExecuteProcess actions of the node set, from the launch arguments' values."""
    from launch.substitutions import LaunchConfiguration

    names = {v: k for k, v in aliases.items()}
    if mode is None:
        mode = LaunchConfiguration("mode").perform(context)
    values = {a.name: LaunchConfiguration(names.get(a.name, a.name)).perform(context)
              for a in arguments_for(mode) if a.name not in fixed}
    values.update(fixed)
    return [launch_action(spec) for spec in node_set(mode, parse_settings(values))]


def launch_action(spec: NodeSpec) -> Any:
    """A launch_ros Node (or, for a plain process, an ExecuteProcess) for one NodeSpec."""
    if spec.cmd:
        from launch.actions import ExecuteProcess

        return ExecuteProcess(cmd=list(spec.cmd), name=spec.name, output="screen")
    from launch_ros.actions import Node

    parameters: list[Any] = [*spec.param_files, dict(spec.parameters)]
    if spec.moveit is not None:
        parameters.insert(0, moveit_parameters(*spec.moveit))
    kwargs: dict[str, Any] = {"package": spec.package, "executable": spec.executable, "name": spec.name,
                              "parameters": parameters, "output": "screen"}
    if spec.namespace:
        kwargs["namespace"] = spec.namespace
    if spec.arguments:
        kwargs["arguments"] = list(spec.arguments)
    return Node(**kwargs)


def moveit_parameters(robot_name: str, package: str) -> dict[str, Any]:
    """MoveItPy's parameters from a MoveIt config package (moveit_configs_utils, on the robot PC) plus this package's
    config/moveit_cpp.yaml (planning scene monitor, pipelines, plan request parameters)."""
    try:
        from moveit_configs_utils import MoveItConfigsBuilder
    except ImportError:
        raise RuntimeError(f"robot mode loads MoveIt's parameters from {package} with moveit_configs_utils, which is "
                           "not installed (ros-jazzy-moveit-configs-utils); or pass moveit_config:=none") from None
    builder = MoveItConfigsBuilder(robot_name, package_name=package)
    builder = builder.moveit_cpp(file_path=str(share_path("config", "moveit_cpp.yaml")))
    return builder.to_moveit_configs().to_dict()
