"""spacetools_ros: tool-using spatial reasoning for ROS 2 manipulation.

The core (frames, sources, tools, agent, planners) imports without rclpy; ROS nodes live in
spacetools_ros.ros and stay thin adapters over it.
"""

__version__ = "0.1.0"
