"""SAM point-prompted segmentation as a SegmentationBackend (e.g. facebook/sam-vit-base).

The processor resizes the longest image edge to the model's input size and pads bottom/right; prompt
points are given in pixels of the original image and rescaled by the processor, and post_process_masks
crops the padding and resizes the low-resolution masks back to the original HxW.
"""

from __future__ import annotations

import numpy as np
import torch

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.perception.backends import BackendError, SegmentationBackend
from spacetools_ros.perception.models import ModelConfig
from spacetools_ros.perception.models._common import image_key, load_pretrained, to_pil


class SamSegmentationBackend(SegmentationBackend):
    """SAM with all points as foreground prompts; the best of the multimask outputs by predicted IoU.

    The image embedding of the last frame is cached, so segmenting several objects of one frame runs
    the (expensive) image encoder once.
    """

    def __init__(self, config: ModelConfig) -> None:
        """Load model and processor from config.path (local files only) onto config.device / config.dtype."""
        from transformers import SamModel, SamProcessor

        self.config = config
        self.model, self.device, self.dtype = load_pretrained(SamModel, config)
        self.processor = SamProcessor.from_pretrained(config.path, local_files_only=True)
        self._cache_key: tuple | None = None
        self._cache_embeddings: torch.Tensor | None = None

    def _embeddings(self, frame: RGBDFrame, pixel_values: torch.Tensor) -> torch.Tensor:
        """The image embeddings of frame, from the one-entry cache when the image is unchanged."""
        key = image_key(frame.rgb)
        if key != self._cache_key or self._cache_embeddings is None:
            with torch.inference_mode():
                embeddings = self.model.get_image_embeddings(pixel_values.to(self.device, self.dtype))
            self._cache_key, self._cache_embeddings = key, embeddings
        return self._cache_embeddings

    def segment(self, frame: RGBDFrame, points: np.ndarray) -> tuple[np.ndarray, float]:
        """(HxW bool mask, predicted IoU) of the object under points (Kx2 normalised x, y, all on the object).

        Raises BackendError for no or non-finite points, and when the best mask is empty.
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.size == 0 or pts.ndim > 2 or pts.shape[-1] != 2:
            raise BackendError(f"segmentation needs one or more (x, y) points, got an array of shape {pts.shape}")
        pts = pts.reshape(-1, 2)
        if not np.all(np.isfinite(pts)):
            raise BackendError("segmentation points must be finite")
        h, w = frame.height, frame.width
        pixels = np.clip(pts, 0.0, 1.0) * np.array([w, h], dtype=np.float64)
        inputs = self.processor(
            images=to_pil(frame),
            input_points=[pixels.tolist()],
            input_labels=[[1] * len(pixels)],
            return_tensors="pt",
        )
        embeddings = self._embeddings(frame, inputs["pixel_values"])
        with torch.inference_mode():
            outputs = self.model(
                image_embeddings=embeddings,
                input_points=inputs["input_points"].to(self.device, self.dtype),
                input_labels=inputs["input_labels"].to(self.device),
                multimask_output=True,
            )
        masks = self.processor.post_process_masks(
            outputs.pred_masks.float().cpu(), inputs["original_sizes"], inputs["reshaped_input_sizes"]
        )[0][0]  # (num_masks, H, W) bool for the one image and the one prompt
        iou = outputs.iou_scores[0, 0].float().cpu().numpy()
        best = int(np.argmax(iou))
        mask = masks[best].numpy().astype(bool)
        if mask.shape != (h, w):  # post_process_masks resizes to the original size; guard the contract
            raise BackendError(f"segmentation returned a {mask.shape} mask for a {h}x{w} image")
        if not mask.any():
            raise BackendError("no object was found under the given points (the segmentation is empty)")
        return mask, float(iou[best])
