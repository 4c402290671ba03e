"""Throughput of `spacetools replay` (spacetools_ros.ros.bag_replay.run_replay) into a subscriber, beside reading
the same bag with rosbags without publishing.

The source bag: ../shared/data/bags/ucn_rgbd_mcap when it is there (9 RGB-D frames of 640x480: colour, aligned
depth and both camera_info, 36 messages, about 14 MB), else a bag of the same layout written with rosbags from the
generated tabletop (generate_tabletop seed 0, 9 frames), so that it runs where ../shared/data is absent. Its messages
are copied ``copies`` times, one copy after the other, into a bag in a temporary folder (removed after), so that
one replay lasts long enough to time and one ROS participant (one discovery) serves all of it.

Measured, on a private ROS_DOMAIN_ID with discovery kept on this machine (demo.ros_env):

    replay      run_replay, in a process of its own per run, publishes the whole bag at a rate far above what any
                machine reaches (REPLAY_RATE: every message is due at once, so it publishes as fast as it can),
                reliable QoS (--reliable), into a subscriber in another process (raw subscriptions: nothing is
                deserialised) that notes the arrival time and size of every message. Each run waits
                ``discovery_s`` for the subscriber to be matched before its first message: 3.5 s, past the 3 s
                period of Fast DDS's participant announcements, as with localhost discovery on a busy machine about
                half of the new participants were not matched within 1.5 s (all were within 3.5 s). Per run, two
                pairs of figures:
                published: messages (MB) published / the replay's own wall time from its first to its last
                publish (ReplayStats.wall_s); delivered: (received - 1) messages (the bytes after the first
                message) / (last arrival - first arrival), which includes the DDS's repair of lost fragments
                (reliable QoS: a late fragment waits for the writer's next heartbeat). MB = 10^6 bytes; medians
                over the runs.
    baseline    the same bag read with rosbags (open_bag_reader(...).messages(), the raw bytes of every message, as
                run_replay reads them) and nothing published: the rate at which replay gets its input, an upper
                bound on what it can publish. Medians over ``read_repeats`` reads after one warm-up read.

A run in which the subscriber was not matched in time (it got fewer than half the messages: discovery on a busy
machine can take longer than ``discovery_s``) is reported but not counted, and another run is made (at most
MAX_EXTRA_RUNS more). The ratios are replay / read (below 1: publishing costs more than reading). Nothing is asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import spacetools_ros

REPLAY_RATE = 1e5
"""The --rate of the replay: the bag's seconds pass 10^5 times faster, i.e. every message is due at once."""
QUICK = {"runs": 1, "copies": 2, "read_repeats": 3}
"""Settings of a quick run (CI)."""
READY_TIMEOUT_S = 60.0
"""How long the subscriber process gets to start (import rclpy, create its subscriptions)."""
MAX_EXTRA_RUNS = 3
"""Runs made at most in place of runs the subscriber was not matched in time for."""
MAX_COPIES = 10
"""At most this many copies: the replay's reliable publishers keep the last 100 messages of a topic."""


def shared_bag() -> Path:
    """../shared/data/bags/ucn_rgbd_mcap beside the repository (users' clones may lack it)."""
    return Path(spacetools_ros.__file__).resolve().parents[1].parent / "shared" / "data" / "bags" / "ucn_rgbd_mcap"


def write_synthetic_bag(path: str | Path, frames: int = 9, seed: int = 0) -> Path:
    """Write a rosbag2 (mcap) at ``path`` with ``frames`` copies of the generated tabletop of ``seed``, one per
    second, on the realsense2_camera topics (colour, aligned depth, both camera_info), as ucn_rgbd_mcap is laid out.
    Returns the path."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from spacetools_ros.ros.conversions import depth_to_image_msg, intrinsics_to_camera_info, rgb_to_image_msg
    from spacetools_ros.sources.synthetic import generate_tabletop
    from spacetools_ros.sources.topics import CameraTopics

    frame = generate_tabletop(seed=seed).frame
    topics = CameraTopics()
    typestore = get_typestore(Stores.ROS2_JAZZY)
    with Writer(Path(path), version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        image, info = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"
        conns = [writer.add_connection(topics.color, image, typestore=typestore),
                 writer.add_connection(topics.depth, image, typestore=typestore),
                 writer.add_connection(topics.color_info, info, typestore=typestore),
                 writer.add_connection(topics.depth_info, info, typestore=typestore)]
        for i in range(frames):
            stamp = 1_700_000_000.0 + i
            messages = [rgb_to_image_msg(frame.rgb, stamp, frame.frame_id),
                        depth_to_image_msg(frame.depth, stamp, frame.frame_id),
                        intrinsics_to_camera_info(frame.intrinsics, stamp, frame.frame_id),
                        intrinsics_to_camera_info(frame.intrinsics, stamp, frame.frame_id)]
            for conn, msg in zip(conns, messages, strict=True):
                writer.write(conn, int(stamp * 1e9), serialize_message(msg))
    return Path(path)


def read_throughput(bag: str | Path, repeats: int = 5) -> dict:
    """The baseline: read every message of the bag with rosbags (raw bytes, nothing deserialised or published),
    ``repeats`` times after one warm-up read. Returns {"messages", "bytes", "median_s", "min_s", "messages_per_s",
    "mb_per_s"} (rates from the median)."""
    from spacetools_ros.sources.bag import open_bag_reader

    reader = open_bag_reader(bag)
    try:
        def one_read() -> tuple[int, int]:
            count = size = 0
            for _, _, raw in reader.messages():
                count += 1
                size += len(raw)
            return count, size

        count, size = one_read()
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            one_read()
            times.append(time.perf_counter() - t0)
    finally:
        reader.close()
    median = statistics.median(times)
    return {"messages": count, "bytes": size, "median_s": median, "min_s": min(times),
            "messages_per_s": count / median, "mb_per_s": size / median / 1e6}


def _bag_topics(bag: str | Path) -> list[tuple[str, str]]:
    """(topic, type) of each connection of the bag, once per topic."""
    from spacetools_ros.sources.bag import open_bag_reader

    reader = open_bag_reader(bag)
    try:
        return list(dict.fromkeys((c.topic, c.msgtype) for c in reader.connections))
    finally:
        reader.close()


class _Subscriber:
    """The subscriber process (this module run as a script) on the bag's topics, on the domain of ``env``."""

    def __init__(self, topics: list[tuple[str, str]], env: dict[str, str]) -> None:
        """Start the process and wait until its subscriptions exist (RuntimeError when it cannot start)."""
        command = [sys.executable, "-m", "spacetools_ros.bench.replay_throughput", *(f"{t}={k}" for t, k in topics)]
        self._err = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: its logging can never block it
        self.proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        line = self._next(READY_TIMEOUT_S)
        if line != "ready":
            self.close()
            raise RuntimeError(f"the subscriber process did not start: {self._stderr()}")

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self._lines.put(line.strip())
        self._lines.put(None)

    def _next(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def _stderr(self) -> str:
        self._err.seek(0)
        return self._err.read()[-2000:]

    def count(self) -> int:
        """The messages received so far."""
        self.proc.stdin.write("count\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        line = self._next(30.0)
        if not line or not line.startswith("count "):
            raise RuntimeError(f"the subscriber process stopped answering: {line!r} {self._stderr()}")
        return int(line.split()[1])

    def finish(self) -> list[tuple[float, int]]:
        """Stop the process; every arrival [(monotonic s, bytes), ...]."""
        self.proc.stdin.close()  # type: ignore[union-attr]
        line = self._next(30.0)
        self.proc.wait(timeout=30)
        if not line or not line.startswith("{"):
            raise RuntimeError(f"the subscriber process failed (exit {self.proc.returncode}): {self._stderr()}")
        return [(float(t), int(n)) for t, n in json.loads(line)["arrivals"]]

    def close(self) -> None:
        """Kill the process if it is still running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


@contextlib.contextmanager
def _subscriber(topics: list[tuple[str, str]], env: dict[str, str]) -> Iterator[_Subscriber]:
    """A _Subscriber, killed on exit if still running."""
    subscriber = _Subscriber(topics, env)
    try:
        yield subscriber
    finally:
        subscriber.close()


def _pass_rates(arrivals: list[tuple[float, int]]) -> dict[str, float] | None:
    """Messages/s and MB/s of one run's arrivals (None with fewer than two, or all at one instant)."""
    if len(arrivals) < 2:
        return None
    span = arrivals[-1][0] - arrivals[0][0]
    if span <= 0:
        return None
    after_first = sum(n for _, n in arrivals[1:])
    return {"received": len(arrivals), "bytes": sum(n for _, n in arrivals), "span_s": span,
            "messages_per_s": (len(arrivals) - 1) / span, "mb_per_s": after_first / span / 1e6}


def repeat_bag(source: str | Path, out: str | Path, copies: int) -> Path:
    """Write a rosbag2 (mcap) at ``out`` holding the messages of ``source`` ``copies`` times, each copy starting one
    second after the previous one ends (raw bytes copied, nothing deserialised). Returns ``out``."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from spacetools_ros.sources.bag import open_bag_reader

    reader = open_bag_reader(source)
    try:
        typestore = get_typestore(Stores.ROS2_JAZZY)
        period = reader.end_time - reader.start_time + 1_000_000_000
        with Writer(Path(out), version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            conns = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=typestore) for c in reader.connections}
            for k in range(copies):
                for conn, stamp, raw in reader.messages():
                    writer.write(conns[conn.id], stamp + k * period, raw)
    finally:
        reader.close()
    return Path(out)


def run_replay_benchmark(bag: str | Path | None = None, runs: int = 3, copies: int = 5, read_repeats: int = 5,
                         domain_id: int | None = None, discovery_s: float = 3.5) -> dict:
    """Replay ``copies`` copies of the bag into a subscriber process ``runs`` times and read them ``read_repeats``
    times (module docstring).

    bag: the source bag; default ../shared/data/bags/ucn_rgbd_mcap, else a generated one (temporary).
    domain_id: the private ROS_DOMAIN_ID (default 20 + pid % 80).
    discovery_s: how long each replay waits before its first message, for the subscriber to be matched.
    A run in which the subscriber got fewer than half the messages (it was not matched in time) is reported but
    not counted, and another run is made in its place (at most MAX_EXTRA_RUNS more runs in all).
    Returns a JSON-serialisable dict: "bag" (description, source path, copies, messages, bytes), "rate", "qos",
    "discovery_s", "runs" (one {"published", "published_bytes", "publish_wall_s", "published_messages_per_s",
    "published_mb_per_s", "received", "bytes", "span_s", "messages_per_s", "mb_per_s", "counted"} per run),
    "published" and "delivered" ({"messages_per_s", "mb_per_s"}: medians over the counted runs), "read"
    (read_throughput's dict), "ratios" ({"published_messages", "published_mb", "delivered_messages",
    "delivered_mb"}: replay / read), "lost" (published - received, over the counted runs), "domain_id" and
    "load_average". RuntimeError when the subscriber cannot start or no run counts.
    """
    if runs < 1 or not 1 <= copies <= MAX_COPIES:
        raise ValueError(f"runs must be at least 1 and copies within 1..{MAX_COPIES}, got {runs} and {copies}")
    with tempfile.TemporaryDirectory(prefix="spacetools_bench_bag_") as tmp:
        if bag is None and shared_bag().is_dir():
            source, description = shared_bag(), "ucn_rgbd_mcap (../shared/data/bags)"
        elif bag is None:
            source = write_synthetic_bag(Path(tmp) / "synthetic_bag")
            description = "generated tabletop, 9 frames (written with rosbags)"
        else:
            source, description = Path(bag), Path(bag).name
        long_bag = repeat_bag(source, Path(tmp) / "repeated", copies)
        result = _run(long_bag, runs, read_repeats, domain_id, discovery_s)
    result["bag"] = {"description": description, "source": str(source), "copies": copies,
                     "messages": result["read"]["messages"], "bytes": result["read"]["bytes"]}
    return result


def _run(bag: Path, runs: int, read_repeats: int, domain_id: int | None, discovery_s: float) -> dict:
    """The measurements of run_replay_benchmark on a bag ready to replay."""
    from spacetools_ros.ros.demo import ros_env

    load_before = os.getloadavg()
    read = read_throughput(bag, read_repeats)
    domain = domain_id if domain_id is not None else 20 + os.getpid() % 80
    env = ros_env(domain)
    windows: list[tuple[float, dict]] = []
    log: list[str] = []
    with _subscriber(_bag_topics(bag), env) as subscriber:
        good = 0
        while good < runs and len(windows) < runs + MAX_EXTRA_RUNS:
            before = subscriber.count()
            t0 = time.monotonic()
            stats = _replay_process(bag, discovery_s, env, log)
            windows.append((t0, stats))
            good += 2 * (subscriber.count() - before) >= sum(stats["counts"].values())
        arrivals = subscriber.finish()
    rows = _rows(windows, arrivals, read["bytes"])
    counted = [r for r in rows if r["counted"]]
    if not counted:
        raise RuntimeError(f"the subscriber received too little ({[r['received'] for r in rows]} of "
                           f"{[r['published'] for r in rows]} messages); replay log:\n{''.join(log)[-2000:]}")
    published = {"messages_per_s": statistics.median(r["published_messages_per_s"] for r in counted),
                 "mb_per_s": statistics.median(r["published_mb_per_s"] for r in counted)}
    delivered = {"messages_per_s": statistics.median(r["messages_per_s"] for r in counted),
                 "mb_per_s": statistics.median(r["mb_per_s"] for r in counted)}
    ratios = {f"{kind}_{unit}": figures[f"{unit}_per_s"] / read[f"{unit}_per_s"]
              for kind, figures in (("published", published), ("delivered", delivered)) for unit in ("messages", "mb")}
    return {"rate": REPLAY_RATE, "qos": "reliable, keep-last 100, volatile (replay --reliable)",
            "discovery_s": discovery_s, "runs": rows, "published": published, "delivered": delivered, "read": read,
            "ratios": ratios, "lost": sum(r["published"] - r["received"] for r in counted), "domain_id": domain,
            "load_average": {"before": list(load_before), "after": list(os.getloadavg())}}


def _replay_process(bag: Path, discovery_s: float, env: dict[str, str], log: list[str]) -> dict:
    """One replay of the bag in a process of its own (this module's "replay" mode); its statistics {"counts",
    "wall_s", "bag_s"}. Its terminal output is appended to ``log``."""
    command = [sys.executable, "-m", "spacetools_ros.bench.replay_throughput", "--replay", str(bag),
               str(discovery_s)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    log.append(proc.stderr)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the replay process failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def _rows(windows: list[tuple[float, dict]], arrivals: list[tuple[float, int]], bag_bytes: int) -> list[dict]:
    """One row per run: what it published and how fast, the arrivals between its start and the next run's start,
    and their rates."""
    rows = []
    for k, (t0, stats) in enumerate(windows):
        end = windows[k + 1][0] if k + 1 < len(windows) else float("inf")
        mine = [a for a in arrivals if t0 <= a[0] < end]
        published = sum(stats["counts"].values())
        wall = stats["wall_s"]
        rates = _pass_rates(mine) or {"received": len(mine), "bytes": sum(n for _, n in mine), "span_s": 0.0,
                                      "messages_per_s": 0.0, "mb_per_s": 0.0}
        row = {"published": published, "published_bytes": bag_bytes, "publish_wall_s": wall,
               "published_messages_per_s": published / wall if wall > 0 else 0.0,
               "published_mb_per_s": bag_bytes / wall / 1e6 if wall > 0 else 0.0, **rates}
        row["counted"] = bool(rates["messages_per_s"] > 0 and wall > 0 and 2 * len(mine) >= published)
        rows.append(row)
    return rows


def format_replay_report(result: dict) -> str:
    """A few lines: the bag, the published and delivered throughput, the read baseline, their ratios, losses."""
    bag, read, ratios = result["bag"], result["read"], result["ratios"]
    counted = sum(r["counted"] for r in result["runs"])
    lines = [f"replay throughput: {bag['description']} x{bag['copies']}, {bag['messages']} messages, "
             f"{bag['bytes'] / 1e6:.1f} MB; rate {result['rate']:g}x, {result['qos']}; median of {counted} run(s)"
             + (f" ({len(result['runs']) - counted} not matched in time, not counted)"
                if counted < len(result["runs"]) else "")]
    for label, figures, kind in (("replay, published", result["published"], "published"),
                                 ("replay, delivered", result["delivered"], "delivered"),
                                 ("rosbags read, no publishing", read, None)):
        line = f"  {label:<30}{figures['messages_per_s']:>9.0f} msg/s{figures['mb_per_s']:>9.1f} MB/s"
        if kind:
            line += f"   x{ratios[kind + '_messages']:.2g} / x{ratios[kind + '_mb']:.2g} of the read"
        lines.append(line)
    lines.append(f"  {result['lost']} message(s) published but not received")
    return "\n".join(lines)


def _subscribe_main(specs: list[str]) -> int:
    """The subscriber process: raw subscriptions on TOPIC=TYPE specs; prints "ready" once they exist, notes every
    arrival, answers a "count" line on stdin with "count N" (arrivals so far), and when stdin closes prints
    {"arrivals": [[monotonic s, bytes], ...]} as one JSON line."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    from spacetools_ros.ros.bag_record import message_class

    rclpy.init()
    node = rclpy.create_node("spacetools_bench_replay_subscriber")
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.VOLATILE)
    arrivals: list[tuple[float, int]] = []

    def on_message(raw: bytes) -> None:
        arrivals.append((time.monotonic(), len(raw)))

    for spec in specs:
        topic, msgtype = spec.split("=", 1)
        node.create_subscription(message_class(msgtype), topic, on_message, qos, raw=True)
    stop = threading.Event()

    def commands() -> None:
        for line in sys.stdin:
            if line.strip() == "count":
                print(f"count {len(arrivals)}", flush=True)
        stop.set()

    threading.Thread(target=commands, daemon=True).start()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    print("ready", flush=True)
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    print(json.dumps({"arrivals": arrivals}), flush=True)
    return 0


def _replay_main(bag: str, discovery_s: float) -> int:
    """The replay process: run_replay at REPLAY_RATE, reliable, after ``discovery_s``, its own report on stderr;
    then {"counts": {topic: n}, "wall_s", "bag_s"} as one JSON line on stdout."""
    from spacetools_ros.ros.bag_replay import run_replay

    with contextlib.redirect_stdout(sys.stderr):
        stats = run_replay(bag, rate=REPLAY_RATE, reliable=True, delay=discovery_s)
    print(json.dumps({"counts": dict(stats.counts), "wall_s": stats.wall_s, "bag_s": stats.bag_s}), flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--replay"]:
        sys.exit(_replay_main(sys.argv[2], float(sys.argv[3])))
    sys.exit(_subscribe_main(sys.argv[1:]))
