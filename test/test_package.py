"""The ament_python package: metadata, entry points, launch files, and a core that imports without rclpy."""

import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_is_format_3_with_real_exec_depends():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "spacetools_ros"
    depends = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "std_msgs", "sensor_msgs", "python3-numpy"} <= depends
    assert root.find("export/build_type").text == "ament_python"


def test_every_node_module_has_a_console_script():
    tree = ast.parse((ROOT / "setup.py").read_text())
    scripts = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                   if isinstance(n, ast.keyword) and n.arg == "entry_points")["console_scripts"]
    targets = {s.split("=")[1].strip() for s in scripts}
    nodes = {f"spacetools_ros.ros.{p.stem}:main" for p in (ROOT / "spacetools_ros" / "ros").glob("*_node.py")}
    assert nodes and nodes <= targets
    assert "spacetools_ros.cli:main" in targets


def test_launch_files_compile_and_their_nodes_are_installed_executables():
    from spacetools_ros.ros.graph import MODES, PACKAGE, node_set

    tree = ast.parse((ROOT / "setup.py").read_text())
    scripts = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                   if isinstance(n, ast.keyword) and n.arg == "entry_points")["console_scripts"]
    installed = {s.split("=")[0].strip() for s in scripts}
    for path in (ROOT / "launch").glob("*.launch.py"):
        compile(path.read_text(), str(path), "exec")
    ours = {spec.executable for mode in MODES if mode != "robot" for spec in node_set(mode) if spec.package == PACKAGE}
    assert {"sim_node", "agent_node", "camera_node"} <= ours <= installed


def test_core_imports_without_rclpy_or_ros_messages():
    """Frames, sources, tools, agent and planners must work where ROS is absent."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('rclpy', 'sensor_msgs', 'std_msgs', 'builtin_interfaces'):
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
from spacetools_ros.agent.factory import build_agent
from spacetools_ros.config import load_config
from spacetools_ros.sources.factory import open_source
from spacetools_ros.sources.bag import BagSource
frame = open_source('synthetic:0').read()
print(build_agent(load_config()).run('how many objects are on the table?', frame).answer)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().isdigit()
