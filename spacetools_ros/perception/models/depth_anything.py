"""Monocular depth (Depth Anything and other DPT-style depth models) as a DepthBackend.

Units: metric checkpoints (e.g. depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf, whose config has
depth_estimation_type "metric") predict metres; the backend multiplies them by ModelConfig.depth_scale
(1.0 keeps them). Relative checkpoints (depth_estimation_type "relative", the default Depth Anything
ones, and DPT/MiDaS) predict relative inverse depth (disparity) with an unknown scale: the backend returns
depth = depth_scale / disparity, which is only metric once depth_scale is calibrated for the camera (the
unknown shift of affine-invariant disparity is ignored). Pixels with no usable prediction are 0, which marks
invalid depth in this project.

Focal length: these models do not estimate it; the backend returns the frame's intrinsics fx (frames
always carry intrinsics here), so back-projection with the returned depth uses the real camera.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.perception.backends import BackendError, DepthBackend
from spacetools_ros.perception.models import ModelConfig
from spacetools_ros.perception.models._common import load_pretrained, to_pil

_LOG = logging.getLogger(__name__)

MIN_DISPARITY = 1e-6  # relative models: disparities at or below this give no depth (0)
RELATIVE_MODEL_TYPES = ("dpt",)  # model types without depth_estimation_type that predict disparity


def depth_estimation_type(model_config: object) -> str:
    """ "metric" or "relative" for a transformers model config (depth_estimation_type, else by model type)."""
    kind = getattr(model_config, "depth_estimation_type", None)
    if kind in ("metric", "relative"):
        return kind
    return "relative" if getattr(model_config, "model_type", "") in RELATIVE_MODEL_TYPES else "metric"


def prediction_to_metres(prediction: np.ndarray, kind: str, depth_scale: float) -> np.ndarray:
    """A model's HxW prediction as float32 metres: metric * depth_scale, or depth_scale / disparity; 0 = invalid."""
    pred = np.asarray(prediction, dtype=np.float64)
    if kind == "metric":
        depth = pred * depth_scale
    else:
        ok = np.isfinite(pred) & (pred > MIN_DISPARITY)
        depth = np.where(ok, depth_scale / np.where(ok, pred, 1.0), 0.0)
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
    return depth.astype(np.float32)


class DepthAnythingBackend(DepthBackend):
    """AutoModelForDepthEstimation + its image processor; the prediction is resized to the frame's HxW."""

    def __init__(self, config: ModelConfig) -> None:
        """Load model and image processor from config.path (local files only) onto config.device / config.dtype."""
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        self.config = config
        self.depth_scale = float(config.depth_scale)
        self.model, self.device, self.dtype = load_pretrained(AutoModelForDepthEstimation, config)
        self.image_processor = AutoImageProcessor.from_pretrained(config.path, local_files_only=True)
        self.kind = depth_estimation_type(self.model.config)
        if self.kind == "relative" and self.depth_scale == 1.0:
            _LOG.warning(
                "depth model at %s predicts relative inverse depth: set depth_scale to calibrate it to metres",
                config.path,
            )

    def estimate(self, frame: RGBDFrame) -> tuple[np.ndarray, float]:
        """(HxW float32 depth in metres, 0 where invalid; the frame's fx in pixels)."""
        h, w = frame.height, frame.width
        inputs = self.image_processor(images=to_pil(frame), return_tensors="pt")
        with torch.inference_mode():
            outputs = self.model(pixel_values=inputs["pixel_values"].to(self.device, self.dtype))
            pred = outputs.predicted_depth.float()  # (1, h', w') at the network resolution
            if pred.ndim == 3:
                pred = pred[:, None]
            # bilinear (not bicubic) so that the resized prediction never overshoots below zero
            pred = torch.nn.functional.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
        depth = prediction_to_metres(pred[0, 0].cpu().numpy(), self.kind, self.depth_scale)
        if not depth.any():
            raise BackendError("the depth model predicted no valid depth for this frame")
        return depth, float(frame.intrinsics.fx)
