"""`spacetools up sim|replay|robot`: start a mode's node set (spacetools_ros.ros.graph) as processes and keep it up.

It prints every node it started (pid, parameters, log file), then waits. SIGINT (Ctrl-C) or SIGTERM stops every node
(SIGINT, then a kill after 5 s) and exits 0. When a node dies on its own, the others are stopped and it exits 1 with
the node's exit code and the last lines of its log. A node set that cannot start here (a package that is not
installed, e.g. realsense2_camera) exits 2 before anything starts.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

POLL_S = 0.2
LOG_TAIL_LINES = 12
GRACE_S = 1.0  # after the first death: time for the others' own messages (a node set often fails together)


def up_env(domain_id: int | None) -> dict[str, str]:
    """The nodes' environment: this one, with ROS_DOMAIN_ID set when given, unbuffered Python output and the task
    reader's Fast DDS profile (see :func:`spacetools_ros.ros.demo.with_task_reader_profile`)."""
    from spacetools_ros.ros.demo import with_task_reader_profile

    env = dict(os.environ)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    env["PYTHONUNBUFFERED"] = "1"
    return with_task_reader_profile(env)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file ('' when unreadable)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class StopRequest:
    """SIGINT / SIGTERM set a flag (the previous handlers come back on restore)."""

    def __init__(self) -> None:
        """Install the handlers (main thread only; elsewhere the flag is only set by request())."""
        self.event = threading.Event()
        self.signal_name = ""
        self._previous: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    def request(self, name: str = "request") -> None:
        """Ask to stop (as a signal would)."""
        self.signal_name = name
        self.event.set()

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_up(mode: str, assignments: list[str], domain_id: int | None = None, log_dir: str | None = None,
           out: TextIO | None = None, stop: StopRequest | None = None) -> int:
    """Start the node set of ``mode`` with ``--set`` assignments, wait for a stop request or a node's death.

    Returns 0 after a requested stop, 1 when a node died, 2 when the set cannot start (bad setting, missing
    package); the reason is printed.
    """
    from spacetools_ros.ros.demo import running_nodes
    from spacetools_ros.ros.graph import GraphError, NodeUnavailable, describe, node_set, process_command
    from spacetools_ros.ros.graph import settings_from_assignments as parse

    out = out or sys.stdout
    stop = stop or StopRequest()  # from here on Ctrl-C / SIGTERM ask for a clean stop
    try:
        try:
            specs = node_set(mode, parse(assignments))
            for spec in specs:
                process_command(spec)  # everything must be startable before anything starts
        except (GraphError, NodeUnavailable) as exc:
            print(f"spacetools up: error: {exc}", file=out, flush=True)
            return 2
        if stop.event.is_set():
            return 0
        logs = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix=f"spacetools-up-{mode}-"))
        logs.mkdir(parents=True, exist_ok=True)
        env = up_env(domain_id)
        domain = env.get("ROS_DOMAIN_ID", "0")
        with running_nodes(specs, env, log_dir=logs) as procs:
            for spec, proc in zip(specs, procs, strict=True):
                print(f"started {spec.label} ({spec.name}) pid {proc.pid}: {describe(spec)}; "
                      f"log {logs / (spec.label + '.log')}", file=out, flush=True)
            print(f"spacetools up {mode}: {len(procs)} process(es) on ROS_DOMAIN_ID={domain}; Ctrl-C stops them",
                  file=out, flush=True)
            code = _watch(specs, procs, logs, stop, out)
            print("stopping ...", file=out, flush=True)
    finally:
        stop.restore()
    print("stopped" if code == 0 else "stopped after a node died", file=out, flush=True)
    return code


def _watch(specs: list, procs: list, logs: Path, stop: StopRequest, out: TextIO) -> int:
    """Wait until a stop is requested (0) or a process exits on its own (1, with its log's tail printed)."""
    while not stop.event.wait(POLL_S):
        if any(p.poll() is not None for p in procs):
            time.sleep(GRACE_S)
            if stop.event.is_set():  # a Ctrl-C reaches the nodes too: they may exit just before we see the signal
                break
            for spec, proc in zip(specs, procs, strict=True):
                if proc.poll() is not None:
                    tail = log_tail(logs / f"{spec.label}.log")
                    print(f"spacetools up: error: {spec.label} ({spec.name}) exited with code {proc.returncode}"
                          + (f"; its last output:\n{tail}" if tail else ""), file=out, flush=True)
            return 1
    print(f"{stop.signal_name or 'stop'} received", file=out, flush=True)
    return 0
