"""OWLv2 open-vocabulary detection as a PointingBackend (e.g. google/owlv2-base-patch16-ensemble).

OWLv2's image processor pads the image at the bottom and right to a square of side max(H, W) before
resizing it, and the model predicts boxes normalised to that padded square. A normalised box
coordinate u on the square is u * max(H, W) pixels on the original image, so x_orig = u * S / W and
y_orig = v * S / H (S = max(H, W)). When a checkpoint's processor does not pad (do_pad false), the
image is stretched to the square instead and the normalised boxes already fit the original image.
"""

from __future__ import annotations

import numpy as np
import torch

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.perception.backends import BackendError, Detection, PointingBackend
from spacetools_ros.perception.models import ModelConfig
from spacetools_ros.perception.models._common import boxes_to_detections, load_pretrained, to_pil

NMS_IOU = 0.5  # boxes overlapping a better one more than this are the same object


def padded_boxes_to_original(boxes: np.ndarray, height: int, width: int, padded: bool = True) -> np.ndarray:
    """Nx4 xyxy boxes normalised to OWLv2's padded square -> normalised to the original HxW image (unclipped)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    if padded:
        side = float(max(height, width))
        boxes[:, [0, 2]] *= side / width
        boxes[:, [1, 3]] *= side / height
    return boxes


class Owlv2PointingBackend(PointingBackend):
    """Text-conditioned OWLv2 detection: the boxes scoring above the threshold for a phrase, best first."""

    def __init__(self, config: ModelConfig) -> None:
        """Load model and processor from config.path (local files only) onto config.device / config.dtype."""
        from transformers import Owlv2ForObjectDetection, Owlv2Processor

        self.config = config
        self.threshold = float(config.threshold)
        self.model, self.device, self.dtype = load_pretrained(Owlv2ForObjectDetection, config)
        self.processor = Owlv2Processor.from_pretrained(config.path, local_files_only=True)
        self.padded = bool(getattr(self.processor.image_processor, "do_pad", True))

    def detect(self, frame: RGBDFrame, phrase: str, max_results: int) -> list[Detection]:
        """Detections of phrase on frame, best first (at most max_results), points at box centres.

        Overlapping boxes of one object are merged by non-maximum suppression. Raises BackendError
        when no box scores above the configured threshold.
        """
        phrase = phrase.strip()
        if not phrase:
            raise BackendError("an empty phrase cannot be detected: say what to look for")
        inputs = self.processor(text=[[phrase]], images=to_pil(frame), return_tensors="pt", truncation=True)
        pixel_values = inputs["pixel_values"].to(self.device, self.dtype)
        with torch.inference_mode():
            outputs = self.model(
                input_ids=inputs["input_ids"].to(self.device),
                attention_mask=inputs["attention_mask"].to(self.device),
                pixel_values=pixel_values,
            )
        # one image, one text query: logits (1, num_boxes, 1), pred_boxes (1, num_boxes, 4) as cx, cy, w, h
        scores = torch.sigmoid(outputs.logits[0, :, 0].float()).cpu().numpy()
        cxcywh = outputs.pred_boxes[0].float().cpu().numpy()
        xyxy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        boxes = padded_boxes_to_original(xyxy, frame.height, frame.width, self.padded)
        detections = boxes_to_detections(boxes, scores, self.threshold, len(scores), phrase, NMS_IOU)
        if not detections:
            raise BackendError(f"nothing matching '{phrase}' was found")
        return detections[: max(0, int(max_results))]
