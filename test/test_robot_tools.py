"""robot.* tools and the grasp/place skills: dry run end to end, refusals, and the motion sequence."""

import numpy as np
import pytest

from spacetools_ros.agent.factory import build_agent, build_backends, build_registry
from spacetools_ros.config import load_config
from spacetools_ros.robot.backend import MotionResult, RobotBackend
from spacetools_ros.robot.profile import PANDA
from spacetools_ros.robot.safety import ExecutionGate, MotionGuard
from spacetools_ros.robot.skills import (
    LIFT_M,
    PRE_GRASP_OFFSET_M,
    RELEASE_CLEARANCE_M,
    TRANSIT_CLEARANCE_M,
    Manipulator,
)
from spacetools_ros.sources.synthetic import SyntheticSource
from spacetools_ros.tools.base import ToolContext

DRY_RUN = ["robot.backend=dry_run"]


def _reachable_small(objects):
    """Objects the hand can close on (<= 6 cm) that a top-down Panda grasp reaches (< 0.65 m from the base)."""
    return [o for o in objects if max(o.size[:2]) <= 0.06 and np.hypot(*o.position) < 0.65]


def _distinct_source():
    for seed in range(40):
        source = SyntheticSource(seed=seed, num_objects=3)
        objects = source.scene.objects
        if len({o.colour for o in objects}) == 3 and _reachable_small(objects):
            return source
    raise AssertionError("no suitable generated scene")


def test_pick_and_place_runs_end_to_end_in_dry_run():
    source = _distinct_source()
    small = _reachable_small(source.scene.objects)[0]
    other = next(o for o in source.scene.objects if o is not small)
    agent = build_agent(load_config(overrides=DRY_RUN), camera=source)
    episode = agent.run(f"pick up the {small.colour} object and place it next to the {other.colour} object",
                        source.read())
    names = [c.name for c in episode.tool_calls]
    assert episode.state == "succeeded", (episode.error, [c.text for c in episode.tool_calls])
    assert names[-3:] == ["robot.execute_grasp", "roborefer.detect_one", "robot.place_object_at_2d_location"]
    grasp, place = episode.tool_calls[-3], episode.tool_calls[-1]
    assert grasp.text.startswith("dry run: grasp planned, nothing moved") and grasp.data["moved"] is False
    assert place.text.startswith("dry run: place planned") and len(grasp.new_images) == 1


def _ctx_with_grasp(registry, source):
    frame = source.read()
    ctx = ToolContext([frame])
    assert registry.call("depth_estimator.estimate_depth_with_pointcloud", {}, ctx).ok
    return ctx, frame


@pytest.mark.parametrize("shift,message", [
    ((2.0, 0.0, 0.0), "outside the workspace box"),
    ((0.0, 0.0, -0.5), "refused, nothing moved"),
    ((np.nan, 0.0, 0.0), "refused, nothing moved"),
])
def test_unsafe_grasps_are_refused_before_anything_moves(shift, message):
    source = _distinct_source()
    config = load_config(overrides=DRY_RUN)
    backends = build_backends(config)
    from spacetools_ros.agent.factory import build_manipulator

    manipulator = build_manipulator(config, source)
    registry = build_registry(config, backends, manipulator)
    ctx, frame = _ctx_with_grasp(registry, source)
    # a top-down grasp above the first object, then pushed somewhere unsafe (in the camera frame)
    spec = source.scene.objects[0]
    T_base = np.eye(4)
    T_base[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T_base[:3, 3] = [spec.position[0], spec.position[1], spec.height / 2]
    T_base[:3, 3] += np.asarray(shift)
    ctx.variables.set("grasp_pose", np.linalg.inv(frame.T_base_camera) @ T_base)
    record = registry.call("robot.execute_grasp", {"grasp_pose": "$grasp_pose"}, ctx)
    assert not record.ok and message in record.text, record.text
    assert manipulator.backend.planned == []


def test_robot_tools_take_no_coercion():
    source = _distinct_source()
    config = load_config(overrides=DRY_RUN)
    from spacetools_ros.agent.factory import build_manipulator

    registry = build_registry(config, manipulator=build_manipulator(config, source))
    ctx = ToolContext([source.read()])
    for arguments in ({"placement_point_2d": ["0.5", "0.5"]}, {"placement_point_2d": [True, 0.5]},
                      {"placement_point_2d": [0.5, 1.5]}, {"placement_point_2d": [0.5, 0.5], "speed": 9}):
        record = registry.call("robot.place_object_at_2d_location", arguments, ctx)
        assert not record.ok, arguments


class PaperBackend(RobotBackend):
    """Executes on paper: records each primitive, reports a gripper blocked by an object of given width."""

    def __init__(self, object_width: float) -> None:
        gate = ExecutionGate(enabled=True)
        super().__init__(PANDA, MotionGuard.from_profile(PANDA, gate=gate), gate)
        self.object_width = object_width
        self.log: list[tuple] = []
        self.width = PANDA.gripper_max_opening
        self.pose = np.eye(4)

    def capture(self):
        raise NotImplementedError

    def move_to_pose(self, T, straight=False, velocity_scaling=0.3):
        self.log.append(("move", np.round(T[:3, 3], 4).tolist(), straight))
        self.pose = np.array(T)
        return MotionResult(True, 0.01, True)

    def move_home(self):
        return MotionResult(True, 0.01, True)

    def set_gripper(self, width):
        self.width = max(width, self.object_width)
        self.log.append(("gripper", width))
        return MotionResult(True, 0.01, True)

    def gripper_width(self):
        return self.width

    def tcp_pose(self):
        return self.pose


def _top_down(x, y, z):
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T[:3, 3] = [x, y, z]
    return T


def test_grasp_sequence_and_success_from_the_gripper():
    backend = PaperBackend(object_width=0.04)
    result = Manipulator(backend).execute_grasp(_top_down(0.5, 0.0, 0.05))
    assert result.success and result.message == "Grasp execution succeeded"
    assert [entry[0] for entry in backend.log] == ["gripper", "move", "move", "gripper", "move"]
    (_, pre, pre_straight), (_, grasp, straight) = backend.log[1], backend.log[2]
    assert pre == pytest.approx([0.5, 0.0, 0.05 + PRE_GRASP_OFFSET_M]) and not pre_straight
    assert grasp == pytest.approx([0.5, 0.0, 0.05]) and straight
    assert backend.log[4][1] == pytest.approx([0.5, 0.0, 0.05 + LIFT_M])
    empty = PaperBackend(object_width=0.0)
    assert not Manipulator(empty).execute_grasp(_top_down(0.5, 0.0, 0.05)).success


def test_disabled_execution_refuses_and_cancel_stops_between_steps():
    from spacetools_ros.robot.safety import SafetyError

    backend = PaperBackend(object_width=0.04)
    backend.gate.set_enabled(False)
    with pytest.raises(SafetyError, match="execution is disabled"):
        Manipulator(backend).execute_grasp(_top_down(0.5, 0.0, 0.05))
    assert backend.log == []
    backend.gate.set_enabled(True)

    class CancelOnFirstMove(PaperBackend):
        def move_to_pose(self, T, straight=False, velocity_scaling=0.3):
            self.gate.cancel()  # someone called /spacetools/cancel during this motion
            return super().move_to_pose(T, straight, velocity_scaling)

    cancelling = CancelOnFirstMove(object_width=0.04)
    result = Manipulator(cancelling).execute_grasp(_top_down(0.5, 0.0, 0.05))
    assert not result.success and "cancelled" in result.message
    assert [entry[0] for entry in cancelling.log] == ["gripper", "move"]


def test_place_carries_the_object_above_the_table_objects_then_descends_straight():
    backend = PaperBackend(object_width=0.04)
    manipulator = Manipulator(backend)
    assert manipulator.execute_grasp(_top_down(0.5, 0.0, 0.05)).success
    backend.log.clear()
    result = manipulator.place_at(np.array([0.4, 0.2, 0.0]))
    assert result.success and result.message == "Release operation succeeded"
    kinds = [entry[0] for entry in backend.log]
    assert kinds == ["move", "move", "move", "gripper", "move"]
    transit_z = 0.05 + TRANSIT_CLEARANCE_M  # the held object's bottom clears the tallest table objects
    (_, up, up_straight), (_, over, _), (_, down, down_straight) = backend.log[:3]
    assert up == pytest.approx([0.5, 0.0, transit_z]) and up_straight
    assert over == pytest.approx([0.4, 0.2, transit_z])
    assert down == pytest.approx([0.4, 0.2, 0.05 + RELEASE_CLEARANCE_M]) and down_straight
    assert backend.log[4][1] == pytest.approx([0.4, 0.2, 0.05 + RELEASE_CLEARANCE_M + LIFT_M])


def test_place_descent_stopped_by_contact_just_above_the_target_counts_as_touching_down():
    class BlockedDescent(PaperBackend):
        def __init__(self, stop_above: float) -> None:
            super().__init__(object_width=0.04)
            self.stop_above = stop_above
            self.armed = False  # set once the grasp is done

        def move_to_pose(self, T, straight=False, velocity_scaling=0.3):
            if self.armed and straight and T[2, 3] < self.pose[2, 3] - 0.05:  # the final place descent
                self.log.append(("move", np.round(T[:3, 3], 4).tolist(), straight))
                self.pose = np.array(T)
                self.pose[2, 3] += self.stop_above
                return MotionResult(False, 0.01, True, "goal not reached: joint error 0.03 rad (blocked?)")
            return super().move_to_pose(T, straight, velocity_scaling)

    near = BlockedDescent(stop_above=0.01)
    manipulator = Manipulator(near)
    assert manipulator.execute_grasp(_top_down(0.5, 0.0, 0.05)).success
    near.armed = True
    assert manipulator.place_at(np.array([0.4, 0.2, 0.0])).success
    assert near.log[-2] == ("gripper", PANDA.gripper_max_opening)  # released after touching down
    far = BlockedDescent(stop_above=0.08)
    manipulator = Manipulator(far)
    assert manipulator.execute_grasp(_top_down(0.5, 0.0, 0.05)).success
    far.armed = True
    result = manipulator.place_at(np.array([0.4, 0.2, 0.0]))
    assert not result.success and "blocked" in result.message
    assert far.log[-1][0] == "move"  # never opened the gripper mid-air
