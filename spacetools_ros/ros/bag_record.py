"""`spacetools record`: write ROS topics into a rosbag2 (mcap or sqlite3) without `ros2 bag`.

The recorder subscribes with generic raw subscriptions (the serialized CDR bytes as they arrive) and hands the bytes
to `rosbags`' rosbag2 Writer (format version 9, what the `ros2 bag` tools of Jazzy write and read). Messages are
queued by the ROS callbacks and written on a thread of their own; the bag is closed cleanly on SIGINT / SIGTERM or
after ``duration`` seconds, and later signals are ignored until it is closed, so a Ctrl-C never leaves a broken bag.

As ``ros2 bag record`` does, a topic is subscribed once a publisher of it shows up on the graph (checked every
0.5 s), with its type from the graph (the default topics' types are known beforehand) and a QoS that matches the
publishers' offered profiles: reliable publishers are recorded reliably, so no image is lost to a busy machine. A
topic enters the bag with its first message (a topic nobody published, e.g. /clock without a simulator, is absent).
Each message is stamped with its receive time (wall clock, ns), as ``ros2 bag record`` does.
"""

from __future__ import annotations

import importlib
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacetools_ros.sources.topics import CameraTopics

TASK_TOPICS = ("/spacetools/task", "/spacetools/status", "/spacetools/result")  # agent_node's task API


class RecordError(RuntimeError):
    """The bag cannot be written (its path exists, an unknown storage)."""


def default_topic_types() -> dict[str, str]:
    """The topics recorded by default and their types: the realsense2_camera topics (colour, aligned depth, both
    camera_info), /joint_states, agent_node's task, status and result topics, and /clock."""
    camera = CameraTopics()
    types = {camera.color: "sensor_msgs/msg/Image", camera.depth: "sensor_msgs/msg/Image",
             camera.color_info: "sensor_msgs/msg/CameraInfo", camera.depth_info: "sensor_msgs/msg/CameraInfo",
             "/joint_states": "sensor_msgs/msg/JointState", "/clock": "rosgraph_msgs/msg/Clock"}
    types.update({topic: "std_msgs/msg/String" for topic in TASK_TOPICS})
    return types


def message_class(msgtype: str) -> Any:
    """The rclpy message class of a 'pkg/msg/Name' type; ImportError/AttributeError when it is not installed."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def is_sensor_type(msgtype: str) -> bool:
    """Whether a topic of this type is sensor data (sensor_msgs/*: images, camera_info, joint states, clouds)."""
    return msgtype.startswith("sensor_msgs/")


def to_rosbags_qos(profile: Any) -> Any:
    """rosbags' Qos record of an rclpy QoSProfile (the enums share the rmw numbering)."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    def span(duration: Any) -> QosTime:
        ns = int(duration.nanoseconds)
        return QosTime(ns // 1_000_000_000, ns % 1_000_000_000)

    return Qos(QosHistory(int(profile.history)), int(profile.depth), QosReliability(int(profile.reliability)),
               QosDurability(int(profile.durability)), span(profile.deadline), span(profile.lifespan),
               QosLiveliness(int(profile.liveliness)), span(profile.liveliness_lease_duration),
               bool(profile.avoid_ros_namespace_conventions))


def subscription_qos(node: Any, topic: str, msgtype: str) -> tuple[Any, list[Any]]:
    """(QoS to subscribe with, the publishers' offered profiles as rosbags Qos).

    Reliable when every publisher is reliable (sensor data without known publishers: best-effort, which matches
    any publisher), best-effort when one of them is; transient-local when every publisher is (latched topics).
    """
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    infos = node.get_publishers_info_by_topic(topic)
    offered = [info.qos_profile for info in infos]
    best_effort = (any(p.reliability == ReliabilityPolicy.BEST_EFFORT for p in offered)
                   or (not offered and is_sensor_type(msgtype)))
    latched = bool(offered) and all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in offered)
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10 if best_effort else 100,
                     reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
    return qos, [to_rosbags_qos(p) for p in offered]


@dataclass
class _Topic:
    msgtype: str
    offered: list[Any] = field(default_factory=list)
    count: int = 0


class BagRecorder:
    """Subscribes to topics on a node and writes what arrives into a new rosbag2 at ``out``.

    The bag is opened, written and closed on one writer thread (sqlite3 objects belong to the thread that made
    them); the ROS callbacks only queue the bytes. Call :meth:`poll_graph` now and then (the CLI does every 0.5 s)
    to subscribe to topics whose publishers show up later; :meth:`close` unsubscribes, writes what is queued and
    closes the bag. A write that fails stops the recording (:attr:`error`); the bag is still closed.
    """

    def __init__(self, node: Any, out: str | Path, topics: Sequence[str] | None = None, storage: str = "mcap",
                 log: Callable[[str], None] = print) -> None:
        """Open the bag (``out`` must not exist) and subscribe to the topics that have publishers already."""
        from rosbags.typesys import Stores, get_typestore

        if storage not in ("mcap", "sqlite3"):
            raise RecordError(f"storage must be 'mcap' or 'sqlite3', not {storage!r}")
        if Path(out).exists():
            raise RecordError(f"{out} exists already; a recording goes to a new folder")
        self.node = node
        self.out = Path(out)
        self.storage = storage
        self.log = log
        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        known = default_topic_types()
        self.wanted = list(dict.fromkeys(topics)) if topics else list(known)
        self._known = known
        self._topics: dict[str, _Topic] = {}
        self._subscriptions: list[Any] = []
        self._skipped: set[str] = set()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._write_loop, name="bag_writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self.error is not None:
            self._thread.join()
            raise RecordError(f"cannot write {out}: {self.error}") from self.error
        try:
            self.poll_graph()
        except BaseException:
            self.close()
            raise

    @property
    def pending(self) -> list[str]:
        """Wanted topics not subscribed yet (nothing publishes them yet)."""
        return [t for t in self.wanted if t not in self._topics and t not in self._skipped]

    def poll_graph(self) -> None:
        """Subscribe to wanted topics that now have a publisher (type from the graph, else the known type)."""
        if self._closed or not self.pending:
            return
        graph = dict(self.node.get_topic_names_and_types())
        for topic in self.pending:
            if self.node.count_publishers(topic) == 0:
                continue
            types = graph.get(topic) or ([self._known[topic]] if topic in self._known else [])
            if not types:
                continue
            msgtype = types[0]
            if msgtype not in self.typestore.fielddefs:
                self.log(f"skipping {topic}: type {msgtype} is not in the rosbags ROS 2 Jazzy typestore")
                self._skipped.add(topic)
                continue
            try:
                kind = message_class(msgtype)
            except (ImportError, AttributeError, ValueError):
                self.log(f"skipping {topic}: message type {msgtype} is not installed")
                self._skipped.add(topic)
                continue
            qos, offered = subscription_qos(self.node, topic, msgtype)
            self._topics[topic] = _Topic(msgtype, offered)
            self._subscriptions.append(
                self.node.create_subscription(kind, topic, self._callback(topic), qos, raw=True))

    def _callback(self, topic: str) -> Callable[[bytes], None]:
        def on_message(raw: bytes) -> None:
            if self.error is None:
                self._queue.put((topic, time.time_ns(), raw))
        return on_message

    def _write_loop(self) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        try:
            writer = Writer(self.out, version=Writer.VERSION_LATEST, storage_plugin=plugin)
            writer.open()
        except Exception as exc:  # an unwritable path, a folder that appeared meanwhile
            self.error = exc
            return
        finally:
            self._ready.set()
        connections: dict[str, Any] = {}
        try:
            while (item := self._queue.get()) is not None:
                if self.error is not None:
                    continue  # drain: the callbacks may have queued more before they saw the error
                topic, stamp, raw = item
                entry = self._topics[topic]
                try:
                    if topic not in connections:  # a topic enters the bag with its first message
                        connections[topic] = writer.add_connection(topic, entry.msgtype, typestore=self.typestore,
                                                                   offered_qos_profiles=entry.offered)
                    writer.write(connections[topic], stamp, raw)
                    entry.count += 1
                except Exception as exc:  # e.g. the disk is full: stop recording, keep what was written
                    self.error = exc
                    self.log(f"writing {self.out} failed ({type(exc).__name__}: {exc}); stopping")
        finally:
            writer.close()

    def counts(self) -> dict[str, int]:
        """Messages written per subscribed topic so far (in the order the topics were asked for)."""
        return {topic: self._topics[topic].count for topic in self.wanted if topic in self._topics}

    def close(self) -> dict[str, int]:
        """Unsubscribe, write every queued message, close the bag; returns the per-topic counts."""
        if not self._closed:
            self._closed = True
            for subscription in self._subscriptions:
                self.node.destroy_subscription(subscription)
            self._subscriptions = []
            self._queue.put(None)
            self._thread.join()
        return self.counts()


class StopSignals:
    """SIGINT / SIGTERM set an event instead of raising; while the bag closes further signals are ignored."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, lambda *_: self.stop.set())
        return self

    def ignore(self) -> None:
        """Ignore further signals (while the bag closes)."""
        for sig in self._previous:
            signal.signal(sig, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def format_counts(counts: dict[str, int]) -> str:
    """One line per topic: count and name, aligned."""
    width = max((len(str(n)) for n in counts.values()), default=1)
    return "\n".join(f"{n:>{width}}  {topic}" for topic, n in counts.items()) or "(no messages)"


def run_record(out: str | Path, topics: Sequence[str] | None = None, storage: str = "mcap",
               duration: float | None = None, domain_id: int | None = None,
               stop: threading.Event | None = None) -> dict[str, int]:
    """Record until SIGINT / SIGTERM, ``stop`` being set or ``duration`` seconds; print and return the
    message count per topic (RecordError when the bag cannot be created or a write failed; it is closed anyway)."""
    stop = stop or threading.Event()
    with StopSignals(stop) as signals:  # installed before the bag exists: a signal never meets a half-open bag
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        context = rclpy.Context()
        rclpy.init(context=context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
        node = rclpy.create_node("spacetools_record", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        recorder = None
        try:
            recorder = BagRecorder(node, out, topics, storage, log=lambda line: print(line, file=sys.stderr))
            node.create_timer(0.5, recorder.poll_graph)
            started = time.monotonic()
            print(f"recording {len(recorder.wanted)} topic(s) to {recorder.out} ({storage}); Ctrl-C stops",
                  file=sys.stderr, flush=True)
            while not stop.is_set() and recorder.error is None and (
                    duration is None or time.monotonic() - started < duration):
                executor.spin_once(timeout_sec=0.1)
        finally:
            signals.ignore()
            counts = recorder.close() if recorder is not None else {}
            executor.shutdown()
            node.destroy_node()
            context.try_shutdown()
    missing = [t for t in (recorder.wanted if recorder else []) if t not in counts or not counts[t]]
    print(f"wrote {out}: {sum(counts.values())} message(s)\n" + format_counts({t: n for t, n in counts.items() if n}))
    if missing:
        print("no messages on: " + ", ".join(missing))
    if recorder is not None and recorder.error is not None:
        raise RecordError(f"recording stopped early: {recorder.error}")
    return counts
