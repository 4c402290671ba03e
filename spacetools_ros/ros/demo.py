"""`spacetools demo`: camera_node + agent_node as processes, one task over ROS, the result printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path


def ros_env(domain_id: int) -> dict[str, str]:
    """The environment for nodes on one private ROS domain, discovery kept on this machine."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def node_command(module: str, parameters: dict[str, object]) -> list[str]:
    """The command that runs a node module with --ros-args parameters."""
    args = [sys.executable, "-m", f"spacetools_ros.ros.{module}", "--ros-args"]
    for key, value in parameters.items():
        args += ["-p", f"{key}:={json.dumps(value) if not isinstance(value, str) else value}"]
    return args


@contextmanager
def running_nodes(nodes: list[tuple[str, dict[str, object]]], env: dict[str, str], log_dir: Path | None = None):
    """Start node processes; stop them (SIGINT, then kill) on exit."""
    processes = []
    try:
        for module, params in nodes:
            out = open(log_dir / f"{module}.log", "w") if log_dir else subprocess.DEVNULL
            processes.append(subprocess.Popen(node_command(module, params), env=env, stdout=out,
                                              stderr=subprocess.STDOUT))
        yield processes
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(2)
        for p in processes:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_demo(question: str, frames: str = "synthetic:0", timeout: float = 60.0, domain_id: int | None = None) -> int:
    """Run the demo and print the result JSON and the answer; exit code 0 when the task succeeded."""
    domain = domain_id if domain_id is not None else 20 + os.getpid() % 80
    env = ros_env(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # the client in this process, too
    t_base_camera, truth = [], ""
    if frames.startswith("synthetic"):
        from spacetools_ros.sources.factory import open_source

        with open_source(frames) as source:  # the generated scene knows its camera pose: give it to the agent
            t_base_camera = source.read().T_base_camera.reshape(-1).tolist()
            names = ", ".join(f"{o.colour} {o.shape}" for o in source.scene.objects)
            truth = f"the generated scene holds {len(source.scene.objects)} object(s): {names}"
    agent_params: dict[str, object] = {"T_base_camera": t_base_camera} if t_base_camera else {}
    print(f"starting camera_node ({frames}) and agent_node on ROS_DOMAIN_ID={domain} ...", flush=True)
    with running_nodes([("camera_node", {"source": frames}), ("agent_node", agent_params)], env) as procs:
        from spacetools_ros.ros.client import SpaceToolsClient

        client = SpaceToolsClient("spacetools_demo", domain_id=domain)
        try:
            if not client.wait_for_server(timeout):
                dead = [p.args[2] for p in procs if p.poll() is not None]
                print(f"agent_node did not come up within {timeout} s" + (f" ({dead} exited)" if dead else ""))
                return 1
            print(f"task: {question}", flush=True)
            result = client.ask(question, timeout)
        finally:
            client.close()
    if result is None:
        print(f"no result within {timeout} s")
        return 1
    print("result: " + json.dumps(result, indent=2))
    if truth:
        print(f"ground truth: {truth}")
    print(f"answer: {result['answer']}" if result["state"] == "succeeded" else f"failed: {result['error']}")
    return 0 if result["state"] == "succeeded" else 1
