"""camera_node publishing a recorded/generated source + agent_node answering tasks on it.

    ros2 launch spacetools_ros demo.launch.py source:=/path/to/bag_or_folder
The same node set runs without the ROS CLI through `spacetools demo`.
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    """The launch description (needs the launch and launch_ros packages of a ROS install)."""
    source = LaunchConfiguration("source")
    config = LaunchConfiguration("config")
    return LaunchDescription([
        DeclareLaunchArgument("source", default_value="synthetic:0",
                              description="folder, rosbag2, synthetic[:SEED] or realsense"),
        DeclareLaunchArgument("config", default_value="", description="spacetools YAML configuration"),
        Node(package="spacetools_ros", executable="camera_node", name="spacetools_camera",
             parameters=[{"source": source}], output="screen"),
        Node(package="spacetools_ros", executable="agent_node", name="spacetools_agent",
             parameters=[{"config": config}], output="screen"),
    ])
