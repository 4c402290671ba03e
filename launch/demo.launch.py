"""camera_node publishing a recorded/generated source + agent_node answering tasks on it.

    ros2 launch spacetools_ros demo.launch.py source:=/path/to/bag_or_folder

The replay node set of spacetools_ros.ros.graph with camera_node as the player (`source` is replay's `bag`);
`spacetools demo --frames SOURCE` runs the same nodes without the ROS CLI.
"""

from spacetools_ros.ros.graph import launch_description


def generate_launch_description():
    """The launch description (needs the launch and launch_ros packages of a ROS install)."""
    return launch_description("replay", aliases={"source": "bag"}, fixed={"bag_player": "camera_node"})
