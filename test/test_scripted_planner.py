"""The scripted planner end to end (agent loop + segmentation tool) against generated ground truth."""

import math

import numpy as np
import pytest

from spacetools_ros.agent.factory import build_agent
from spacetools_ros.agent.protocol import parse_turn
from spacetools_ros.config import load_config
from spacetools_ros.frames.geometry import normalized_to_pixel
from spacetools_ros.sources.synthetic import generate_tabletop

SEEDS = range(6)


@pytest.fixture(scope="module")
def agent():
    return build_agent(load_config())


@pytest.fixture(scope="module", params=SEEDS)
def scene(request):
    return generate_tabletop(seed=request.param, num_objects=2 + request.param % 5)


def _pointed_label(scene, answer: str) -> int:
    """Ground-truth object index under the single point of a pointing answer."""
    assert answer.startswith("[(") and answer.endswith(")]"), answer
    x, y = (float(v) for v in answer[2:-2].split(","))
    u, v = normalized_to_pixel(x, y, scene.frame.width, scene.frame.height)
    return int(scene.labels[int(round(float(v))), int(round(float(u)))])


def test_count_is_an_integer_equal_to_the_objects_placed(agent, scene):
    episode = agent.run("How many objects are on the table?", scene.frame)
    assert episode.state == "succeeded"
    assert episode.answer == str(len(scene.objects))
    # the planner spoke the protocol: a think, then one tool call, then an answer
    first = parse_turn(episode.messages[2]["content"])
    assert first.think and [c.name for c in first.tool_calls] == ["tabletop.segment_objects"]


def test_point_to_the_object_closest_to_the_robot(agent, scene):
    episode = agent.run("point to the object closest to the robot", scene.frame)
    distances = [math.hypot(*o.position) for o in scene.objects]
    assert _pointed_label(scene, episode.answer) == int(np.argmin(distances))


def test_point_to_the_largest_object_when_sizes_clearly_differ(agent, scene):
    volumes = sorted(((float(np.prod(o.size)), i) for i, o in enumerate(scene.objects)), reverse=True)
    if len(volumes) > 1 and volumes[0][0] < 1.3 * volumes[1][0]:
        pytest.skip("two objects of nearly equal volume: 'largest' is ambiguous")
    episode = agent.run("point to the largest object", scene.frame)
    assert _pointed_label(scene, episode.answer) == volumes[0][1]


def test_height_of_the_tallest_object_in_metres(agent, scene):
    episode = agent.run("How tall is the tallest object?", scene.frame)
    value, unit = episode.answer.split()
    assert unit == "m"
    assert float(value) == pytest.approx(max(o.height for o in scene.objects), abs=0.01)


def test_closest_falls_back_to_the_camera_without_a_base_frame(agent):
    scene = generate_tabletop(seed=11, num_objects=4)
    frame = scene.frame
    frame.T_base_camera = None
    episode = agent.run("point to the object nearest to the robot", frame)
    assert "(3D in the camera frame)" in episode.messages[3]["content"]
    objects = episode.tool_calls[0].data["objects"]
    nearest = min(objects, key=lambda o: math.dist((0, 0, 0), o["centroid_camera"]))
    x, y = nearest["center_2d"]
    assert episode.answer == f"[({x:.3f}, {y:.3f})]"


def test_empty_table_gives_zero_and_an_empty_point_list(agent):
    frame = generate_tabletop(seed=1, num_objects=0).frame
    assert agent.run("how many objects are on the table?", frame).answer == "0"
    assert agent.run("point to the largest object", frame).answer == "[]"


def test_frame_without_depth_fails_with_the_tool_error(agent):
    frame = generate_tabletop(seed=1, num_objects=2).frame
    frame.depth = None
    episode = agent.run("how many objects are on the table?", frame)
    assert episode.state == "failed" and "has no depth" in episode.error
