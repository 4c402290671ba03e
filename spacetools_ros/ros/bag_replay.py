"""`spacetools replay`: publish a rosbag2's messages into the ROS graph with their recorded timing.

The bag is opened with the same `rosbags` reader as :class:`~spacetools_ros.sources.bag.BagSource`
(:func:`~spacetools_ros.sources.bag.open_bag_reader`) and every message is published as the serialized bytes it was
recorded as (``publisher.publish(bytes)``), at its recorded time offset divided by ``rate``. Header stamps are left
as recorded (as ``ros2 bag play`` does).

A window of the bag can be chosen (``start_offset`` and ``duration``, seconds from the bag's first message): with
``loop`` it is published again and again, one pass every window length / rate, so a window holding one camera frame
turns the bag into a camera that keeps showing that frame. ``clock_hz`` publishes /clock (bag time) for nodes with
use_sim_time; the bag's own /clock is then not replayed.

QoS: sensor_msgs topics (images, camera_info, joint states) and /clock are published with sensor-data QoS
(best-effort, keep-last), the others reliable (transient-local when they were recorded so); ``reliable`` publishes
everything reliable, for subscribers that ask for reliable delivery.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacetools_ros.ros.bag_record import StopSignals, format_counts, is_sensor_type, message_class
from spacetools_ros.sources.bag import open_bag_reader

CLOCK_TOPIC = "/clock"
ACK_WAIT_S = 2.0  # at the end, how long reliable subscribers get to acknowledge the last messages
MIN_LOOP_PERIOD_S = 0.1  # a looped window whose messages share one instant is published at most 10 times a second


class ReplayError(RuntimeError):
    """The replay cannot start (bad arguments, topics the bag does not have, an empty window)."""


@dataclass
class ReplayStats:
    """What a replay published and how closely it kept the recorded timing."""

    counts: Counter = field(default_factory=Counter)  # messages published per topic
    passes: int = 0  # passes started over the window (more than one with loop)
    bag_s: float = 0.0  # bag time covered up to the last message published
    wall_s: float = 0.0  # wall time from the start of the first pass to the last message published
    max_lag_s: float = 0.0  # the latest any message went out after its due time
    rate: float = 1.0  # the rate asked for

    @property
    def achieved_rate(self) -> float:
        """Bag seconds replayed per wall-clock second (the rate asked for, when publishing keeps up)."""
        return self.bag_s / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        """A few lines for the terminal: totals, timing, then the count per topic."""
        total = sum(self.counts.values())
        return (f"replayed {total} message(s) in {self.passes} pass(es): {self.bag_s:.2f} s of bag time in "
                f"{self.wall_s:.2f} s (rate {self.achieved_rate:.2f}x, asked {self.rate:g}x; latest message "
                f"{1000 * self.max_lag_s:.1f} ms behind)\n" + format_counts(dict(self.counts)))


def publisher_qos(msgtype: str, offered: Sequence[Any] = (), reliable: bool = False) -> Any:
    """The QoS a replayed topic is published with (see the module docstring)."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rosbags.interfaces import QosDurability

    if (is_sensor_type(msgtype) or msgtype == "rosgraph_msgs/msg/Clock") and not reliable:
        depth = 1 if msgtype == "rosgraph_msgs/msg/Clock" else 5
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                          durability=DurabilityPolicy.VOLATILE)
    latched = bool(offered) and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in offered)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


def select_connections(reader: Any, topics: Sequence[str] | None, skip: Sequence[str] = ()) -> list[Any]:
    """The bag's connections on ``topics`` (all when None), less ``skip``; ReplayError names topics it lacks."""
    present = {c.topic for c in reader.connections}
    if topics:
        missing = [t for t in topics if t not in present]
        if missing:
            raise ReplayError(f"the bag has no topic(s) {missing}; it has {sorted(present)}")
    wanted = set(topics) if topics else present
    return [c for c in reader.connections if c.topic in wanted and c.topic not in skip]


def replay_window(reader: Any, start_offset: float = 0.0, duration: float | None = None) -> tuple[int, int]:
    """[start, stop) in bag nanoseconds: from ``start_offset`` s after the first message, ``duration`` s long
    (to the end of the bag when None)."""
    if start_offset < 0:
        raise ReplayError("--start-offset must not be negative")
    if duration is not None and duration <= 0:
        raise ReplayError("--duration must be positive")
    start = reader.start_time + int(round(start_offset * 1e9))
    stop = reader.end_time if duration is None else min(reader.end_time, start + int(round(duration * 1e9)))
    if stop <= start:
        raise ReplayError(f"--start-offset {start_offset} s is past the end of the bag "
                          f"({(reader.end_time - reader.start_time) / 1e9:.3f} s long)")
    return start, stop


class _Clock:
    """Publishes /clock at ``hz`` with the bag time that corresponds to the wall clock."""

    def __init__(self, node: Any, hz: float | None, reliable: bool) -> None:
        self.period = 1.0 / hz if hz else None
        self.next_due = 0.0
        self.publisher = None
        if self.period:
            from rosgraph_msgs.msg import Clock

            self.publisher = node.create_publisher(Clock, CLOCK_TOPIC,
                                                   publisher_qos("rosgraph_msgs/msg/Clock", reliable=reliable))

    def tick(self, now: float, bag_ns: int) -> float:
        """Publish when due; returns the wall time the next one is due (inf without a clock)."""
        if self.publisher is None:
            return float("inf")
        if now >= self.next_due:
            from builtin_interfaces.msg import Time
            from rosgraph_msgs.msg import Clock

            self.publisher.publish(Clock(clock=Time(sec=bag_ns // 1_000_000_000, nanosec=bag_ns % 1_000_000_000)))
            self.next_due = now + self.period
        return self.next_due


def run_replay(bag: str | Path, rate: float = 1.0, loop: bool = False, topics: Sequence[str] | None = None,
               start_offset: float = 0.0, duration: float | None = None, clock_hz: float | None = None,
               reliable: bool = False, delay: float = 0.0, domain_id: int | None = None,
               stop: threading.Event | None = None) -> ReplayStats:
    """Publish the bag (or its window) once, or again and again with ``loop``, until SIGINT / SIGTERM or ``stop``;
    print and return the statistics."""
    if rate <= 0:
        raise ReplayError("--rate must be positive")
    if clock_hz is not None and clock_hz <= 0:
        raise ReplayError("--clock must be a positive frequency")
    stop = stop or threading.Event()
    reader = open_bag_reader(bag)
    try:
        if not reader.message_count:
            raise ReplayError(f"{bag} holds no messages")
        connections = select_connections(reader, topics, skip=[CLOCK_TOPIC] if clock_hz else [])
        start_ns, stop_ns = replay_window(reader, start_offset, duration)
        with StopSignals(stop):
            return _publish(reader, connections, start_ns, stop_ns, rate, loop, clock_hz, reliable, delay, domain_id,
                            stop)
    finally:
        reader.close()


def _publish(reader: Any, connections: list[Any], start_ns: int, stop_ns: int, rate: float, loop: bool,
             clock_hz: float | None, reliable: bool, delay: float, domain_id: int | None,
             stop: threading.Event) -> ReplayStats:
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    log = sys.stderr
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("spacetools_replay", context=context)
    stats = ReplayStats(rate=rate)
    publishers: dict[str, Any] = {}
    try:
        for c in connections:
            if c.topic in publishers:
                continue
            try:
                kind = message_class(c.msgtype)
            except (ImportError, AttributeError, ValueError):
                print(f"skipping {c.topic}: message type {c.msgtype} is not installed", file=log)
                continue
            offered = getattr(c.ext, "offered_qos_profiles", ())
            publishers[c.topic] = node.create_publisher(kind, c.topic, publisher_qos(c.msgtype, offered, reliable))
        connections = [c for c in connections if c.topic in publishers]
        if not connections:
            raise ReplayError("nothing to replay: no topic of the bag has an installed message type")
        clock = _Clock(node, clock_hz, reliable)
        pass_s = (stop_ns - start_ns) / 1e9 / rate
        if loop:
            pass_s = max(pass_s, MIN_LOOP_PERIOD_S)
        print(f"replaying {len(publishers)} topic(s), {(stop_ns - start_ns) / 1e9:.3f} s of the bag from "
              f"{(start_ns - reader.start_time) / 1e9:.3f} s, at {rate:g}x" + (", looped" if loop else "")
              + "; Ctrl-C stops", file=log, flush=True)
        first = time.monotonic() + max(delay, 0.0)
        _wait(first, stop, clock, lambda now: start_ns)
        bag_done = 0.0  # bag seconds of the passes already finished
        while not stop.is_set():
            pass_start = first + stats.passes * pass_s
            stats.passes += 1

            def bag_time(now: float, pass_start: float = pass_start) -> int:
                return start_ns + int((now - pass_start) * rate * 1e9)

            for connection, stamp, raw in reader.messages(connections=connections, start=start_ns, stop=stop_ns):
                due = pass_start + (stamp - start_ns) / 1e9 / rate
                if not _wait(due, stop, clock, bag_time):
                    break
                publishers[connection.topic].publish(raw if isinstance(raw, bytes) else bytes(raw))
                now = time.monotonic()
                stats.counts[connection.topic] += 1
                stats.max_lag_s = max(stats.max_lag_s, now - due)
                stats.bag_s = bag_done + (stamp - start_ns) / 1e9
                stats.wall_s = now - first
            if not loop or stop.is_set():
                break
            bag_done += pass_s * rate
            _wait(pass_start + pass_s, stop, clock, bag_time)
    finally:
        _flush(publishers)
        node.destroy_node()
        context.try_shutdown()
    print(stats.summary())
    return stats


def _flush(publishers: dict[str, Any], timeout_s: float = ACK_WAIT_S) -> None:
    """Give reliable subscribers the time to acknowledge the last messages before the publishers go (a
    reliable message still in flight when its publisher is destroyed is lost)."""
    from rclpy.duration import Duration

    for publisher in publishers.values():
        try:
            publisher.wait_for_all_acked(Duration(seconds=timeout_s))
        except Exception:  # best effort: an unacknowledged reader must not stop the shutdown
            pass


def _wait(until: float, stop: threading.Event, clock: _Clock, bag_time) -> bool:
    """Sleep until the wall time ``until`` (monotonic), publishing /clock meanwhile; False when stopped."""
    while not stop.is_set():
        now = time.monotonic()
        next_clock = clock.tick(now, bag_time(now))
        if now >= until:
            return True
        stop.wait(min(until, next_clock) - now)
    return False
