"""ament_python package definition of spacetools_ros (colcon on a robot PC, pip in a venv)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "spacetools_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),
        (f"share/{PACKAGE}/urdf", glob("urdf/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="spacetools_ros maintainers",
    maintainer_email="maintainers@spacetools-ros.dev",
    description="Tool-using spatial reasoning for ROS 2 manipulation (SpaceTools protocol).",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "spacetools = spacetools_ros.cli:main",
            "camera_node = spacetools_ros.ros.camera_node:main",
            "agent_node = spacetools_ros.ros.agent_node:main",
            "sim_node = spacetools_ros.ros.sim_node:main",
        ],
    },
)
