"""Any spacetools node set: mode:=sim (simulated arm), replay (a recording) or robot (camera + MoveIt arm).

    ros2 launch spacetools_ros spacetools.launch.py mode:=robot robot:=panda camera:=realsense rviz:=true
    ros2 launch spacetools_ros spacetools.launch.py --show-args

The nodes and their parameters come from spacetools_ros.ros.graph.node_set, the description `spacetools up` starts
too; every argument of spacetools_ros.ros.graph.ARGUMENTS is declared here.
"""

from spacetools_ros.ros.graph import launch_description


def generate_launch_description():
    """The launch description (needs the launch and launch_ros packages of a ROS install)."""
    return launch_description(None)
