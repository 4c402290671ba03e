"""Launch files, node-set description (spacetools_ros.ros.graph), node parameter files, RViz config, robot profiles.

The launch files need ROS's ``launch`` / ``launch_ros`` packages, which are not installable here (not on PyPI, not in
Debian 12). So every launch file is compiled (py_compile), and then run against small stand-in ``launch``,
``launch_ros`` and ``moveit_configs_utils`` modules injected into ``sys.modules`` inside the test: they record the
actions and arguments they are given. That checks what the launch files build (the declared arguments and the Node /
ExecuteProcess actions with their parameters) against graph.node_set for the same arguments, not that the real
launch system runs them; that needs a robot PC (`ros2 launch spacetools_ros sim.launch.py`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import py_compile
import random
import sys
import types
from pathlib import Path

import pytest
import yaml

from spacetools_ros.ros import graph
from spacetools_ros.ros.graph import GraphError, node_set, parse_settings, settings_from_assignments

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch"
LAUNCH_FILES = {  # file: (mode, aliases, fixed)
    "spacetools.launch.py": (None, {}, {}),
    "sim.launch.py": ("sim", {}, {}),
    "replay.launch.py": ("replay", {}, {}),
    "demo.launch.py": ("replay", {"source": "bag"}, {"bag_player": "camera_node"}),
}


# ------------------------------------------------------------------------------------ stand-in launch modules


class _Recorded:
    """Records the constructor's arguments (what a launch file gave the real class)."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context) -> str:
        return context.launch_configurations[self.name]


class _MoveItConfigsBuilder:
    """Stand-in for moveit_configs_utils.MoveItConfigsBuilder: its dict names the package and the moveit_cpp file."""

    def __init__(self, robot_name: str, package_name: str = "") -> None:
        self.config = {"robot_name": robot_name, "package": package_name}

    def moveit_cpp(self, file_path: str) -> _MoveItConfigsBuilder:
        self.config["moveit_cpp"] = file_path
        return self

    def to_moveit_configs(self) -> _MoveItConfigsBuilder:
        return self

    def to_dict(self) -> dict:
        return dict(self.config)


@pytest.fixture
def stand_in_launch(monkeypatch):
    """Inject recording stand-ins for launch, launch.actions, launch.substitutions, launch_ros(.actions) and
    moveit_configs_utils (the real packages come with a ROS install, not with pip)."""
    modules = {name: types.ModuleType(name) for name in (
        "launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions", "moveit_configs_utils")}
    classes = {"LaunchDescription": ("launch",), "DeclareLaunchArgument": ("launch.actions",),
               "OpaqueFunction": ("launch.actions",), "ExecuteProcess": ("launch.actions",),
               "Node": ("launch_ros.actions",)}
    for cls_name, owners in classes.items():
        cls = type(cls_name, (_Recorded,), {})
        for owner in owners:
            setattr(modules[owner], cls_name, cls)
    modules["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    modules["moveit_configs_utils"].MoveItConfigsBuilder = _MoveItConfigsBuilder
    modules["launch"].actions = modules["launch.actions"]
    modules["launch"].substitutions = modules["launch.substitutions"]
    modules["launch_ros"].actions = modules["launch_ros.actions"]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return modules


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch(path: Path, arguments: dict[str, str]) -> tuple[dict[str, _Recorded], list[_Recorded]]:
    """(declared arguments by name, the actions the launch file starts) for launch argument values ``arguments``."""
    description = _load(path).generate_launch_description()
    (entities,) = description.args
    declared = {e.args[0]: e for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    (opaque,) = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    unknown = set(arguments) - set(declared)
    assert not unknown, f"{path.name} does not declare {unknown}"
    values = {name: d.kwargs["default_value"] for name, d in declared.items()} | arguments
    for name, d in declared.items():
        if "choices" in d.kwargs:
            assert values[name] in d.kwargs["choices"], (name, values[name])
    context = types.SimpleNamespace(launch_configurations=values)
    return declared, opaque.kwargs["function"](context, **opaque.kwargs.get("kwargs", {}))


def _expected(spec: graph.NodeSpec) -> tuple:
    if spec.cmd:
        return ("ExecuteProcess", list(spec.cmd), spec.name)
    parameters = [*spec.param_files, dict(spec.parameters)]
    if spec.moveit:
        robot, package = spec.moveit
        parameters.insert(0, {"robot_name": robot, "package": package,
                              "moveit_cpp": str(graph.share_path("config", "moveit_cpp.yaml"))})
    return ("Node", spec.package, spec.executable, spec.name, spec.namespace, parameters, list(spec.arguments))


def _actual(action: _Recorded) -> tuple:
    k = action.kwargs
    if type(action).__name__ == "ExecuteProcess":
        return ("ExecuteProcess", k["cmd"], k["name"])
    assert type(action).__name__ == "Node" and k["output"] == "screen"
    return ("Node", k["package"], k["executable"], k["name"], k.get("namespace", ""), k["parameters"],
            k.get("arguments", []))


# ---------------------------------------------------------------------------------------------- launch files


@pytest.mark.parametrize("name", sorted(p.name for p in LAUNCH.glob("*.py")))
def test_every_launch_file_compiles(name, tmp_path):
    py_compile.compile(str(LAUNCH / name), cfile=str(tmp_path / "out.pyc"), doraise=True)


def test_every_launch_file_is_checked_below():
    assert sorted(p.name for p in LAUNCH.glob("*.launch.py")) == sorted(LAUNCH_FILES)


@pytest.mark.parametrize("name", sorted(LAUNCH_FILES))
def test_launch_files_declare_every_argument_of_their_mode(stand_in_launch, name):
    mode, aliases, fixed = LAUNCH_FILES[name]
    declared, _ = _launch(LAUNCH / name, {} if mode else {"mode": "sim"})
    names = {v: k for k, v in aliases.items()}
    expected = {names.get(a.name, a.name): a for a in graph.arguments_for(mode) if a.name not in fixed}
    assert set(declared) - {"mode"} == set(expected)
    for launch_name, argument in expected.items():
        kwargs = declared[launch_name].kwargs
        assert kwargs["default_value"] == argument.default and kwargs["description"] == argument.description
        assert kwargs.get("choices", []) == list(argument.choices)
    if mode is None:
        assert declared["mode"].kwargs["choices"] == list(graph.MODES)


CASES = [  # (launch file, launch arguments, the mode the node set is of)
    ("sim.launch.py", {}, "sim"),
    ("sim.launch.py", {"scene_seed": "3", "num_objects": "5", "include": "red box, blue bowl", "planner": "openai",
                       "model": "spacetools", "base_url": "http://localhost:8000/v1", "use_sim_time": "true"}, "sim"),
    ("sim.launch.py", {"rviz": "true", "dry_run": "true", "overrides": "agent.max_turns=4",
                       "params_file": "/opt/nodes.yaml"}, "sim"),
    ("replay.launch.py", {}, "replay"),
    ("replay.launch.py", {"bag": "/data/run.mcap", "bag_player": "ros2", "use_sim_time": "true"}, "replay"),
    ("replay.launch.py", {"bag": "/data/frames", "T_base_camera": " ".join(["0"] * 15 + ["1"])}, "replay"),
    ("demo.launch.py", {"source": "synthetic:2", "config": "/opt/spacetools.yaml"}, "replay"),
    ("spacetools.launch.py", {"mode": "robot"}, "robot"),
    ("spacetools.launch.py", {"mode": "robot", "robot": "fr3", "camera": "pyrealsense", "rviz": "true"}, "robot"),
    ("spacetools.launch.py", {"mode": "robot", "robot": "xarm7", "camera": "topics", "dry_run": "true"}, "robot"),
    ("spacetools.launch.py", {"mode": "robot", "moveit_config": "none", "planner": "transformers",
                              "model": "/models/spacetools-3b"}, "robot"),
    ("spacetools.launch.py", {"mode": "sim", "scene_seed": "7"}, "sim"),
]


@pytest.mark.parametrize("name,arguments,mode", CASES)
def test_launch_files_start_exactly_the_node_set_of_the_description(stand_in_launch, name, arguments, mode):
    _, actions = _launch(LAUNCH / name, arguments)
    _, aliases, fixed = LAUNCH_FILES[name]
    values = {aliases.get(k, k): v for k, v in arguments.items() if k != "mode"} | fixed
    expected = node_set(mode, parse_settings(values))
    assert [_actual(a) for a in actions] == [_expected(s) for s in expected]


def test_sim_launch_runs_sim_node_and_agent_node_on_the_scenes_camera_pose(stand_in_launch):
    from spacetools_ros.bench.sim_bench import scene_for

    seed = 2
    n = random.Random(seed).randint(3, 5)
    _, actions = _launch(LAUNCH / "sim.launch.py", {"scene_seed": str(seed), "num_objects": str(n)})
    sim, agent = actions
    assert (sim.kwargs["executable"], agent.kwargs["executable"]) == ("sim_node", "agent_node")
    assert sim.kwargs["parameters"] == [{"scene_seed": seed, "num_objects": n, "include": ""}]
    (params,) = agent.kwargs["parameters"]
    assert params["overrides"] == "robot.backend=ros_sim"
    assert params["T_base_camera"] == pytest.approx(scene_for(seed).frame.T_base_camera.reshape(-1).tolist())


def test_replay_launch_plays_a_rosbag_with_ros2_bag_play(stand_in_launch, tmp_path):
    bag = tmp_path / "run.mcap"
    bag.write_bytes(b"")
    _, actions = _launch(LAUNCH / "replay.launch.py", {"bag": str(bag), "bag_player": "ros2", "use_sim_time": "true"})
    play, agent = actions
    assert type(play).__name__ == "ExecuteProcess"
    assert play.kwargs["cmd"] == ["ros2", "bag", "play", str(bag), "--loop", "--clock"]
    assert agent.kwargs["parameters"][0]["use_sim_time"] is True
    with pytest.raises(GraphError, match="needs a rosbag2"):
        _launch(LAUNCH / "replay.launch.py", {"bag": str(tmp_path), "bag_player": "ros2"})


def test_robot_launch_gives_agent_node_the_profiles_moveit_parameters_and_starts_rviz(stand_in_launch):
    _, actions = _launch(LAUNCH / "spacetools.launch.py", {"mode": "robot", "robot": "fr3", "rviz": "true"})
    camera, agent, rviz = actions
    assert (camera.kwargs["package"], camera.kwargs["namespace"]) == ("realsense2_camera", "camera")
    assert camera.kwargs["parameters"] == [{"align_depth.enable": True}]
    moveit, params = agent.kwargs["parameters"]
    assert moveit["package"] == "franka_fr3_moveit_config" and moveit["robot_name"] == "fr3"
    assert Path(moveit["moveit_cpp"]).is_file()
    assert params["overrides"] == 'robot.backend=moveit;robot.profile="fr3"'
    assert rviz.kwargs["package"] == "rviz2"
    args = rviz.kwargs["arguments"]
    assert Path(args[args.index("-d") + 1]).name == "spacetools.rviz" and args[args.index("-f") + 1] == "fr3_link0"


# ------------------------------------------------------------------------------------------- description


def test_set_assignments_reach_arguments_config_overrides_and_node_parameters():
    settings = settings_from_assignments(["robot=fr3", "agent.max_turns=4", "sim_node.speed=2.5", "rviz=true",
                                          "camera.sync_slop_s=0.05", "overrides=planner=scripted"])
    assert settings.robot == "fr3" and settings.rviz is True
    assert settings.overrides == ("planner=scripted", "agent.max_turns=4", "camera.sync_slop_s=0.05")
    assert settings.node_parameters == {"sim_node": {"speed": 2.5}}
    sim = node_set("sim", settings_from_assignments(["sim_node.speed=2.5", "agent_node.queue_size=1"]))
    assert sim[0].parameters["speed"] == 2.5 and sim[1].parameters["queue_size"] == 1


@pytest.mark.parametrize("items,message", [
    (["nope=1"], "--set nope: not an argument"),
    (["scene_seed=abc"], "argument 'scene_seed' must be an integer"),
    (["dry_run=maybe"], "argument 'dry_run': 'maybe' is not one of"),
    (["planner=gpt"], "argument 'planner': 'gpt' is not one of"),
    (["sim_node.sped=2"], "sim_node has no parameter 'sped'"),
    (["T_base_camera=1 2 3"], "argument 'T_base_camera' must be 16 finite numbers"),
    (["scene_seed"], "is not key=value"),
])
def test_bad_settings_are_errors_naming_them(items, message):
    with pytest.raises(GraphError, match=message):
        settings_from_assignments(items)


def test_mode_camera_and_robot_are_checked():
    with pytest.raises(GraphError, match="'realsense' is not available in mode sim"):
        node_set("sim", {"camera": "realsense"})
    with pytest.raises(GraphError, match="mode 'lab' is not one of"):
        node_set("lab", {})
    with pytest.raises(GraphError, match="argument 'robot'.*'ur5' is not one of"):
        node_set("robot", {"robot": "ur5"})
    with pytest.raises(GraphError, match="'include': 'red' is not 'colour shape'"):
        node_set("sim", {"include": "red"})


def test_process_commands_resolve_our_nodes_and_name_what_is_missing(monkeypatch):
    agent = node_set("robot", {"camera": "topics", "config": "/opt/c.yaml", "params_file": "/opt/n.yaml"})[-1]
    command = graph.process_command(agent, python="python3")
    assert command[:3] == ["python3", "-m", "spacetools_ros.ros.agent_node"]
    assert command[command.index("--params-file") + 1] == "/opt/n.yaml"
    assert "config:=\"/opt/c.yaml\"" in command and "__node:=spacetools_agent" in command
    realsense = node_set("robot", {})[0]
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(ROOT / "no-such-prefix"))
    with pytest.raises(graph.NodeUnavailable, match="realsense2_camera is not installed here.*camera=pyrealsense"):
        graph.process_command(realsense)
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    play = node_set("replay", {"bag": "/data/run.mcap", "bag_player": "ros2"})[0]
    with pytest.raises(graph.NodeUnavailable, match="'ros2' command is not installed"):
        graph.process_command(play)
    # auto: ros2 bag play only where the ros2 command exists
    assert node_set("replay", {"bag": "/data/run.mcap"})[0].executable == "camera_node"
    monkeypatch.setattr(graph.shutil, "which", lambda name: "/opt/ros/jazzy/bin/ros2")
    assert node_set("replay", {"bag": "/data/run.mcap"})[0].cmd[:3] == ("ros2", "bag", "play")


def test_demo_uses_the_sim_description():
    from spacetools_ros.ros.demo import DEMO_OBJECTS, sim_demo_nodes

    nodes, scene = sim_demo_nodes(0)
    assert nodes == node_set("sim", {"scene_seed": 0, "num_objects": 4, "include": DEMO_OBJECTS})
    assert [o.colour + " " + o.shape for o in scene.objects[:2]] == ["red box", "blue bowl"]


# --------------------------------------------------------------------------------------- config/ files


def test_nodes_yaml_holds_every_node_parameter_with_its_default():
    from spacetools_ros.ros import agent_node, camera_node, sim_node

    data = yaml.safe_load((ROOT / "config" / "nodes.yaml").read_text())
    for module in (camera_node, agent_node, sim_node):
        name = graph.NODE_MODULES[module.__name__.rsplit(".", 1)[1]]
        params = data[name]["ros__parameters"]
        assert params == {k: v[0] for k, v in module.PARAMETERS.items()}, name


@pytest.mark.parametrize("name,value,default,minimum,message", [
    ("rate_hz", "fast", 5.0, None, "parameter 'rate_hz' must be float"),
    ("rate_hz", -1.0, 5.0, None, "parameter 'rate_hz' must be positive"),
    ("rate_hz", math.nan, 5.0, None, "parameter 'rate_hz' must be a finite number"),
    ("hold_frame", -2, -1, -1, "parameter 'hold_frame' must be at least -1"),
    ("loop", 1, True, None, "parameter 'loop' must be bool"),
    ("T_base_camera", [1.0, math.inf], [0.0], None, "parameter 'T_base_camera' must be a list of finite numbers"),
    ("T_base_camera", [True] * 16, [0.0], None, "parameter 'T_base_camera' must be a list of finite numbers"),
])
def test_bad_node_parameter_values_are_errors_naming_the_parameter(name, value, default, minimum, message):
    from spacetools_ros.ros.node_params import ParameterError, check_value

    with pytest.raises(ParameterError, match=message):
        check_value(name, value, default, minimum)


def test_node_parameter_values_that_fit_are_kept():
    from spacetools_ros.ros.node_params import check_value

    assert check_value("rate_hz", 5, 5.0) == 5.0 and isinstance(check_value("rate_hz", 5, 5.0), float)
    assert check_value("T_base_camera", [1, 0] * 8, [0.0]) == [1.0, 0.0] * 8
    assert check_value("hold_frame", -1, -1, -1) == -1


def test_rviz_config_shows_debug_image_markers_camera_and_robot():
    data = yaml.safe_load((ROOT / "config" / "spacetools.rviz").read_text())
    displays = {(d["Class"], (d.get("Topic") or d.get("Description Topic") or {}).get("Value"))
                for d in data["Visualization Manager"]["Displays"]}
    assert {("rviz_default_plugins/Image", "/spacetools/debug_image"),
            ("rviz_default_plugins/MarkerArray", "/spacetools/markers"),
            ("rviz_default_plugins/Image", "/camera/camera/color/image_raw"),
            ("rviz_default_plugins/RobotModel", "/robot_description")} <= displays


# ----------------------------------------------------------------------------------------------- profiles


def test_panda_yaml_is_the_panda_profile():
    from spacetools_ros.robot.profile import PANDA, load_profile

    panda = load_profile("panda")
    core = [f.name for f in dataclasses.fields(PANDA) if f.name not in
            ("extras", "unconfigured", "moveit_config_package", "moveit_robot_name")]
    assert {k: getattr(panda, k) for k in core} == {k: getattr(PANDA, k) for k in core}
    assert panda.moveit_config_package == "moveit_resources_panda_moveit_config"


@pytest.mark.parametrize("name,group,tip,gripper", [
    ("panda", "panda_arm", "panda_link8", "/panda_hand_controller/gripper_cmd"),
    ("fr3", "fr3_arm", "fr3_link8", "/franka_gripper/gripper_action"),
    ("kinova_gen3", "manipulator", "end_effector_link", "/robotiq_gripper_controller/gripper_cmd"),
    ("xarm7", "xarm7", "link_eef", "/xarm_gripper/gripper_action"),
])
def test_profiles_hold_the_arms_facts(name, group, tip, gripper):
    from spacetools_ros.robot.profile import load_profile

    profile = load_profile(name)
    assert (profile.planning_group, profile.tip_link, profile.gripper_action) == (group, tip, gripper)
    assert len(profile.joints) == 7 and profile.moveit_config_package
    for joint in profile.joints:  # limits are known for every arm (manufacturer sources, see the YAML comments)
        assert joint.lower < joint.upper and joint.max_velocity > 0, joint
    assert all(lo <= q <= hi for q, lo, hi in zip(profile.home, profile.lower_limits, profile.upper_limits,
                                                   strict=True)), name
    if name == "kinova_gen3":
        assert profile.joint_names == [f"joint_{i}" for i in range(1, 8)]


def test_config_accepts_every_profile_and_a_profile_file(tmp_path):
    from spacetools_ros.config import ConfigError, load_config

    for name in ("panda", "fr3", "kinova_gen3", "xarm7"):
        assert load_config(overrides=[f"robot.profile={name}"]).robot.profile == name
    mine = tmp_path / "my_panda.yaml"
    mine.write_text((ROOT / "config" / "robots" / "panda.yaml").read_text().replace("[0.85, 0.6, 0.7]",
                                                                                    "[0.7, 0.4, 0.5]"))
    assert load_config(overrides=[f"robot.profile={mine}"]).robot.profile == str(mine)
    with pytest.raises(ConfigError, match="robot.profile: 'ur5' is not one of panda, fr3, kinova_gen3, xarm7"):
        load_config(overrides=["robot.profile=ur5"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(overrides=[f"robot.profile={tmp_path / 'none.yaml'}"])


def test_the_factory_moves_with_the_chosen_profile_and_refuses_unconfigured_ones(tmp_path):
    from spacetools_ros.agent.factory import build_manipulator
    from spacetools_ros.config import ConfigError, load_config
    from spacetools_ros.sources.factory import open_source

    mine = tmp_path / "my_panda.yaml"
    mine.write_text((ROOT / "config" / "robots" / "panda.yaml").read_text().replace("[0.85, 0.6, 0.7]",
                                                                                    "[0.7, 0.4, 0.5]"))
    with open_source("synthetic:0") as camera:
        arm = build_manipulator(load_config(overrides=["robot.backend=dry_run", f"robot.profile={mine}"]), camera)
        assert arm.backend.profile.workspace_max == (0.7, 0.4, 0.5)
        assert arm.backend.guard.config.workspace_max == (0.7, 0.4, 0.5)
        with pytest.raises(ConfigError, match="'kinova_gen3' refuses to move until configured: TCP offset, gripper "
                                              "opening, workspace box unknown"):
            build_manipulator(load_config(overrides=["robot.backend=dry_run", "robot.profile=kinova_gen3"]), camera)
        with pytest.raises(ConfigError, match="'xarm7' refuses to move until configured"):
            build_manipulator(load_config(overrides=["robot.backend=moveit", "robot.profile=xarm7"]), camera)
        with pytest.raises(ConfigError, match="'fr3' cannot be used with robot.backend moveit.*urdf/panda.urdf"):
            build_manipulator(load_config(overrides=["robot.backend=moveit", "robot.profile=fr3"]), camera)
