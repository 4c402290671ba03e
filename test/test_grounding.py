"""Classical grounding: referring expressions and free space, on generated and real scenes."""

import cv2
import numpy as np
import pytest

from spacetools_ros.frames.geometry import normalized_to_pixel
from spacetools_ros.perception.backends import BackendError
from spacetools_ros.perception.grounding import ClassicalGrounding, parse_reference
from spacetools_ros.perception.scene_cache import SceneCache
from spacetools_ros.sources.folder import FolderSource
from spacetools_ros.sources.synthetic import generate_tabletop


def _label_at(labels: np.ndarray, point) -> int:
    h, w = labels.shape
    u, v = normalized_to_pixel(point[0], point[1], w, h)
    return int(labels[int(round(float(v))), int(round(float(u)))])


@pytest.mark.parametrize("phrase,colour,shape,superlative,relation", [
    ("the red cup", "red", "cup", None, None),
    ("The LARGEST object", None, None, ("volume", True), None),
    ("the grey mug on the left", "gray", "cup", ("right", False), None),
    ("the object closest to the robot", None, None, ("robot_distance", False), None),
    ("the can left of the blue bowl", None, "cylinder", None, "left"),
    ("an empty spot behind the box", None, None, None, "behind"),
])
def test_parse_reference(phrase, colour, shape, superlative, relation):
    ref = parse_reference(phrase)
    assert (ref.colour, ref.shape, ref.superlative, ref.relation) == (colour, shape, superlative, relation)


def test_parse_reference_reads_the_anchor_and_free_space():
    ref = parse_reference("an empty spot left of the blue bowl")
    assert ref.free_space and ref.relation == "left"
    assert ref.anchor.colour == "blue" and ref.anchor.shape == "bowl" and not ref.anchor.free_space


@pytest.fixture(scope="module")
def m2t2(shared_data_module):
    frame = FolderSource(shared_data_module / "m2t2_real_scene_00").read()
    seg = cv2.imread(str(shared_data_module / "m2t2_real_scene_00" / "seg.png"), cv2.IMREAD_UNCHANGED)
    return frame, seg, ClassicalGrounding(SceneCache())


@pytest.mark.parametrize("phrase,label", [
    ("the leftmost object", 102),  # the cracker box
    ("the largest object", 106),  # the toy airplane
    ("the object closest to the robot", 107),  # the yellow cup, right in front of the arm
    ("the yellow cup", 107),
    ("the pink bowl", 105),
])
def test_real_scene_phrases_point_inside_the_right_object(m2t2, phrase, label):
    frame, seg, grounding = m2t2
    (detection,) = grounding.detect(frame, phrase, 1)
    assert _label_at(seg, detection.point) == label


def test_real_scene_free_spot_lies_on_the_table_away_from_objects(m2t2):
    frame, seg, grounding = m2t2
    perception = grounding.cache.get(frame)
    for phrase in ("an empty spot on the table", "an empty spot left of the pink bowl"):
        (detection,) = grounding.detect(frame, phrase, 1)
        h, w = seg.shape
        u, v = (int(round(float(c))) for c in normalized_to_pixel(*detection.point, w, h))
        assert perception.scene.plane.inlier_mask[v, u], phrase
        point = perception.cloud[v, u]
        objects = perception.cloud[(perception.scene.labels >= 0) & np.isfinite(perception.cloud[..., 2])]
        assert np.min(np.linalg.norm(objects - point, axis=1)) >= 0.05, phrase


@pytest.fixture(scope="module")
def synthetic_scenes():
    return [generate_tabletop(seed=s, num_objects=3 + s % 4) for s in range(5)]


def test_colour_phrases_find_each_uniquely_coloured_object(synthetic_scenes):
    checked = 0
    for scene in synthetic_scenes:
        grounding = ClassicalGrounding(SceneCache())
        colours = [o.colour for o in scene.objects]
        for index, spec in enumerate(scene.objects):
            if colours.count(spec.colour) != 1:
                continue
            noun = "box" if spec.shape == "box" else "can"
            for phrase in (f"the {spec.colour} object", f"the {spec.colour} {noun}"):
                (detection,) = grounding.detect(scene.frame, phrase, 1)
                assert _label_at(scene.labels, detection.point) == index, (phrase, scene.frame.metadata)
                checked += 1
    assert checked >= 10


def test_superlatives_match_ground_truth(synthetic_scenes):
    for scene in synthetic_scenes:
        grounding = ClassicalGrounding(SceneCache())
        heights = [o.height for o in scene.objects]
        if sorted(heights)[-1] - sorted(heights)[-2] > 0.02:
            (d,) = grounding.detect(scene.frame, "the tallest object", 1)
            assert _label_at(scene.labels, d.point) == int(np.argmax(heights))
        (d,) = grounding.detect(scene.frame, "the object closest to the robot", 1)
        assert _label_at(scene.labels, d.point) == int(np.argmin([np.hypot(*o.position) for o in scene.objects]))


def test_relations_and_free_space_respect_the_side(synthetic_scenes):
    scene = synthetic_scenes[3]
    grounding = ClassicalGrounding(SceneCache())
    camera_from_base = np.linalg.inv(scene.frame.T_base_camera)
    x_cam = [(camera_from_base[:3, :3] @ [*o.position, 0.0] + camera_from_base[:3, 3])[0] for o in scene.objects]
    rightmost = int(np.argmax(x_cam))
    anchor = f"the {scene.objects[rightmost].colour} object"
    (d,) = grounding.detect(scene.frame, f"the object left of {anchor}", 1)
    assert x_cam[_label_at(scene.labels, d.point)] < x_cam[rightmost]
    (spot,) = grounding.detect(scene.frame, f"an empty spot left of {anchor}", 1)
    assert _label_at(scene.labels, spot.point) == -1
    perception = grounding.cache.get(scene.frame)
    h, w = scene.labels.shape
    u, v = (int(round(float(c))) for c in normalized_to_pixel(*spot.point, w, h))
    assert perception.cloud[v, u, 0] < x_cam[rightmost]


def test_grounding_errors_are_clear(synthetic_scenes):
    scene = synthetic_scenes[0]
    grounding = ClassicalGrounding(SceneCache())
    missing = next(c for c in ("green", "purple", "white", "black", "blue") if c not in
                   {o.colour for o in scene.objects})
    with pytest.raises(BackendError, match=f"no {missing} object found"):
        grounding.detect(scene.frame, f"the {missing} object", 1)
    with pytest.raises(BackendError, match="names need a model backend"):
        grounding.detect(scene.frame, "the ketchup", 1)
    frame = scene.frame
    frame.depth = None
    with pytest.raises(BackendError, match="no depth"):
        ClassicalGrounding(SceneCache()).detect(frame, "the largest object", 1)
