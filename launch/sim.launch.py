"""The simulated arm: sim_node (PyBullet tabletop, camera, /joint_states, /clock) + agent_node (robot.backend ros_sim).

    ros2 launch spacetools_ros sim.launch.py scene_seed:=3 include:="red box, blue bowl" rviz:=true

The same node set as `spacetools up sim` (spacetools_ros.ros.graph.node_set("sim", ...)).
"""

from spacetools_ros.ros.graph import launch_description


def generate_launch_description():
    """The launch description (needs the launch and launch_ros packages of a ROS install)."""
    return launch_description("sim")
