"""sim_node: the PyBullet tabletop world as a ROS robot with a RealSense-like camera.

A generated scene (``scene_seed``, ``num_objects``) runs in a :class:`~spacetools_ros.robot.sim.TabletopSim`,
stepped on a thread of its own in real time (times ``speed``). Standard interfaces only:

Out: the camera on realsense2_camera topic names (``camera_namespace``, at ``camera_hz``), /joint_states
(sensor_msgs/JointState: the 7 arm joints and the 2 finger joints, at ``joint_state_hz``) and /clock
(rosgraph_msgs/Clock). Every stamp is simulated time (seconds since the node started, continuing across resets),
so nodes with use_sim_time follow the simulation even when it runs slower or faster than the wall clock.

In:  /spacetools/sim/joint_command (trajectory_msgs/JointTrajectory of the arm joints: points with positions and
time_from_start, tracked by interpolated position targets; a new message replaces the running one, an empty one
stops and holds), /spacetools/sim/gripper_command (std_msgs/Float64: opening width in metres, force-limited).

Services (std_srvs/Trigger): /spacetools/sim/ground_truth (message: JSON with object name -> centre position and
the scene's object specs), /spacetools/sim/reset (rebuild the scene's world).

The camera pose is not published (no tf): it is logged at start-up; pass it to agent_node as T_base_camera.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from typing import Any

import numpy as np

from spacetools_ros.robot.ros_sim_backend import GRIPPER_COMMAND_TOPIC, JOINT_COMMAND_TOPIC, JOINT_STATES_TOPIC
from spacetools_ros.ros.node_params import ParameterError, declare_parameters
from spacetools_ros.ros.node_runtime import spin_until_shutdown, stop_node

GROUND_TRUTH_SERVICE = "/spacetools/sim/ground_truth"
RESET_SERVICE = "/spacetools/sim/reset"

PARAMETERS = {
    "scene_seed": (0, "seed of the generated tabletop scene", 0),
    "num_objects": (4, "objects in the generated scene", 0),
    "include": ("", "objects the scene must hold, 'colour shape' separated by ',' (e.g. 'red box, blue bowl'; "
                    "shapes: box, cylinder, bowl)"),
    "speed": (1.0, "simulated seconds per wall-clock second"),
    "camera_hz": (5.0, "camera frames rendered and published per simulated second"),
    "joint_state_hz": (50.0, "/joint_states messages per simulated second"),
    "camera_namespace": ("/camera/camera", "namespace of the realsense2_camera topic names"),
}


def scene_from_parameters(params: dict[str, Any]) -> Any:
    """The generated scene of the node's scene parameters (scene_seed, num_objects, include); ValueError when
    they describe no scene."""
    from spacetools_ros.sources.synthetic import generate_tabletop

    include = []
    for item in filter(None, (part.strip() for part in str(params.get("include", "")).split(","))):
        words = item.split()
        if len(words) != 2:
            raise ValueError(f"parameter 'include': '{item}' is not 'colour shape'")
        include.append((words[0].lower(), words[1].lower()))
    return generate_tabletop(seed=int(params["scene_seed"]), num_objects=int(params["num_objects"]), include=include)


class TrajectoryTracker:
    """Piecewise-linear joint targets of one JointTrajectory, from the joints it started at (pure numpy).

    ``times`` are seconds from the start (strictly increasing, > 0 for the first point is allowed: the start
    configuration is the segment before it).
    """

    def __init__(self, q_start: np.ndarray, times: np.ndarray, positions: np.ndarray, t_start: float) -> None:
        """Track from q_start (at t_start) through positions at t_start + times."""
        self.t_start = float(t_start)
        if len(times) and times[0] > 1e-9:
            times = np.concatenate([[0.0], times])
            positions = np.vstack([q_start[None, :], positions])
        self.times = np.asarray(times, dtype=float)
        self.positions = np.asarray(positions, dtype=float)

    def target(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(position, velocity) targets at absolute time t (holds the last point after the end)."""
        tau = t - self.t_start
        if len(self.times) == 1 or tau >= self.times[-1]:
            return self.positions[-1], np.zeros(self.positions.shape[1])
        tau = max(tau, 0.0)
        i = int(np.clip(np.searchsorted(self.times, tau, side="right") - 1, 0, len(self.times) - 2))
        dt = max(self.times[i + 1] - self.times[i], 1e-9)
        slope = (self.positions[i + 1] - self.positions[i]) / dt
        return self.positions[i] + (tau - self.times[i]) * slope, slope


class SimRunner:
    """Owns the TabletopSim and steps it on one thread; commands and queries cross threads under a lock."""

    def __init__(self, scene: Any, params: dict[str, Any], publish_state, publish_frame_cb) -> None:
        """Build the world of ``scene``; the callbacks publish joint states (sim) and frames (RGBDFrame)."""
        from spacetools_ros.robot.sim.pybullet_sim import DT, TabletopSim

        self.dt = DT
        self.scene = scene
        self.params = params
        self._make = lambda: TabletopSim.from_scene(scene)
        self.sim = self._make()
        self._publish_state = publish_state
        self._publish_frame = publish_frame_cb
        self.lock = threading.RLock()
        self.time_offset = 0.0  # simulated seconds of the worlds before the last reset
        self._tracker: TrajectoryTracker | None = None
        self._pending: tuple[list[str], np.ndarray, np.ndarray] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sim_loop", daemon=True)

    def start(self) -> None:
        """Start stepping."""
        self._thread.start()

    def stop(self) -> None:
        """Stop stepping and close the world."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        with self.lock:
            self.sim.close()

    # ------------------------------------------------------------------------------------ commands
    def command_trajectory(self, names: list[str], times: np.ndarray, positions: np.ndarray) -> None:
        """Replace the running trajectory (empty positions: stop and hold the current joints)."""
        with self.lock:
            self._pending = (names, times, positions)

    def command_gripper(self, width: float) -> None:
        """Drive both fingers to width / 2 (force-limited)."""
        from spacetools_ros.robot.sim.pybullet_sim import FINGER_MAX

        with self.lock:
            self.sim.set_finger_targets(float(np.clip(width / 2.0, 0.0, FINGER_MAX)))

    def ground_truth(self) -> dict[str, Any]:
        """Object name -> centre position (m, base frame), plus the scene's object specs."""
        with self.lock:
            poses = self.sim.object_poses()
            return {"objects": {name: [round(float(v), 5) for v in T[:3, 3]] for name, T in poses.items()},
                    "specs": [dataclasses.asdict(spec) for spec in self.scene.objects],
                    "sim_time_s": round(self.clock, 4)}

    def reset(self) -> None:
        """Rebuild the world from the scene (objects back in place, the arm at home)."""
        with self.lock:
            self.time_offset += self.sim.time
            self.sim.close()
            self.sim = self._make()
            self._tracker = None
            self._pending = None

    # ---------------------------------------------------------------------------------------- loop
    def _apply_pending(self) -> None:
        if self._pending is None:
            return
        names, times, positions = self._pending
        self._pending = None
        sim = self.sim
        q_now = sim.joint_positions()
        if len(positions) == 0:
            self._tracker = None
            sim.set_arm_targets(q_now)
            return
        order = [names.index(n) for n in sim.profile.joint_names]
        self._tracker = TrajectoryTracker(q_now, times, positions[:, order], self.clock)

    @property
    def clock(self) -> float:
        """Simulated seconds since start (continuing across resets)."""
        return self.time_offset + self.sim.time

    def _loop(self) -> None:
        speed = self.params["speed"]
        state_every = 1.0 / self.params["joint_state_hz"]
        frame_every = 1.0 / self.params["camera_hz"]
        with self.lock:
            clock0 = next_state = next_frame = self.clock
        wall0 = time.monotonic()
        while not self._stop.is_set():
            with self.lock:
                sim = self.sim
                self._apply_pending()
                if self._tracker is not None:
                    q, qd = self._tracker.target(self.clock + self.dt)
                    sim.set_arm_targets(q, qd)
                sim.step()
                now = self.clock
                if now >= next_state:
                    next_state = now + state_every
                    self._publish_state(sim)
                frame = None
                if now >= next_frame:
                    next_frame = now + frame_every
                    frame = sim.render(stamp=now)
            if frame is not None:
                self._publish_frame(frame)
            lag = (now - clock0) / speed - (time.monotonic() - wall0)
            if lag > 0:
                time.sleep(lag)
            elif lag < -1.0:  # far behind (rendering): do not try to catch up in a burst
                wall0 = time.monotonic() - (now - clock0) / speed


def main(argv: list[str] | None = None) -> int:
    """Run the node until shutdown."""
    import rclpy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    from spacetools_ros.robot.sim.pybullet_sim import FINGER_JOINTS
    from spacetools_ros.ros.camera_node import camera_publishers, publish_frame
    from spacetools_ros.ros.qos import command_qos

    rclpy.init(args=argv if argv is not None else sys.argv)
    node = rclpy.create_node("spacetools_sim")
    try:
        params = declare_parameters(node, PARAMETERS)
        scene = scene_from_parameters(params)
    except (ParameterError, ValueError) as exc:
        return stop_node(node, str(exc), 2)
    cam_pubs = camera_publishers(node, params["camera_namespace"])
    state_pub = node.create_publisher(JointState, JOINT_STATES_TOPIC, 10)
    clock_pub = node.create_publisher(Clock, "/clock", 10)

    def sim_stamp(seconds: float):
        from builtin_interfaces.msg import Time

        ns = int(round(seconds * 1e9))
        return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def publish_state(sim) -> None:
        stamp = sim_stamp(runner.clock)
        clock_pub.publish(Clock(clock=stamp))
        msg = JointState()
        msg.header.stamp = stamp
        msg.name = [*sim.profile.joint_names, *FINGER_JOINTS]
        msg.position = [float(v) for v in (*sim.joint_positions(), *sim.finger_positions())]
        msg.velocity = [float(v) for v in (*sim.joint_velocities(), *sim.finger_velocities())]
        state_pub.publish(msg)

    def send_frame(frame) -> None:
        publish_frame(cam_pubs, frame, frame.stamp)

    runner = SimRunner(scene, params, publish_state, send_frame)
    arm_names = list(runner.sim.profile.joint_names)
    log = node.get_logger()

    def on_trajectory(msg) -> None:
        if not msg.points:
            runner.command_trajectory(arm_names, np.zeros(0), np.zeros((0, len(arm_names))))
            return
        names = list(msg.joint_names)
        if sorted(names) != sorted(arm_names):
            log.error(f"joint_command: joint_names must be the arm joints {arm_names}, got {names}")
            return
        try:
            positions = np.array([list(p.positions) for p in msg.points], dtype=float)
            times = np.array([p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec for p in msg.points])
        except ValueError:
            log.error("joint_command: every point needs one position per joint")
            return
        if positions.shape != (len(msg.points), len(names)) or not np.all(np.isfinite(positions)) or (
                len(times) > 1 and np.any(np.diff(times) <= 0)):
            log.error("joint_command: needs finite positions for every joint and increasing time_from_start")
            return
        runner.command_trajectory(names, times, positions)

    def on_gripper(msg) -> None:
        if np.isfinite(msg.data):
            runner.command_gripper(float(msg.data))

    def on_ground_truth(request, response):
        response.success, response.message = True, json.dumps(runner.ground_truth())
        return response

    def on_reset(request, response):
        runner.reset()
        response.success, response.message = True, "world reset"
        return response

    node.create_subscription(JointTrajectory, JOINT_COMMAND_TOPIC, on_trajectory, command_qos())
    node.create_subscription(Float64, GRIPPER_COMMAND_TOPIC, on_gripper, command_qos())
    node.create_service(Trigger, GROUND_TRUTH_SERVICE, on_ground_truth)
    node.create_service(Trigger, RESET_SERVICE, on_reset)
    runner.start()
    T = np.asarray(scene.frame.T_base_camera, dtype=float).reshape(-1)
    log.info(f"scene seed {params['scene_seed']} with {len(scene.objects)} object(s): "
             + ", ".join(f"{o.name} ({o.colour} {o.shape})" for o in scene.objects))
    log.info("T_base_camera (pass to agent_node): " + json.dumps([float(v) for v in T]))
    log.info(f"simulating at {params['speed']}x real time; camera at {params['camera_hz']} Hz on "
             f"{params['camera_namespace']}; commands on {JOINT_COMMAND_TOPIC}, {GRIPPER_COMMAND_TOPIC}")
    return spin_until_shutdown(node, on_shutdown=runner.stop)


if __name__ == "__main__":
    sys.exit(main())
