"""agent_node: answers natural-language tasks on the latest camera frame.

In:  /spacetools/task (std_msgs/String), the camera topics (realsense2_camera names).
Out: /spacetools/status and /spacetools/result (std_msgs/String holding JSON; see README).
Tasks run one at a time in arrival order from a bounded queue; a bad task ends as failed with a
reason and the node keeps running.
"""

from __future__ import annotations

import collections
import itertools
import json
import queue
import sys
import threading
import time
from typing import Any

import numpy as np

from spacetools_ros.config import ConfigError, load_config
from spacetools_ros.perception.models import ModelConfigError
from spacetools_ros.ros.node_params import ParameterError, declare_parameters
from spacetools_ros.ros.node_runtime import spin_until_shutdown, stop_node
from spacetools_ros.ros.qos import report_qos, task_qos

TASK_TOPIC = "/spacetools/task"
CANCEL_SERVICE = "/spacetools/cancel"
ENABLE_SERVICE = "/spacetools/enable_execution"
STATUS_TOPIC = "/spacetools/status"
RESULT_TOPIC = "/spacetools/result"
TRACE_TOPIC = "/spacetools/trace"
REJECTION_LOG_PERIOD_S = 5.0  # refused task messages are summarised in the log this often
MARKERS_TOPIC = "/spacetools/markers"
DEBUG_IMAGE_TOPIC = "/spacetools/debug_image"

PARAMETERS = {
    "config": ("", "YAML configuration file (empty: the packaged config/spacetools.yaml)"),
    "overrides": ("", "configuration overrides 'key=value' separated by ';', as `spacetools --set` "
                      "(e.g. 'robot.backend=ros_sim;planner=scripted')"),
    "frame_timeout_s": (5.0, "a task fails when no complete frame arrives within this time"),
    "max_task_bytes": (4096, "longer tasks are rejected"),
    "queue_size": (4, "tasks waiting beyond the running one; more are rejected"),
    "T_base_camera": ([0.0], "camera pose in the base frame, 16 numbers row-major; [0.0] = from config"),
}


def _strict_utf8(raw: bytes) -> str:
    """The string of a serialized std_msgs/String, decoded strictly.

    rclpy's deserializer replaces invalid UTF-8 with U+FFFD; a task must not be silently altered,
    so the bytes are decoded again from the CDR layout: 4-byte encapsulation header (byte 1 is 1
    for little-endian), uint32 length including the NUL, the bytes.
    """
    order = "little" if raw[1] == 1 else "big"
    length = int.from_bytes(raw[4:8], order)
    return raw[8:8 + length - 1].decode("utf-8")


def validate_task_bytes(raw: bytes, max_bytes: int) -> tuple[str | None, str | None]:
    """(task text, None) for a usable serialized std_msgs/String, else (the text when it decodes, or None;
    the reason it is refused)."""
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import String

    if len(raw) > max_bytes + 64:  # CDR header and length prefix add a few bytes
        return None, f"task is too long ({len(raw)} bytes > {max_bytes})"
    try:
        deserialize_message(raw, String)  # checks the layout
        text = _strict_utf8(raw)
    except Exception as exc:  # bad UTF-8 or a malformed buffer
        return None, f"task is not decodable text ({type(exc).__name__})"
    if len(text.encode("utf-8")) > max_bytes:
        return None, f"task is too long ({len(text.encode('utf-8'))} bytes > {max_bytes})"
    if not text.strip():
        return None, "task is empty"
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        return text.strip(), "task contains control characters"
    return text.strip(), None


class AgentNode:
    """Thin adapter: ROS messages in and out, the core Agent in between (run on a worker thread)."""

    def __init__(self, node, agent, source, params: dict[str, Any], gate=None) -> None:
        from sensor_msgs.msg import Image
        from std_msgs.msg import String
        from std_srvs.srv import SetBool, Trigger
        from visualization_msgs.msg import MarkerArray

        self.node = node
        self.agent = agent
        self.source = source
        self.params = params
        self.gate = gate  # the arm's execution gate, when the agent has robot tools
        self._cancel = threading.Event()  # cancels the running task
        self._running: str | None = None
        node.create_service(Trigger, CANCEL_SERVICE, self._on_cancel)
        node.create_service(SetBool, ENABLE_SERVICE, self._on_enable)
        self._ids = itertools.count(1)
        self._queue: queue.Queue = queue.Queue(maxsize=params["queue_size"])
        self._status_pub = node.create_publisher(String, STATUS_TOPIC, report_qos())
        self._result_pub = node.create_publisher(String, RESULT_TOPIC, report_qos())
        self._trace_pub = node.create_publisher(String, TRACE_TOPIC, report_qos())
        self._markers_pub = node.create_publisher(MarkerArray, MARKERS_TOPIC, report_qos(10))
        self._debug_pub = node.create_publisher(Image, DEBUG_IMAGE_TOPIC, report_qos(2))
        node.create_subscription(String, TASK_TOPIC, self._on_task, task_qos(), raw=True)
        self._rejected: collections.Counter = collections.Counter()
        self._rejected_lock = threading.Lock()
        node.create_timer(REJECTION_LOG_PERIOD_S, self._log_rejections)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="agent_worker", daemon=True)
        self._worker.start()

    def _on_cancel(self, request, response):
        """Cancel the running task: stop the arm now, end the episode at its next step."""
        running = self._running
        if self.gate is not None:
            self.gate.cancel()
        if running is None:
            response.success, response.message = False, "no task is running"
            return response
        self._cancel.set()
        response.success, response.message = True, f"cancelling {running}"
        return response

    def _on_enable(self, request, response):
        """Enable or disable arm motions (std_srvs/SetBool semantics)."""
        if self.gate is None:
            response.success, response.message = False, "this agent has no arm (robot.backend is none)"
            return response
        response.success, response.message = self.gate.set_enabled(bool(request.data))
        return response

    def _publish(self, publisher, payload: dict[str, Any]) -> None:
        from std_msgs.msg import String

        publisher.publish(String(data=json.dumps(payload)))

    def _finish(self, task_id: str, task: str | None, state: str, answer=None, error=None, episode=None,
                timings: dict | None = None, log: bool = True) -> None:
        result = {"task_id": task_id, "task": task, "state": state, "answer": answer, "error": error,
                  "tool_calls": [], "timings": timings or {}}
        if episode is not None:
            summary = episode.summary()
            result.update(answer=summary["answer"], error=summary["error"], tool_calls=summary["tool_calls"],
                          turns=summary["turns"], timings={**summary["timings"], **(timings or {})})
        self._publish(self._status_pub, {"task_id": task_id, "state": state, "task": task, "error": result["error"]})
        self._publish(self._result_pub, result)
        if not log:
            return
        line = f"{task_id} {state}: {result['answer'] or result['error']}"
        # rclpy refuses a second severity from one call site, so each severity gets its own line
        if state == "succeeded":
            self.node.get_logger().info(line)
        else:
            self.node.get_logger().warning(line)

    def _on_task(self, raw: bytes) -> None:
        task_id = f"task-{next(self._ids)}"
        text, reason = validate_task_bytes(raw, self.params["max_task_bytes"])
        if reason:
            self._reject(task_id, text, reason)
            return
        try:
            self._queue.put_nowait((task_id, text, time.monotonic()))
        except queue.Full:
            self._reject(task_id, text, f"queue full ({self.params['queue_size']} tasks waiting)")
            return
        self._publish(self._status_pub, {"task_id": task_id, "state": "queued", "task": text,
                                         "queue_length": self._queue.qsize()})

    def _reject(self, task_id: str, task: str | None, reason: str) -> None:
        """A task refused at intake: its status and result say why; the log gets a periodic summary instead of a
        line per message (a flood of garbage must not cost a log line each)."""
        self._finish(task_id, task, "failed", error=reason, log=False)
        with self._rejected_lock:
            self._rejected[reason.split(" (")[0]] += 1

    def _log_rejections(self) -> None:
        """Log how many tasks were refused at intake since the last call, by reason."""
        with self._rejected_lock:
            counts, self._rejected = self._rejected, collections.Counter()
        if counts:
            summary = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
            self.node.get_logger().warning(f"refused {sum(counts.values())} task message(s): {summary}")

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                task_id, text, received = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._run(task_id, text, received)
            except Exception as exc:  # never let one task kill the worker
                self._finish(task_id, text, "failed", error=f"internal error: {type(exc).__name__}: {exc}")

    def _run(self, task_id: str, text: str, received: float) -> None:
        self._publish(self._status_pub, {"task_id": task_id, "state": "running", "task": text})
        frame = self.source.latest(timeout=self.params["frame_timeout_s"])
        waited = time.monotonic() - received
        if frame is None:
            self._finish(task_id, text, "failed",
                         error=f"no frame within {self.params['frame_timeout_s']} s on {self.source.topics.color}",
                         timings={"queue_and_frame_wait_s": round(waited, 4)})
            return
        self._cancel.clear()
        self._running = task_id
        planned_before = len(getattr(getattr(self.agent.manipulator, "backend", None), "planned", None) or [])
        try:
            episode = self.agent.run(text, frame, cancel=self._cancel)
        finally:
            self._running = None
        self._finish(task_id, text, episode.state, episode=episode,
                     timings={"queue_and_frame_wait_s": round(waited, 4)})
        self._visualise(task_id, episode, planned_before)

    def _visualise(self, task_id: str, episode, planned_before: int) -> None:
        """Publish the episode's trace, markers and debug image (a failure here never fails the task)."""
        from spacetools_ros.agent.trace import episode_message
        from spacetools_ros.agent.visuals import collect_visuals, draw_debug_image
        from spacetools_ros.ros.conversions import rgb_to_image_msg
        from spacetools_ros.ros.markers import visuals_to_markers

        try:
            self._publish(self._trace_pub, episode_message(episode, task_id))
            if not episode.tool_calls:  # nothing was looked at or planned: nothing to draw
                return
            visuals = collect_visuals(self.agent, episode, planned_before)
            self._markers_pub.publish(visuals_to_markers(visuals, self.node.get_clock().now().to_msg()))
            image = draw_debug_image(visuals)
            if image is not None:
                self._debug_pub.publish(rgb_to_image_msg(image, visuals.frame.stamp, visuals.frame.frame_id))
        except Exception as exc:  # visualisation is best effort
            self.node.get_logger().error(f"{task_id}: could not publish the visualisation: {exc!r}")

    def shutdown(self) -> None:
        """Stop the worker thread."""
        self._stop.set()
        self._worker.join(timeout=2.0)


def main(argv: list[str] | None = None) -> int:
    """Run the node until shutdown."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from spacetools_ros.agent.factory import build_agent
    from spacetools_ros.ros.topic_source import TopicSource

    rclpy.init(args=argv if argv is not None else sys.argv)
    node = rclpy.create_node("spacetools_agent")
    try:
        params = declare_parameters(node, PARAMETERS)
        overrides = [item.strip() for item in params["overrides"].split(";") if item.strip()]
        config = load_config(params["config"] or None, overrides=overrides)
        pose = params["T_base_camera"] if len(params["T_base_camera"]) == 16 else config.camera.T_base_camera
        if pose is not None and len(pose) != 16:
            raise ParameterError("parameter 'T_base_camera' needs 16 numbers")
        T = np.asarray(pose, dtype=np.float64).reshape(4, 4) if pose is not None else None
        source = TopicSource(node, config.camera.topics(), config.camera.sync_slop_s, T, config.camera.base_frame_id)
        # loads configured models now: a bad path fails at start-up
        agent = build_agent(config, camera=source, node=node)
    except (ParameterError, ConfigError, ModelConfigError) as exc:
        return stop_node(node, str(exc), 2)
    source.open()
    gate = agent.manipulator.backend.gate if agent.manipulator is not None else None
    agent_node = AgentNode(node, agent, source, params, gate)
    node.get_logger().info(f"ready: planner {config.planner}, tasks on {TASK_TOPIC}")
    # two threads: task callbacks stay responsive while camera callbacks feed the running task
    return spin_until_shutdown(node, MultiThreadedExecutor(num_threads=2), on_shutdown=agent_node.shutdown)


if __name__ == "__main__":
    sys.exit(main())
