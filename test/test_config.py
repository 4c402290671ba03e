"""Configuration: YAML onto dataclasses; unknown keys, wrong types and bad files are named errors."""

import pytest

from spacetools_ros.config import AppConfig, ConfigError, load_config


def test_packaged_config_loads_with_defaults():
    config = load_config()
    assert isinstance(config, AppConfig)
    assert config.planner == "scripted" and config.agent.max_turns == 8 and config.agent.tool_text_limit == 2048
    assert config.camera.color_topic == "/camera/camera/color/image_raw"


def test_overrides_are_parsed_as_yaml_values():
    config = load_config(
        overrides=["agent.max_turns=3", "tabletop.min_height=0.02", "camera.base_frame_id=panda_link0"])
    assert config.agent.max_turns == 3 and config.tabletop.min_height == 0.02
    assert config.camera.base_frame_id == "panda_link0"


@pytest.mark.parametrize("override,message", [
    ("agent.max_turn=3", r"agent: unknown key\(s\) \['max_turn'\]"),
    ("agent.max_turns=lots", "agent.max_turns: expected int"),
    ("agent.max_turns=true", "agent.max_turns: expected int"),
    ("planner=gpt", "planner: 'gpt' is not one of scripted"),
    ("camera.T_base_camera=[1, 2, 3]", "camera.T_base_camera: needs 16 numbers"),
    ("camera=5", "camera: expected a mapping"),
    ("novalue", "is not key=value"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_missing_or_broken_files_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_ints_are_accepted_for_floats(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("tabletop:\n  max_depth: 2\ncamera:\n  T_base_camera: [1,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,0,1]\n")
    config = load_config(path)
    assert config.tabletop.max_depth == 2.0 and isinstance(config.tabletop.max_depth, float)
    assert config.camera.T_base_camera[0] == 1.0


def test_configured_model_with_a_missing_path_fails_at_start_up():
    from spacetools_ros.agent.factory import build_agent
    from spacetools_ros.perception.models import ModelConfigError

    config = load_config(overrides=["models.depth={kind: depth_anything, path: /nonexistent/model}"])
    assert config.models.depth.kind == "depth_anything" and config.models.pointing is None
    with pytest.raises(ModelConfigError, match="depth model 'depth_anything' at /nonexistent/model: model path"):
        build_agent(config)
    with pytest.raises(ConfigError, match=r"models.depth: unknown key\(s\) \['paht'\]"):
        load_config(overrides=["models.depth={kind: sam, paht: /x}"])


@pytest.mark.parametrize(("backend", "enabled"), [("sim", True), ("ros_sim", True), ("moveit", False),
                                                  ("dry_run", False)])
def test_execution_gate_is_on_in_simulation_and_off_on_a_robot_by_default(backend, enabled):
    assert load_config(overrides=[f"robot.backend={backend}"]).robot.starts_enabled is enabled
    config = load_config(overrides=[f"robot.backend={backend}", f"robot.execution_enabled={str(not enabled).lower()}"])
    assert config.robot.starts_enabled is (not enabled)


def test_the_moveit_backend_without_moveit_py_is_a_clear_start_up_error():
    from spacetools_ros.agent.factory import build_manipulator

    with pytest.raises(ConfigError, match="robot.backend moveit: .*moveit"):
        build_manipulator(load_config(overrides=["robot.backend=moveit"]), camera=None)
