"""The SpaceTools-named tools through the registry: the chain a model runs, real-frame accuracy, bad inputs."""

import dataclasses
import json

import cv2
import numpy as np
import pytest

from spacetools_ros.agent.factory import build_registry
from spacetools_ros.bench.masks import centroid_pixel, mask_iou
from spacetools_ros.config import load_config
from spacetools_ros.frames.geometry import pixel_to_normalized
from spacetools_ros.sources.folder import FolderSource
from spacetools_ros.sources.synthetic import generate_tabletop
from spacetools_ros.tools.base import ToolContext

SPACETOOLS_NAMES = {
    "roborefer.detect_one", "roborefer.detect_all", "vlm.detect_one", "vlm.detect_all", "sam2.segment_from_point",
    "sam2.segment_from_points", "depth_estimator.estimate_depth", "depth_estimator.estimate_depth_with_pointcloud",
    "bounding_box.compute_bbox", "grasp_generator.compute_grasp", "vision_ops.index_at",
    "vision_ops.project_2d_points_to_3d", "vision_ops.project_3d_points_to_2d", "vision_ops.point_crop",
    "vision_ops.mask_crop", "vision_ops.draw_polygon",
}


@pytest.fixture(scope="module")
def registry():
    return build_registry(load_config())


def call_ok(registry, ctx, name, **arguments):
    record = registry.call(name, arguments, ctx)
    assert record.ok, record.text
    return record


def test_every_protocol_tool_is_registered_with_a_schema(registry):
    assert SPACETOOLS_NAMES <= set(registry.names())
    schemas = {s["function"]["name"]: s["function"] for s in registry.schemas()}
    assert schemas["sam2.segment_from_point"]["parameters"]["required"] == ["x", "y"]
    assert schemas["bounding_box.compute_bbox"]["parameters"]["properties"]["mask"]["type"] == "string"
    json.dumps(schemas)  # every schema is plain JSON


def test_model_style_chain_on_a_generated_scene(registry):
    scene = generate_tabletop(seed=2, num_objects=4)
    ctx = ToolContext([scene.frame])
    target = next(i for i, o in enumerate(scene.objects) if [p.colour for p in scene.objects].count(o.colour) == 1)
    phrase = f"the {scene.objects[target].colour} object"

    depth = call_ok(registry, ctx, "depth_estimator.estimate_depth_with_pointcloud", image_index=0)
    assert {"$depth_map", "$focal_length_px", "$point_cloud"} == set(depth.stored)
    assert ctx.variables.get("point_cloud").shape == (scene.frame.width * scene.frame.height, 3)
    detect = call_ok(registry, ctx, "roborefer.detect_one", obj_name=phrase, image_index=0)
    x, y = ctx.variables.get(f"the_{scene.objects[target].colour}_object_detections")[0]
    call_ok(registry, ctx, "sam2.segment_from_point", x=x, y=y, image_index=0)
    mask = ctx.variables.get("segmentation_mask")
    truth = scene.labels == target
    assert (mask & truth).sum() / (mask | truth).sum() > 0.8, detect.text
    box = call_ok(registry, ctx, "bounding_box.compute_bbox", point_cloud="$point_cloud",
                  mask="$segmentation_mask", focal_length_px="$focal_length_px")
    assert ctx.variables.get("obb_corners_3d").shape == (8, 3) and ctx.variables.get("obb_corners_2d").shape == (8, 2)
    assert ctx.variables.get("edges").shape == (12, 2)
    extent = np.sort(ctx.variables.get("extent"))
    assert np.allclose(extent, np.sort(scene.objects[target].size), atol=0.02), box.text
    grasp = call_ok(registry, ctx, "grasp_generator.compute_grasp", point_cloud="$point_cloud",
                    mask="$segmentation_mask", focal_length_px="$focal_length_px", image_index=0)
    pose = ctx.variables.get("grasp_pose")
    assert pose.shape == (4, 4) and "confidence" in grasp.text and grasp.text.count("(") >= 5
    assert len(grasp.data["gripper_points_2d"]) == 5
    # the grasp centre lies inside the object's box footprint (in the base frame)
    centre_base = scene.frame.T_base_camera @ pose[:, 3]
    assert np.hypot(*(centre_base[:2] - np.asarray(scene.objects[target].position))) < 0.05

    value = call_ok(registry, ctx, "vision_ops.index_at", data="$depth_map", u=x, v=y)
    assert 0.3 < value.data["value"] < 1.5
    call_ok(registry, ctx, "vision_ops.project_2d_points_to_3d", points=[[x, y]], image_index=0)
    back = call_ok(registry, ctx, "vision_ops.project_3d_points_to_2d", points="$points_3d", image_index=0)
    assert np.allclose(back.data["points_2d"][0], [x, y], atol=2 / scene.frame.width)
    call_ok(registry, ctx, "vision_ops.point_crop", point_cloud="$point_cloud", mask="$segmentation_mask")
    assert ctx.variables.get("cropped_points").shape[1] == 3
    crop = call_ok(registry, ctx, "vision_ops.mask_crop", mask="$segmentation_mask", image_index=0)
    drawn = call_ok(registry, ctx, "vision_ops.draw_polygon", points="$obb_corners_2d", image_index=0)
    assert crop.data["image_index"] == 1 and drawn.data["image_index"] == 2 and len(ctx.images) == 3
    assert not np.array_equal(ctx.images[2].rgb, scene.frame.rgb)
    # a crop keeps a consistent camera: its pixels back-project to the same 3D points
    from spacetools_ros.frames.geometry import backproject_depth

    cropped = ctx.images[1]
    ys, xs = np.nonzero(mask)
    original = backproject_depth(scene.frame.depth, scene.frame.intrinsics)[ys[0], xs[0]]
    again = backproject_depth(cropped.depth, cropped.intrinsics)[ys[0] - ys.min(), xs[0] - xs.min()]
    assert np.allclose(original, again)


def test_detect_all_and_free_space(registry):
    scene = generate_tabletop(seed=4, num_objects=5)
    ctx = ToolContext([scene.frame])
    everything = call_ok(registry, ctx, "vlm.detect_all", obj_name="the leftmost object", image_index=0)
    assert len(everything.data["points"]) == 5
    spot = call_ok(registry, ctx, "vlm.detect_one", obj_name="an empty spot on the table", image_index=0)
    (x, y), = spot.data["points"]
    h, w = scene.labels.shape
    assert scene.labels[int(y * h), int(x * w)] == -1


def test_m2t2_segment_from_point_at_each_labelled_centroid(registry, shared_data):
    frame = FolderSource(shared_data / "m2t2_real_scene_00").read()
    seg = cv2.imread(str(shared_data / "m2t2_real_scene_00" / "seg.png"), cv2.IMREAD_UNCHANGED)
    ctx = ToolContext([frame])
    scores = []
    for label in range(101, 113):
        truth = seg == label
        if truth.sum() < 3000:
            continue
        v, u = centroid_pixel(truth)
        x, y = pixel_to_normalized(u, v, frame.width, frame.height)
        record = registry.call("sam2.segment_from_point", {"x": float(x), "y": float(y)}, ctx)
        if not record.ok:
            scores.append(0.0)
            continue
        mask = ctx.variables.get("segmentation_mask")
        scores.append(mask_iou(mask, truth))
    assert len(scores) == 9
    assert np.mean(np.array(scores) >= 0.7) >= 0.8, np.round(scores, 3)


@pytest.mark.parametrize("name,arguments,message", [
    ("sam2.segment_from_point", {"x": 0.5, "y": 0.5, "image_index": 3}, "image_index 3 is out of range"),
    ("sam2.segment_from_point", {"x": 1.5, "y": 0.5}, "in [0, 1]"),
    ("sam2.segment_from_points", {"points": [[0.2, -0.1]]}, "in [0, 1]"),
    ("sam2.segment_from_points", {"points": []}, "non-empty"),
    ("bounding_box.compute_bbox", {"point_cloud": "$point_cloud", "mask": "$nothing", "focal_length_px": 600},
     "unknown variable $nothing"),
    ("bounding_box.compute_bbox", {"point_cloud": "$point_cloud", "mask": "$depth_map", "focal_length_px": 600},
     "mask must be a boolean image"),
    ("bounding_box.compute_bbox", {"point_cloud": "$point_cloud", "mask": "$empty_mask", "focal_length_px": 600},
     "the mask is empty"),
    ("bounding_box.compute_bbox", {"point_cloud": "$depth_map", "mask": "$segmentation_mask",
                                   "focal_length_px": 600}, "point_cloud must be a per-pixel Nx3"),
    ("bounding_box.compute_bbox", {"point_cloud": "$point_cloud", "mask": "$segmentation_mask",
                                   "focal_length_px": "$segmentation_mask"}, "focal_length_px"),
    ("grasp_generator.compute_grasp", {"point_cloud": "$point_cloud", "mask": "$empty_mask",
                                       "focal_length_px": 600}, "the mask is empty"),
    ("vision_ops.index_at", {"data": "$focal_length_px", "u": 0.5, "v": 0.5}, "data: Input should be an instance"),
    ("vision_ops.index_at", {"data": "$extent", "u": 0.5, "v": 0.5}, "not a per-pixel array"),
    ("vision_ops.draw_polygon", {"points": [[0.1, 0.1], [0.2, 0.2]], "color": "mauve"}, "unknown color"),
    ("vision_ops.project_3d_points_to_2d", {"points": [[0.1, 0.1, -1.0]]}, "z > 0"),
    ("roborefer.detect_one", {"obj_name": " "}, "obj_name is empty"),
])
def test_bad_inputs_are_clear_tool_errors(registry, name, arguments, message):
    scene = generate_tabletop(seed=1, num_objects=3)
    ctx = ToolContext([scene.frame])
    call_ok(registry, ctx, "depth_estimator.estimate_depth_with_pointcloud")
    ctx.variables.set("segmentation_mask", scene.labels == 0)
    ctx.variables.set("empty_mask", np.zeros_like(scene.labels, dtype=bool))
    ctx.variables.set("extent", np.array([0.1, 0.2, 0.3]))
    record = registry.call(name, arguments, ctx)
    assert not record.ok and record.text.startswith("Error: ")
    assert message in record.text, record.text


def test_frames_without_depth_give_clear_errors(registry):
    frame = dataclasses.replace(generate_tabletop(seed=1, num_objects=2).frame, depth=None)
    ctx = ToolContext([frame])
    for name, arguments, message in [
        ("depth_estimator.estimate_depth", {}, "no depth model is configured"),
        ("depth_estimator.estimate_depth_with_pointcloud", {}, "no depth model is configured"),
        ("sam2.segment_from_point", {"x": 0.5, "y": 0.5}, "no depth"),
        ("roborefer.detect_one", {"obj_name": "the red box"}, "no depth"),
        ("vision_ops.project_2d_points_to_3d", {"points": [[0.5, 0.5]]}, "has no depth"),
    ]:
        record = registry.call(name, arguments, ctx)
        assert not record.ok and message in record.text, (name, record.text)


def test_point_on_the_table_is_not_an_object(registry):
    scene = generate_tabletop(seed=1, num_objects=2)
    ctx = ToolContext([scene.frame])
    ys, xs = np.nonzero(scene.labels == -1)
    far = np.argmax(np.min([(ys - np.nonzero(scene.labels == i)[0].mean()) ** 2 for i in range(2)], axis=0))
    x, y = pixel_to_normalized(xs[far], ys[far], scene.frame.width, scene.frame.height)
    record = registry.call("sam2.segment_from_point", {"x": float(x), "y": float(y)}, ctx)
    assert not record.ok and "no object under the given point" in record.text
