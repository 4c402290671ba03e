"""A recording replayed to agent_node: `ros2 bag play --loop` for a rosbag2 (bag_player:=auto or ros2), camera_node
for a frame folder or a generated scene (bag_player:=camera_node).

    ros2 launch spacetools_ros replay.launch.py bag:=/data/tabletop.mcap T_base_camera:="[...16 numbers...]"

The same node set as `spacetools up replay` (spacetools_ros.ros.graph.node_set("replay", ...)).
"""

from spacetools_ros.ros.graph import launch_description


def generate_launch_description():
    """The launch description (needs the launch and launch_ros packages of a ROS install)."""
    return launch_description("replay")
