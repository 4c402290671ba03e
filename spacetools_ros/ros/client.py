"""SpaceToolsClient: a small facade over the task API (send a task, wait for its result)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from spacetools_ros.ros.agent_node import CANCEL_SERVICE, ENABLE_SERVICE, RESULT_TOPIC, STATUS_TOPIC, TASK_TOPIC
from spacetools_ros.ros.qos import report_qos, task_qos


class SpaceToolsClient:
    """Publishes tasks and collects status and result messages; spins its own node in a thread."""

    def __init__(self, node_name: str = "spacetools_client", domain_id: int | None = None) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String

        # a context of our own: several clients (e.g. tests on different ROS domains) can live in one process
        self._context = rclpy.Context()
        rclpy.init(context=self._context, domain_id=domain_id)
        self.node = rclpy.create_node(node_name, context=self._context)
        self._task_pub = self.node.create_publisher(String, TASK_TOPIC, task_qos())
        self._cond = threading.Condition()
        self.statuses: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.node.create_subscription(String, STATUS_TOPIC, self._collect(self.statuses), report_qos())
        self.node.create_subscription(String, RESULT_TOPIC, self._collect(self.results), report_qos())
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    def _collect(self, into: list):
        def callback(msg) -> None:
            with self._cond:
                into.append(json.loads(msg.data))
                self._cond.notify_all()
        return callback

    def wait_for_server(self, timeout: float = 30.0) -> bool:
        """True once agent_node subscribes to the task topic and publishes results."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self._task_pub.get_subscription_count() > 0
                    and self.node.count_publishers(RESULT_TOPIC) > 0):
                return True
            time.sleep(0.05)
        return False

    def send_task(self, text: str) -> None:
        """Publish a natural-language task."""
        from std_msgs.msg import String

        self._task_pub.publish(String(data=text))

    def send_raw(self, payload: bytes) -> None:
        """Publish an already serialized std_msgs/String (for robustness tests)."""
        self._task_pub.publish(payload)

    def wait_for_results(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Block until `count` results have arrived (or timeout); returns all results so far."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.results) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.results)

    def wait_for_status(self, task_id: str, state: str, timeout: float = 10.0) -> list[str]:
        """Block until task_id reports state (or timeout); returns the states it reported, in order."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                states = [s["state"] for s in self.statuses if s.get("task_id") == task_id]
                remaining = deadline - time.monotonic()
                if state in states or remaining <= 0:
                    return states
                self._cond.wait(remaining)

    def ask(self, text: str, timeout: float = 60.0) -> dict[str, Any] | None:
        """Send a task and return its result, or None on timeout."""
        before = len(self.results)
        self.send_task(text)
        results = self.wait_for_results(before + 1, timeout)
        return results[before] if len(results) > before else None

    def run_task(self, text: str, on_status: Callable[[dict[str, Any]], None] | None = None,
                 timeout: float = 120.0) -> dict[str, Any] | None:
        """Send a task, hand each of its status messages to ``on_status`` as it arrives (queued, running, then
        succeeded / failed / cancelled), and return its result (None on timeout).

        The task is recognised by its text in the first status agent_node publishes for it (several identical
        texts sent at once by different clients are told apart only in order of arrival). A task refused before
        it is read as text (empty, too long, not UTF-8) carries no text: wait for it with wait_for_results.
        """
        with self._cond:
            seen_statuses, seen_results = len(self.statuses), len(self.results)
        self.send_task(text)
        deadline = time.monotonic() + timeout
        task_id: str | None = None
        reported = 0
        with self._cond:
            while True:
                mine = [s for s in self.statuses[seen_statuses:]
                        if (task_id is None and s.get("task") == text.strip())
                        or (task_id and s.get("task_id") == task_id)]
                if task_id is None and mine:
                    task_id = mine[0]["task_id"]
                for status in mine[reported:]:
                    if on_status is not None:
                        on_status(status)
                reported = len(mine)
                done = [r for r in self.results[seen_results:] if task_id and r.get("task_id") == task_id]
                if done:
                    return done[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.5))

    def call_service(self, kind, name: str, request, timeout: float = 10.0) -> tuple[bool, str]:
        """Call a service whose response has ``success`` and ``message`` (std_srvs Trigger / SetBool):
        (success, message), or (False, why) when it is not available or does not answer within timeout."""
        client = self.node.create_client(kind, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                return False, f"service {name} is not available"
            future = client.call_async(request)
            deadline = time.monotonic() + timeout
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not future.done():
                return False, f"service {name} did not answer within {timeout} s"
            return future.result().success, future.result().message
        finally:
            self.node.destroy_client(client)

    def cancel(self, timeout: float = 10.0) -> tuple[bool, str]:
        """Cancel the running task (std_srvs/Trigger on /spacetools/cancel): (success, message)."""
        from std_srvs.srv import Trigger

        return self.call_service(Trigger, CANCEL_SERVICE, Trigger.Request(), timeout)

    def enable_execution(self, enable: bool, timeout: float = 10.0) -> tuple[bool, str]:
        """Enable or disable arm motions (std_srvs/SetBool on /spacetools/enable_execution)."""
        from std_srvs.srv import SetBool

        return self.call_service(SetBool, ENABLE_SERVICE, SetBool.Request(data=enable), timeout)

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        self._executor.shutdown()
        self.node.destroy_node()
        self._context.try_shutdown()


class JointStateWatch:
    """Collects /joint_states on a client's node: (arrival time, arm positions, max |arm velocity|) per message,
    to see whether and when the arm moves (e.g. after a cancel)."""

    def __init__(self, client: SpaceToolsClient, topic: str = "/joint_states", arm_joints: int = 7) -> None:
        """Subscribe on the client's (already spinning) node; the first ``arm_joints`` entries are the arm's."""
        from sensor_msgs.msg import JointState

        self.samples: list[tuple[float, Any, float]] = []
        self._lock = threading.Lock()
        self._n = arm_joints
        client.node.create_subscription(JointState, topic, self._on_state, 10)

    def _on_state(self, msg) -> None:
        import numpy as np

        speed = float(np.max(np.abs(msg.velocity[:self._n]))) if len(msg.velocity) >= self._n else 0.0
        with self._lock:
            self.samples.append((time.monotonic(), np.array(msg.position[:self._n]), speed))

    def since(self, t: float) -> list[tuple[float, Any, float]]:
        """The samples that arrived at or after monotonic time t."""
        with self._lock:
            return [s for s in self.samples if s[0] >= t]

    def wait_moving(self, timeout: float, speed: float = 0.1) -> float | None:
        """The arrival time of the first sample faster than ``speed`` rad/s from now on (None after timeout)."""
        start = time.monotonic()
        while time.monotonic() < start + timeout:
            fast = [s for s in self.since(start) if s[2] > speed]
            if fast:
                return fast[0][0]
            time.sleep(0.005)
        return None

    def wait_stopped(self, since: float, timeout: float, speed: float = 0.05) -> float | None:
        """The arrival time of the first sample after ``since`` slower than ``speed`` (None after timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            slow = [s for s in self.since(since) if s[2] < speed]
            if slow:
                return slow[0][0]
            time.sleep(0.01)
        return None
