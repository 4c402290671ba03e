"""Helpers shared by the model backends: device and dtype resolution, image conversion, box utilities.

Imported only by the backend modules, so torch is imported here at module level.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from PIL import Image

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.perception.backends import Detection
from spacetools_ros.perception.models import ModelConfig, ModelConfigError

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """torch.device for a config string; ModelConfigError when it is malformed or not available here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelConfigError(f"unknown device '{device}': use cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelConfigError(f"device '{device}' requested but CUDA is not available (torch {torch.__version__})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelConfigError(f"device '{device}' requested but only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ModelConfigError(f"device '{device}' requested but MPS is not available")
    elif dev.type != "cpu":
        raise ModelConfigError(f"unsupported device '{device}': use cpu, cuda, cuda:N or mps")
    return dev


def resolve_dtype(dtype: str) -> torch.dtype:
    """torch dtype for a config string ("float32", "float16", "bfloat16")."""
    if dtype not in _DTYPES:
        raise ModelConfigError(f"unknown dtype '{dtype}': valid dtypes are {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def load_pretrained(model_class: type, config: ModelConfig) -> tuple[torch.nn.Module, torch.device, torch.dtype]:
    """model_class.from_pretrained(config.path) on the configured device and dtype, in eval mode, local files only.

    Raises ModelConfigError for an unavailable device or a checkpoint with missing or mis-shaped weights.
    """
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype)
    model, info = model_class.from_pretrained(config.path, dtype=dtype, local_files_only=True, output_loading_info=True)
    # transformers initialises absent or mis-shaped weights randomly and only warns: refuse such a model
    for key, problem in (("missing_keys", "lacks"), ("mismatched_keys", "has wrongly shaped")):
        bad = sorted(str(k) for k in info.get(key) or ())
        if bad:
            raise ModelConfigError(
                f"the checkpoint {problem} {len(bad)} weight(s) of {model_class.__name__} "
                f"(e.g. {', '.join(bad[:3])}): it is incomplete or of another model"
            )
    model.to(device)
    model.eval()
    return model, device, dtype


def to_pil(frame: RGBDFrame) -> Image.Image:
    """The frame's colour image as an RGB PIL image (unambiguous for every image processor)."""
    return Image.fromarray(np.ascontiguousarray(frame.rgb))


def image_key(rgb: np.ndarray) -> tuple:
    """A cheap content key of an image, to reuse per-image results (e.g. SAM image embeddings)."""
    return (rgb.shape, hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest())


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression: indices of the kept boxes (Nx4 xyxy), best score first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        x0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
        order = rest[iou <= iou_threshold]
    return keep


def boxes_to_detections(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, max_results: int, label: str, nms_iou: float = 0.5
) -> list[Detection]:
    """Detections (best first, at most max_results) from Nx4 normalised xyxy boxes on the original image.

    Boxes are clipped to the image; boxes above threshold that are empty after clipping are dropped,
    overlapping boxes are suppressed (NMS at nms_iou), and each point is its box's centre.
    """
    boxes = np.clip(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), 0.0, 1.0)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    ok = (scores > threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & np.isfinite(scores)
    boxes, scores = boxes[ok], scores[ok]
    detections = []
    for i in nms(boxes, scores, nms_iou)[: max(0, int(max_results))]:
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        detections.append(
            Detection(point=((x0 + x1) / 2, (y0 + y1) / 2), score=float(scores[i]), box=(x0, y0, x1, y1), label=label)
        )
    return detections
