"""One evaluation item (image, optional depth and intrinsics, question, gold answer) and how it becomes an
RGBDFrame and a region mask."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from spacetools_ros.frames.frame import Intrinsics, RGBDFrame
from spacetools_ros.sources.folder import read_depth_png, read_rgb

ANSWER_TYPES = ("count", "yesno", "choice", "point", "bbox3d", "grasp")
ASSUMED_HFOV_DEG = 60.0  # pinhole assumed for images that come without intrinsics

ImageSource = Path | bytes  # a file, or encoded image bytes (PNG/JPEG) as parquet datasets store them


class DatasetError(ValueError):
    """A dataset that cannot be read: missing files, unknown layout, malformed records (says which)."""


@dataclass
class EvalItem:
    """One question of a benchmark, in the form the runner needs.

    answer is the gold answer as the dataset gives it (an int or "10" for count, "yes"/"no" or a bool for
    yesno, "(A)"/"A" for choice with choices the option texts, the 8 corners for bbox3d, the 5 gripper points
    for grasp; for point items the gold is the region: a mask (region, non-zero = inside) or a polygon in
    normalised coordinates (region_polygon)). intrinsics are [fx, fy, cx, cy] in pixels; without them a
    pinhole of ASSUMED_HFOV_DEG is assumed (and said in the frame's metadata). depth is a .npy of metres or a
    16-bit PNG of depth_scale metres per unit.
    """

    id: str
    question: str
    answer_type: str
    answer: Any
    image: ImageSource
    depth: Path | None = None
    depth_scale: float = 0.001
    intrinsics: list[float] | None = None
    T_base_camera: list[list[float]] | None = None
    region: ImageSource | np.ndarray | None = None
    region_polygon: list[tuple[float, float]] | None = None
    choices: list[str] | None = None
    category: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.answer_type not in ANSWER_TYPES:
            raise DatasetError(f"item {self.id}: answer_type {self.answer_type!r} is not one of "
                               f"{', '.join(ANSWER_TYPES)}")
        self.category = self.category or self.answer_type

    def gold_json(self) -> Any:
        """The gold answer as JSON: the answer, or for point items a description of the region."""
        if self.answer_type != "point":
            return self.answer
        if self.region_polygon is not None:
            return {"polygon": [list(p) for p in self.region_polygon]}
        if isinstance(self.region, Path):
            return {"region": str(self.region)}
        return {"region": "mask embedded in the dataset"} if self.region is not None else None


def decode_image(data: bytes, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, ...) with OpenCV; DatasetError when they are not an image."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None:
        raise DatasetError("embedded image bytes could not be decoded")
    return image


def image_source(value: Any, base: Path) -> ImageSource | None:
    """An image reference as datasets store it, resolved: a path (relative to base), a data: URI, raw bytes,
    or a Hugging Face Image struct {"bytes": ..., "path": ...}; None for none."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict):
        data = value.get("bytes") or value.get("data")
        if data:
            return bytes(data) if not isinstance(data, str) else image_source(data, base)
        inner = value.get("image") or value.get("path")
        return image_source(inner, base) if inner else None
    if isinstance(value, str):
        if value.startswith("data:"):
            return base64.b64decode(value.split(",", 1)[1])
        return base / value
    raise DatasetError(f"cannot read an image from a {type(value).__name__}")


def read_item_rgb(source: ImageSource) -> np.ndarray:
    """The item's colour image as uint8 HxWx3 RGB (folder.read_rgb for files)."""
    if isinstance(source, Path):
        return read_rgb(source)
    return cv2.cvtColor(decode_image(source), cv2.COLOR_BGR2RGB)


def read_item_depth(path: Path, depth_scale: float) -> np.ndarray:
    """Depth in metres from a .npy (metres) or a 16-bit PNG (folder.read_depth_png with depth_scale)."""
    if not path.is_file():
        raise DatasetError(f"depth {path} does not exist")
    if path.suffix.lower() == ".npy":
        return np.load(path).astype(np.float32)
    return read_depth_png(path, depth_scale)


def assumed_intrinsics(width: int, height: int) -> Intrinsics:
    """A centred pinhole with a horizontal field of view of ASSUMED_HFOV_DEG (square pixels)."""
    f = (width / 2.0) / math.tan(math.radians(ASSUMED_HFOV_DEG) / 2.0)
    return Intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


def load_frame(item: EvalItem) -> RGBDFrame:
    """The RGBDFrame the agent gets for an item (image, depth, intrinsics and T_base_camera as given)."""
    rgb = read_item_rgb(item.image)
    h, w = rgb.shape[:2]
    depth = read_item_depth(item.depth, item.depth_scale) if item.depth is not None else None
    if depth is not None and depth.shape != (h, w):
        raise DatasetError(f"item {item.id}: depth is {depth.shape[1]}x{depth.shape[0]}, image {w}x{h}")
    metadata: dict[str, Any] = {"source": str(item.image) if isinstance(item.image, Path) else "embedded image",
                                "eval_item": item.id}
    if item.intrinsics is not None:
        values = [float(v) for v in item.intrinsics]
        if len(values) != 4:
            raise DatasetError(f"item {item.id}: intrinsics must be [fx, fy, cx, cy], got {item.intrinsics}")
        intrinsics = Intrinsics(values[0], values[1], values[2], values[3], w, h)
    else:
        intrinsics = assumed_intrinsics(w, h)
        metadata["intrinsics"] = f"assumed ({ASSUMED_HFOV_DEG:.0f} deg horizontal field of view)"
    pose = None
    if item.T_base_camera is not None:
        pose = np.asarray(item.T_base_camera, dtype=np.float64)
        if pose.size != 16:
            raise DatasetError(f"item {item.id}: T_base_camera must be 4x4 (16 numbers)")
        pose = pose.reshape(4, 4)
    return RGBDFrame(rgb=rgb, depth=depth, intrinsics=intrinsics, T_base_camera=pose, metadata=metadata)


def load_region(item: EvalItem, width: int, height: int) -> np.ndarray | None:
    """The gold region of a point item as an HxW bool mask: its mask image (non-zero = inside, any channel)
    at its own resolution, or its polygon rasterised at the image's width x height; None when there is none."""
    from spacetools_ros.eval.metrics import polygon_mask

    if item.region_polygon is not None:
        return polygon_mask(item.region_polygon, width, height)
    if item.region is None:
        return None
    if isinstance(item.region, np.ndarray):
        mask = item.region
    elif isinstance(item.region, Path):
        if not item.region.is_file():
            raise DatasetError(f"item {item.id}: region mask {item.region} does not exist")
        mask = cv2.imread(str(item.region), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise DatasetError(f"item {item.id}: cannot read region mask {item.region}")
    else:
        mask = decode_image(item.region, cv2.IMREAD_UNCHANGED)
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., :3].any(axis=2) if mask.shape[2] >= 3 else mask.any(axis=2)
    return mask.astype(bool)
