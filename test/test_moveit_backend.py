"""MoveItBackend against a recording stand-in of moveit_py (MoveIt itself is not installable here).

The stand-in ``moveit`` package (and ``moveit_msgs.msg``) is put into ``sys.modules`` by a fixture; it records
every call the backend makes and returns plausible results. These tests check the calls, their order and
arguments, the safety checks before execution, cancel and timeout handling. They do not show that the backend
works against a real MoveIt 2: that needs a robot PC with ros-jazzy-moveit-py.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from spacetools_ros.robot.backend import MotionError
from spacetools_ros.robot.kinematics import ArmKinematics
from spacetools_ros.robot.moveit_backend import MOVEIT_MISSING_MESSAGE, MoveItBackend, pose_msg_to_matrix
from spacetools_ros.robot.profile import PANDA
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard, SafetyError
from spacetools_ros.sources.base import FrameSourceError

# ------------------------------------------------------------------------------------- the stand-in


class Recorder:
    """Every call of the stand-in, in order: (name, args, kwargs)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def __call__(self, name: str, *args, **kwargs) -> None:
        self.calls.append((name, args, kwargs))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def find(self, name: str) -> list[tuple[str, tuple, dict]]:
        return [c for c in self.calls if c[0] == name]


class FakeTrajectory:
    """A moveit_py RobotTrajectory: get_robot_trajectory_msg() -> moveit_msgs/RobotTrajectory (duck-typed)."""

    def __init__(self, rec: Recorder, positions: np.ndarray, times: np.ndarray, names: list[str]) -> None:
        self.rec, self.positions, self.times, self.names = rec, positions, times, names

    def get_robot_trajectory_msg(self) -> SimpleNamespace:
        self.rec("trajectory.get_robot_trajectory_msg")
        points = [
            SimpleNamespace(positions=list(map(float, q)),
                            time_from_start=SimpleNamespace(sec=int(t), nanosec=int(round((t - int(t)) * 1e9))))
            for q, t in zip(self.positions, self.times, strict=True)
        ]
        return SimpleNamespace(joint_trajectory=SimpleNamespace(joint_names=list(self.names), points=points))


class FakePlanResult:
    """A MotionPlanResponse: truthy on success, .trajectory, .error_code.val."""

    def __init__(self, trajectory: FakeTrajectory | None, ok: bool = True) -> None:
        self.trajectory = trajectory
        self.ok = ok
        self.error_code = SimpleNamespace(val=1 if ok else -1)

    def __bool__(self) -> bool:
        return self.ok


class FakeComponent:
    """A PlanningComponent: records its calls; plan() returns world.next_plan(group)."""

    def __init__(self, world: FakeMoveItPy, group: str) -> None:
        self.world, self.group = world, group

    def set_start_state_to_current_state(self) -> None:
        self.world.rec(f"{self.group}.set_start_state_to_current_state")

    def set_goal_state(self, **kwargs) -> bool:
        self.world.rec(f"{self.group}.set_goal_state", **kwargs)
        return True

    def plan(self, **kwargs) -> FakePlanResult:
        self.world.rec(f"{self.group}.plan", **kwargs)
        return self.world.next_plan(self.group)


class FakeScene:
    """A PlanningScene inside the monitor's context managers."""

    def __init__(self, world: FakeMoveItPy) -> None:
        self.world = world
        self.current_state = SimpleNamespace(get_pose=self.get_pose)

    def get_pose(self, link: str):
        self.world.rec("scene.current_state.get_pose", link)
        return self.world.current_tip_pose

    def apply_collision_object(self, msg) -> None:
        self.world.rec("scene.apply_collision_object", msg)


class FakeMonitor:
    def __init__(self, world: FakeMoveItPy) -> None:
        self.world = world

    @contextmanager
    def read_only(self):
        self.world.rec("planning_scene_monitor.read_only")
        yield FakeScene(self.world)

    @contextmanager
    def read_write(self):
        self.world.rec("planning_scene_monitor.read_write")
        yield FakeScene(self.world)


class FakeMoveItPy:
    """moveit.planning.MoveItPy: the world of the stand-in (plans to return, execution behaviour)."""

    instances: list[FakeMoveItPy] = []

    def __init__(self, node_name: str = "", config_dict: dict | None = None) -> None:
        self.rec = Recorder()
        self.rec("MoveItPy", node_name=node_name, config_dict=config_dict)
        self.plans: dict[str, FakePlanResult] = {}
        self.execute_seconds = 0.0  # how long execute() blocks unless stopped
        self.stopped = threading.Event()
        self.current_tip_pose = None
        FakeMoveItPy.instances.append(self)

    def next_plan(self, group: str) -> FakePlanResult:
        return self.plans[group]

    def get_planning_component(self, name: str) -> FakeComponent:
        self.rec("get_planning_component", name)
        return FakeComponent(self, name)

    def execute(self, trajectory, controllers=None):
        self.rec("execute", trajectory, controllers=controllers)
        self.stopped.wait(self.execute_seconds)
        return SimpleNamespace(status="PREEMPTED" if self.stopped.is_set() else "SUCCEEDED")

    def get_trajectory_execution_manager(self):
        def stop_execution() -> None:
            self.rec("trajectory_execution_manager.stop_execution")
            self.stopped.set()

        return SimpleNamespace(stop_execution=stop_execution)

    def get_planning_scene_monitor(self) -> FakeMonitor:
        return FakeMonitor(self)


class FakePlanRequestParameters:
    """moveit.planning.PlanRequestParameters(moveit, namespace)."""

    def __init__(self, moveit: FakeMoveItPy, namespace: str) -> None:
        moveit.rec("PlanRequestParameters", namespace)
        self.namespace = namespace
        self.planning_pipeline = "ompl"
        self.max_velocity_scaling_factor = 1.0
        self.max_acceleration_scaling_factor = 1.0


class FakeCollisionObject:
    """moveit_msgs.msg.CollisionObject (the fields the backend sets)."""

    ADD, REMOVE = 0, 1

    def __init__(self) -> None:
        from geometry_msgs.msg import Pose
        from std_msgs.msg import Header

        self.header, self.pose, self.id = Header(), Pose(), ""
        self.primitives, self.primitive_poses, self.operation = [], [], self.ADD


@pytest.fixture
def standin(monkeypatch):
    """Insert the stand-in moveit / moveit.planning / moveit_msgs.msg modules; yields the MoveItPy class."""
    moveit = types.ModuleType("moveit")
    planning = types.ModuleType("moveit.planning")
    planning.MoveItPy = FakeMoveItPy
    planning.PlanRequestParameters = FakePlanRequestParameters
    moveit.planning = planning
    msgs = types.ModuleType("moveit_msgs")
    msgs_msg = types.ModuleType("moveit_msgs.msg")
    msgs_msg.CollisionObject = FakeCollisionObject
    msgs.msg = msgs_msg
    for name, module in (("moveit", moveit), ("moveit.planning", planning), ("moveit_msgs", msgs),
                         ("moveit_msgs.msg", msgs_msg)):
        monkeypatch.setitem(sys.modules, name, module)
    FakeMoveItPy.instances.clear()
    yield FakeMoveItPy
    FakeMoveItPy.instances.clear()


# ------------------------------------------------------------------------------------------ helpers

KIN = ArmKinematics()
HOME = KIN.home
Q_GOAL = HOME + np.array([0.2, 0.1, -0.1, 0.15, 0.05, -0.1, 0.3])
NAMES = PANDA.joint_names


def make_backend(*, timeout_s: float = 30.0, enabled: bool = True, dry_run: bool = False, **kwargs):
    gate = ExecutionGate(enabled=enabled, dry_run=dry_run)
    guard = MotionGuard.from_profile(PANDA, gate, motion_timeout_s=timeout_s)
    backend = MoveItBackend(PANDA, guard, gate, kinematics=KIN, **kwargs)
    return backend, FakeMoveItPy.instances[-1]


def trajectory(world: FakeMoveItPy, q0=HOME, q1=Q_GOAL, duration: float = 2.0, n: int = 11, names=None):
    positions = np.linspace(q0, q1, n)
    times = np.linspace(0.0, duration, n)
    return FakeTrajectory(world.rec, positions, times, list(names or NAMES))


def set_plan(world: FakeMoveItPy, group: str, traj, ok: bool = True) -> None:
    world.plans[group] = FakePlanResult(traj, ok)


def after_setup(world: FakeMoveItPy) -> list[str]:
    """Call names after the constructor's calls."""
    names = world.rec.names()
    return names[names.index("get_planning_component", names.index("get_planning_component") + 1) + 1:]


# -------------------------------------------------------------------------------------------- tests


def test_constructor_gets_components(standin):
    backend, world = make_backend(node_name="n1", config_dict={"a": 1})
    assert world.rec.calls[:3] == [
        ("MoveItPy", (), {"node_name": "n1", "config_dict": {"a": 1}}),
        ("get_planning_component", ("panda_arm",), {}),
        ("get_planning_component", ("hand",), {}),
    ]
    # T_link8_tcp: 0.1034 m along z, rotated -pi/4 about z
    np.testing.assert_allclose(backend.T_link8_tcp[:3, 3], [0, 0, 0.1034], atol=1e-9)
    c = np.cos(-np.pi / 4)
    np.testing.assert_allclose(backend.T_link8_tcp[:2, :2], [[c, -np.sin(-np.pi / 4)], [np.sin(-np.pi / 4), c]],
                               atol=1e-9)


def test_move_to_pose_makes_the_documented_calls(standin):
    backend, world = make_backend()
    traj = trajectory(world)
    set_plan(world, "panda_arm", traj)
    goal = KIN.fk(Q_GOAL, "tcp")
    result = backend.move_to_pose(goal, velocity_scaling=0.9)
    assert result.success, result.message
    assert result.moved
    assert after_setup(world) == [
        "PlanRequestParameters",
        "panda_arm.set_start_state_to_current_state",
        "panda_arm.set_goal_state",
        "panda_arm.plan",
        "trajectory.get_robot_trajectory_msg",
        "execute",
    ]
    (_, _, goal_kwargs), = world.rec.find("panda_arm.set_goal_state")
    assert set(goal_kwargs) == {"pose_stamped_msg", "pose_link"}
    assert goal_kwargs["pose_link"] == "panda_link8"
    msg = goal_kwargs["pose_stamped_msg"]
    assert type(msg).__name__ == "PoseStamped" and msg.header.frame_id == "panda_link0"
    T_link8 = pose_msg_to_matrix(msg.pose)
    # the link8 goal times T_link8_tcp (from the kinematics) is the TCP goal
    T_link8_tcp = np.linalg.inv(KIN.fk(HOME, "flange")) @ KIN.fk(HOME, "tcp")
    np.testing.assert_allclose(T_link8 @ T_link8_tcp, goal, atol=1e-6)
    np.testing.assert_allclose(T_link8, KIN.fk(Q_GOAL, "flange"), atol=1e-6)
    # velocity scaling clamped by the guard (max 0.5 for the Panda profile), passed to plan()
    (_, _, plan_kwargs), = world.rec.find("panda_arm.plan")
    assert plan_kwargs["single_plan_parameters"].max_velocity_scaling_factor == pytest.approx(0.5)
    assert world.rec.find("PlanRequestParameters")[0][1] == ("",)
    (_, exec_args, exec_kwargs), = world.rec.find("execute")
    assert exec_args == (traj,) and exec_kwargs == {"controllers": []}
    np.testing.assert_allclose(result.trajectory[-1], Q_GOAL)


def test_trajectory_joint_order_follows_names(standin):
    backend, world = make_backend()
    order = [6, 5, 4, 3, 2, 1, 0]
    traj = FakeTrajectory(world.rec, np.linspace(HOME, Q_GOAL, 5)[:, order], np.linspace(0, 2, 5),
                          [NAMES[i] for i in order])
    positions, times = backend.trajectory_arrays(traj)
    np.testing.assert_allclose(positions[-1], Q_GOAL)
    np.testing.assert_allclose(times, np.linspace(0, 2, 5))


@pytest.mark.parametrize(("case", "limit"), [("joint_limit", "joint_limits"), ("too_fast", "velocity"),
                                             ("outside_box", "workspace_box"), ("missing_joint", "trajectory"),
                                             ("empty", "trajectory")])
def test_bad_plan_is_refused_before_execute(standin, case, limit):
    backend, world = make_backend()
    if case == "joint_limit":
        bad = Q_GOAL.copy()
        bad[3] = 0.5  # panda_joint4 upper limit -0.0698
        traj = trajectory(world, HOME, bad)
    elif case == "too_fast":
        traj = trajectory(world, duration=0.01)
    elif case == "outside_box":
        q = HOME.copy()
        q[1] = 1.6  # leans far forward and down: the TCP leaves the workspace box on the way
        traj = trajectory(world, HOME, q, duration=5.0)
    elif case == "missing_joint":
        traj = trajectory(world, names=[*NAMES[:6], "other"])
    else:
        traj = FakeTrajectory(world.rec, np.zeros((0, 7)), np.zeros(0), NAMES)
    set_plan(world, "panda_arm", traj)
    result = backend.move_to_pose(KIN.fk(Q_GOAL, "tcp"))
    assert not result.success and not result.moved
    assert "refused" in result.message and result.extras["limit"] == limit
    assert world.rec.find("execute") == []


def test_cancel_during_execute_stops_within_0_2_s(standin):
    backend, world = make_backend()
    set_plan(world, "panda_arm", trajectory(world))
    world.execute_seconds = 5.0
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("r", backend.move_to_pose(KIN.fk(Q_GOAL, "tcp"))))
    thread.start()
    deadline = time.perf_counter() + 2.0
    while not world.rec.find("execute") and time.perf_counter() < deadline:
        time.sleep(0.002)
    assert world.rec.find("execute")
    t0 = time.perf_counter()
    backend.gate.cancel()
    thread.join(1.0)
    elapsed = time.perf_counter() - t0
    assert not thread.is_alive()
    assert elapsed < 0.2
    result = out["r"]
    assert not result.success and result.message == "cancelled" and result.moved
    assert len(world.rec.find("trajectory_execution_manager.stop_execution")) == 1


def test_stop_cancels_and_stops_execution(standin):
    backend, world = make_backend()
    backend.stop()
    assert backend.gate.cancelled
    assert world.rec.find("trajectory_execution_manager.stop_execution")
    # a cancelled gate refuses new motions until the caller resets it
    set_plan(world, "panda_arm", trajectory(world))
    assert backend.move_home().message == "cancelled"
    assert world.rec.find("panda_arm.plan") == []


def test_timeout_stops_execution(standin):
    backend, world = make_backend(timeout_s=0.3)
    set_plan(world, "panda_arm", trajectory(world, duration=0.25))
    world.execute_seconds = 5.0
    t0 = time.perf_counter()
    result = backend.move_to_pose(KIN.fk(Q_GOAL, "tcp"))
    assert time.perf_counter() - t0 < 1.0
    assert not result.success and result.message.startswith("timeout")
    assert world.rec.find("trajectory_execution_manager.stop_execution")


def test_no_plan(standin):
    backend, world = make_backend()
    set_plan(world, "panda_arm", None, ok=False)
    result = backend.move_to_pose(KIN.fk(Q_GOAL, "tcp"))
    assert not result.success and not result.moved
    assert result.message.startswith("MoveIt found no plan")
    assert world.rec.find("execute") == []
    assert not backend.plan_to_pose(KIN.fk(Q_GOAL, "tcp")).success


def test_move_home_uses_named_state(standin):
    backend, world = make_backend()
    set_plan(world, "panda_arm", trajectory(world, Q_GOAL, HOME))
    result = backend.move_home()
    assert result.success, result.message
    goals = world.rec.find("panda_arm.set_goal_state")
    assert goals == [("panda_arm.set_goal_state", (), {"configuration_name": "ready"})]
    assert after_setup(world) == ["PlanRequestParameters", "panda_arm.set_start_state_to_current_state",
                                  "panda_arm.set_goal_state", "panda_arm.plan", "trajectory.get_robot_trajectory_msg",
                                  "execute"]


def test_dry_run_plans_but_never_executes(standin):
    backend, world = make_backend(dry_run=True)
    set_plan(world, "panda_arm", trajectory(world))
    result = backend.move_to_pose(KIN.fk(Q_GOAL, "tcp"))
    assert result.success and not result.moved and result.message.startswith("dry run")
    assert world.rec.find("execute") == []


def test_disabled_gate_and_bad_goal_raise(standin):
    backend, world = make_backend(enabled=False)
    set_plan(world, "panda_arm", trajectory(world))
    with pytest.raises(SafetyError):
        backend.move_to_pose(KIN.fk(Q_GOAL, "tcp"))
    far = np.eye(4)
    far[:3, 3] = (2.0, 0.0, 0.3)
    with pytest.raises(SafetyError):
        backend.move_to_pose(far)
    assert world.rec.find("panda_arm.plan") == []


def test_gripper_named_states_and_width(standin):
    joints = {"panda_finger_joint1": 0.02, "panda_finger_joint2": 0.02}
    backend, world = make_backend(joint_state_reader=lambda: joints)
    set_plan(world, "hand", FakeTrajectory(world.rec, np.zeros((2, 2)), np.array([0.0, 0.5]),
                                           ["panda_finger_joint1", "panda_finger_joint2"]))
    assert backend.set_gripper(0.08).success
    assert backend.set_gripper(0.0).success
    goals = [c[2] for c in world.rec.find("hand.set_goal_state")]
    assert goals == [{"configuration_name": "open"}, {"configuration_name": "close"}]
    refused = backend.set_gripper(0.02)
    assert not refused.success and "not supported" in refused.message
    assert len(world.rec.find("hand.plan")) == 2
    assert backend.gripper_width() == pytest.approx(0.04)


def test_gripper_width_without_joint_states_is_nan(standin):
    backend, _ = make_backend()
    assert np.isnan(backend.gripper_width())


def test_tcp_pose_from_moveit_state(standin):
    from spacetools_ros.robot.moveit_backend import matrix_to_pose_msg

    backend, world = make_backend()
    world.current_tip_pose = matrix_to_pose_msg(KIN.fk(Q_GOAL, "flange"))
    np.testing.assert_allclose(backend.tcp_pose(), KIN.fk(Q_GOAL, "tcp"), atol=1e-9)
    assert world.rec.find("scene.current_state.get_pose")[0][1] == ("panda_link8",)


def test_tcp_pose_falls_back_to_joint_states(standin):
    backend, world = make_backend(joint_state_reader=lambda: dict(zip(NAMES, Q_GOAL, strict=True)))
    world.current_tip_pose = None  # MoveIt's state unusable
    np.testing.assert_allclose(backend.tcp_pose(), KIN.fk(Q_GOAL, "tcp"), atol=1e-9)
    backend.joint_state_reader = None
    with pytest.raises(MotionError):
        backend.tcp_pose()


def test_add_collision_objects(standin):
    backend, world = make_backend()
    objects = [SimpleNamespace(id=0, centroid_base=np.array([0.5, 0.1, 0.05]), extent=np.array([0.08, 0.06, 0.1])),
               SimpleNamespace(id=1, centroid_base=None, extent=np.array([0.1, 0.1, 0.1]))]
    ids = backend.add_collision_objects(objects, padding=0.0)
    assert ids == ["object_0"]
    (_, (msg,), _), = world.rec.find("scene.apply_collision_object")
    assert msg.header.frame_id == "panda_link0" and msg.operation == FakeCollisionObject.ADD
    assert list(msg.primitives[0].dimensions) == pytest.approx([0.1, 0.1, 0.1])
    assert (msg.pose.position.x, msg.pose.position.y, msg.pose.position.z) == pytest.approx((0.5, 0.1, 0.05))
    assert "planning_scene_monitor.read_write" in world.rec.names()


def test_capture_needs_a_camera(standin):
    backend, _ = make_backend()
    with pytest.raises(FrameSourceError):
        backend.capture()


def test_missing_moveit_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "moveit", None)
    monkeypatch.setitem(sys.modules, "moveit.planning", None)
    gate = ExecutionGate(enabled=True)
    with pytest.raises(RuntimeError) as info:
        MoveItBackend(PANDA, MotionGuard.from_profile(PANDA, gate), gate, kinematics=KIN)
    assert str(info.value) == MOVEIT_MISSING_MESSAGE
    assert "ros-jazzy-moveit-py" in str(info.value)


def test_perceived_objects_become_collision_objects_before_planning_but_not_the_target(standin):
    from spacetools_ros.robot.skills import Manipulator

    backend, world = make_backend(dry_run=True, joint_state_reader=lambda: dict(zip(NAMES, HOME, strict=True)))
    set_plan(world, "panda_arm", trajectory(world))
    grasp = np.diag([1.0, -1.0, -1.0, 1.0])  # top-down
    grasp[:3, 3] = [0.5, 0.0, 0.06]
    target = SimpleNamespace(id=3, centroid_base=np.array([0.505, 0.01, 0.04]), extent=np.array([0.05, 0.04, 0.08]))
    beside = SimpleNamespace(id=5, centroid_base=np.array([0.5, 0.2, 0.05]), extent=np.array([0.06, 0.06, 0.1]))
    unposed = SimpleNamespace(id=7, centroid_base=None, extent=np.array([0.06, 0.06, 0.1]))
    result = Manipulator(backend).execute_grasp(grasp, obstacles=[target, beside, unposed])
    assert result.success and not result.moved, result.message
    applied = [c[1][0] for c in world.rec.find("scene.apply_collision_object")]
    assert [(m.id, m.operation) for m in applied] == [("perceived_5", FakeCollisionObject.ADD)]
    names = world.rec.names()
    assert names.index("scene.apply_collision_object") < names.index("panda_arm.plan")
    assert "execute" not in names

    # a place replaces them: the support under the place point and the held object (under the TCP) are left out
    world.rec.calls.clear()
    bowl = SimpleNamespace(id=8, centroid_base=np.array([0.6, -0.2, 0.03]), extent=np.array([0.15, 0.15, 0.06]))
    Manipulator(backend).place_at(np.array([0.61, -0.19, 0.01]), obstacles=[bowl, beside])
    applied = [c[1][0] for c in world.rec.find("scene.apply_collision_object")]
    assert [(m.id, m.operation) for m in applied][:2] == [("perceived_5", FakeCollisionObject.REMOVE),
                                                         ("perceived_5", FakeCollisionObject.ADD)]
    assert all(m.id != "perceived_8" for m in applied)


def test_obstacle_selection_for_grasp_and_place():
    from spacetools_ros.robot.obstacles import grasp_obstacles, place_obstacles

    def obj(i, x, y, size=0.06):
        return SimpleNamespace(id=i, centroid_base=np.array([x, y, 0.05]), extent=np.array([size, size, 0.1]))

    a, b, c, d = obj(0, 0.5, 0.0), obj(1, 0.53, 0.0), obj(2, 0.7, 0.2, size=0.16), obj(3, 0.5, 0.15)
    # two footprints hold the grasp point: the nearer one is the target
    assert grasp_obstacles([a, b, c], [0.525, 0.0, 0.05]) == [a, c]
    assert grasp_obstacles([a, b, c], [0.3, -0.3, 0.05]) == [a, b, c]  # grasping nothing known: avoid all
    # placing into the wide object c, holding a (the TCP above it): only d is an obstacle
    assert place_obstacles([a, c, d], [0.72, 0.18, 0.01], [0.5, 0.0, 0.2]) == [d]
