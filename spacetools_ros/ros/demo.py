"""`spacetools demo`: nodes as processes, one task over ROS, the result printed.

The default runs the simulated arm: sim_node (a generated scene with a red cube and a blue bowl) and agent_node
(robot.backend ros_sim), "put the red cube in the blue bowl", and the simulator's ground truth afterwards.
With ``frames`` it runs camera_node (publishing those frames) and agent_node for a perception question.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path


def with_task_reader_profile(env: dict[str, str]) -> dict[str, str]:
    """env, with rmw_fastrtps_cpp, loading config/fastdds_task_reader.xml (FASTRTPS_DEFAULT_PROFILES_FILE with
    RMW_FASTRTPS_USE_QOS_FROM_XML=1): the /spacetools/task reader frees each payload once taken, so a flood of
    1 MB tasks leaves agent_node's memory flat; every other entity keeps rmw_fastrtps' own settings. Left as it is
    when the user set any of those variables (or RMW_FASTRTPS_PUBLICATION_MODE, which the XML mode would override)."""
    rmw = env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    user_fastdds = ("FASTRTPS_DEFAULT_PROFILES_FILE", "RMW_FASTRTPS_USE_QOS_FROM_XML", "RMW_FASTRTPS_PUBLICATION_MODE")
    if rmw == "rmw_fastrtps_cpp" and not any(env.get(key) for key in user_fastdds):
        from spacetools_ros.ros.graph import share_path

        profiles = share_path("config", "fastdds_task_reader.xml")
        if profiles.is_file():
            env["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(profiles)
            env["RMW_FASTRTPS_USE_QOS_FROM_XML"] = "1"
    return env


def ros_env(domain_id: int) -> dict[str, str]:
    """The environment for nodes on one private ROS domain, discovery kept on this machine, with the task reader's
    Fast DDS profile (:func:`with_task_reader_profile`)."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return with_task_reader_profile(env)


def node_command(module: str, parameters: dict[str, object]) -> list[str]:
    """The command that runs a node module with --ros-args parameters."""
    args = [sys.executable, "-m", f"spacetools_ros.ros.{module}", "--ros-args"]
    for key, value in parameters.items():
        args += ["-p", f"{key}:={json.dumps(value) if not isinstance(value, str) else value}"]
    return args


def _command(entry) -> tuple[str, list[str]]:
    """(log name, command line) of a (module, parameters) pair or a graph.NodeSpec."""
    if isinstance(entry, tuple):
        module, params = entry
        return module, node_command(module, params)
    from spacetools_ros.ros.graph import process_command

    return entry.label, process_command(entry)


@contextmanager
def running_nodes(nodes: list, env: dict[str, str], log_dir: Path | None = None):
    """Start node processes, each a (module, parameters) pair or a graph.NodeSpec; stop them (SIGINT, then kill) on
    exit. Every command is resolved before the first process starts (graph.NodeUnavailable names what is missing)."""
    processes = []
    commands = [_command(entry) for entry in nodes]
    try:
        for label, command in commands:
            out = open(log_dir / f"{label}.log", "w") if log_dir else subprocess.DEVNULL
            processes.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))
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


DEMO_TASK = "put the red cube in the blue bowl"
DEMO_OBJECTS = "red box, blue bowl"


def _wait_and_ask(client, procs, question: str, timeout: float) -> dict | None:
    """Wait for agent_node, send the question, return its result (None, with the reason printed, on failure)."""
    if not client.wait_for_server(timeout):
        dead = [p.args[2] for p in procs if p.poll() is not None]
        print(f"agent_node did not come up within {timeout} s" + (f" ({dead} exited)" if dead else ""))
        return None
    print(f"task: {question}", flush=True)
    result = client.ask(question, timeout)
    if result is None:
        print(f"no result within {timeout} s")
    return result


def _print_result(result: dict, truth: str) -> int:
    print("result: " + json.dumps(result, indent=2))
    if truth:
        print(f"ground truth: {truth}")
    print(f"answer: {result['answer']}" if result["state"] == "succeeded" else f"failed: {result['error']}")
    return 0 if result["state"] == "succeeded" else 1


def _domain(domain_id: int | None) -> int:
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # the client in this process, too
    return domain_id if domain_id is not None else 20 + os.getpid() % 80


def run_demo(question: str | None = None, frames: str | None = None, timeout: float = 120.0,
             domain_id: int | None = None, seed: int = 0) -> int:
    """Run the simulated pick-and-place demo (frames None) or the camera demo on ``frames``; print the result
    JSON and the answer; exit code 0 when the task succeeded."""
    if frames is None:
        return run_sim_demo(question or DEMO_TASK, seed=seed, timeout=timeout, domain_id=domain_id)
    return run_camera_demo(question or "How many objects are on the table?", frames, timeout, domain_id)


def run_camera_demo(question: str, frames: str = "synthetic:0", timeout: float = 60.0,
                    domain_id: int | None = None) -> int:
    """camera_node publishing ``frames`` and agent_node (no arm) answer one question over ROS."""
    from spacetools_ros.ros.graph import node_set

    domain = _domain(domain_id)
    truth = ""
    if frames.startswith("synthetic"):
        from spacetools_ros.sources.factory import open_source

        with open_source(frames) as source:
            names = ", ".join(f"{o.colour} {o.shape}" for o in source.scene.objects)
            truth = f"the generated scene holds {len(source.scene.objects)} object(s): {names}"
    # the replay node set: camera_node publishing the frames, agent_node (a generated scene's camera pose given)
    nodes = node_set("replay", {"bag": frames, "bag_player": "camera_node"})
    print(f"starting camera_node ({frames}) and agent_node on ROS_DOMAIN_ID={domain} ...", flush=True)
    with running_nodes(nodes, ros_env(domain)) as procs:
        from spacetools_ros.ros.client import SpaceToolsClient

        client = SpaceToolsClient("spacetools_demo", domain_id=domain)
        try:
            result = _wait_and_ask(client, procs, question, timeout)
        finally:
            client.close()
    return 1 if result is None else _print_result(result, truth)


def sim_demo_nodes(seed: int, objects: str = DEMO_OBJECTS, num_objects: int = 4) -> tuple[list, object]:
    """The node set of the simulated demo (graph.node_set "sim": sim_node + agent_node with robot.backend ros_sim)
    and its generated scene."""
    from spacetools_ros.ros.graph import node_set
    from spacetools_ros.ros.sim_node import scene_from_parameters

    params = {"scene_seed": seed, "num_objects": num_objects, "include": objects}
    return node_set("sim", params), scene_from_parameters(params)


def _placement_truth(ground_truth: dict, scene) -> str:
    """Where the demo's cube (the scene's first object) ended relative to its bowl (the second), from the
    simulator's ground truth."""
    import math

    cube, bowl = scene.objects[0], scene.objects[1]
    c, b = ground_truth["objects"][cube.name], ground_truth["objects"][bowl.name]
    d = math.dist(c[:2], b[:2])
    inside = d < 0.5 * bowl.size[0] and c[2] > 0.5 * cube.size[2] + 0.002
    return (f"{cube.name} centre at ({c[0]:.3f}, {c[1]:.3f}, {c[2]:.3f}) m, {100 * d:.1f} cm from the centre of "
            f"{bowl.name} (radius {50 * bowl.size[0]:.1f} cm): {'in' if inside else 'NOT in'} the bowl")


def run_sim_demo(question: str = DEMO_TASK, seed: int = 0, timeout: float = 120.0,
                 domain_id: int | None = None) -> int:
    """sim_node (a red cube and a blue bowl among others) and agent_node (robot.backend ros_sim) carry out one
    command over ROS; the simulator's ground truth is printed afterwards."""
    from std_srvs.srv import Trigger

    from spacetools_ros.ros.sim_node import GROUND_TRUTH_SERVICE

    domain = _domain(domain_id)
    nodes, scene = sim_demo_nodes(seed)
    names = ", ".join(f"{o.colour} {o.shape}" for o in scene.objects)
    print(f"starting sim_node (scene seed {seed}: {names}) and agent_node on ROS_DOMAIN_ID={domain} ...", flush=True)
    truth = ""
    with running_nodes(nodes, ros_env(domain)) as procs:
        from spacetools_ros.ros.client import SpaceToolsClient

        client = SpaceToolsClient("spacetools_demo", domain_id=domain)
        try:
            result = _wait_and_ask(client, procs, question, timeout)
            if result is not None:
                ok, message = client.call_service(Trigger, GROUND_TRUTH_SERVICE, Trigger.Request(), 10.0)
                truth = _placement_truth(json.loads(message), scene) if ok else message
        finally:
            client.close()
    return 1 if result is None else _print_result(result, truth)
