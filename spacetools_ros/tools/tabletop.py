"""Tool: the table plane and the objects on it, from the depth of one image."""

from __future__ import annotations

import numpy as np

from spacetools_ros.perception.tabletop import SegmentedObject, TabletopConfig, segment_tabletop
from spacetools_ros.tools.base import ToolContext, ToolError, ToolResult, tool


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


def describe_object(obj: SegmentedObject) -> str:
    """One line a model can read: where the object is in the image and in 3D, and how big it is."""
    x, y = obj.center_2d
    if obj.centroid_base is not None:
        where = f"base {_fmt(obj.centroid_base)}"
    else:
        where = f"camera {_fmt(obj.centroid_camera)}"
    r, g, b = obj.mean_rgb
    return (f"object {obj.id}: point ({x:.3f}, {y:.3f}), {where} m, size {_fmt(obj.extent)} m, "
            f"height {obj.height_m:.3f} m, {float(np.linalg.norm(obj.centroid_camera)):.3f} m from camera, "
            f"rgb ({r}, {g}, {b})")


def make_segment_objects_tool(config: TabletopConfig | None = None):
    """The tabletop.segment_objects tool, bound to a segmentation configuration."""

    @tool("tabletop.segment_objects")
    def segment_objects(ctx: ToolContext, image_index: int = 0) -> ToolResult:
        """Find the table plane and segment the objects standing on it (plane removal and clustering of the
        image's depth). Lists each object's image point, 3D centroid, size and height above the table; stores
        $objects (list of objects with masks), $object_labels (HxW instance ids, -1 for none) and $table_plane.

        Args:
            image_index: 0-based index of the image (with depth) in the conversation.
        """
        frame = ctx.image(image_index)
        if not frame.has_depth:
            raise ToolError(f"image {image_index} has no depth; tabletop segmentation needs an RGB-D frame")
        try:
            scene = segment_tabletop(frame, config)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        frame_name = "robot base" if frame.T_base_camera is not None else "camera"
        lines = [f"Table plane found; {len(scene.objects)} object(s) on it (3D in the {frame_name} frame):"]
        lines += [describe_object(o) for o in scene.objects]
        return ToolResult(
            text="\n".join(lines),
            data={"num_objects": len(scene.objects), "base_frame_known": frame.T_base_camera is not None,
                  "objects": [o.to_dict() for o in scene.objects]},
            variables={"objects": scene.objects, "object_labels": scene.labels, "table_plane": scene.plane},
        )

    return segment_objects
