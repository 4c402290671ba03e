"""Start-up failure and spin/shutdown handling shared by the nodes."""

from __future__ import annotations

from collections.abc import Callable


def stop_node(node, fatal_message: str | None = None, code: int = 0) -> int:
    """Log fatal_message (if any), destroy node, shut rclpy down; returns code for sys.exit."""
    import rclpy

    if fatal_message:
        node.get_logger().fatal(fatal_message)
    node.destroy_node()
    rclpy.try_shutdown()
    return code


def spin_until_shutdown(node, executor=None, on_shutdown: Callable[[], None] | None = None) -> int:
    """Spin (on executor, or a single-threaded one) until Ctrl-C or external shutdown, then clean up."""
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    executor = executor or SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if on_shutdown:
            on_shutdown()
        stop_node(node)
    return 0
