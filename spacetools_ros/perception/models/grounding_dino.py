"""Grounding DINO open-set detection as a PointingBackend (e.g. IDEA-Research/grounding-dino-tiny).

The phrase is lower-cased and ended with "." as Grounding DINO expects. A box's score is its best
token probability over the phrase's own tokens (special tokens and the final "." excluded). The
model predicts boxes normalised to the (unpadded) resized image, which has the original aspect
ratio, so normalised boxes map directly onto the original image.
"""

from __future__ import annotations

import numpy as np
import torch

from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.perception.backends import BackendError, Detection, PointingBackend
from spacetools_ros.perception.models import ModelConfig
from spacetools_ros.perception.models._common import boxes_to_detections, load_pretrained, to_pil

NMS_IOU = 0.5  # boxes overlapping a better one more than this are the same object


def grounding_text(phrase: str) -> str:
    """The phrase as Grounding DINO's text prompt: lower case, ending with a period."""
    text = " ".join(phrase.strip().lower().split())
    return text if text.endswith(".") else text + "."


class GroundingDinoPointingBackend(PointingBackend):
    """Text-conditioned Grounding DINO detection: the boxes scoring above the threshold, best first."""

    def __init__(self, config: ModelConfig) -> None:
        """Load model and processor from config.path (local files only) onto config.device / config.dtype."""
        from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

        self.config = config
        self.threshold = float(config.threshold)
        self.model, self.device, self.dtype = load_pretrained(GroundingDinoForObjectDetection, config)
        self.processor = GroundingDinoProcessor.from_pretrained(config.path, local_files_only=True)
        tokenizer = self.processor.tokenizer
        ignored = {tokenizer.convert_tokens_to_ids(".")} | set(tokenizer.all_special_ids)
        self._ignored_ids = {i for i in ignored if isinstance(i, int) and i >= 0}

    def detect(self, frame: RGBDFrame, phrase: str, max_results: int) -> list[Detection]:
        """Detections of phrase on frame, best first (at most max_results), points at box centres.

        Raises BackendError when no box scores above the configured threshold.
        """
        if not phrase.strip():
            raise BackendError("an empty phrase cannot be detected: say what to look for")
        text = grounding_text(phrase)
        inputs = self.processor(images=to_pil(frame), text=text, return_tensors="pt", truncation=True)
        model_inputs = {k: v.to(self.device) for k, v in inputs.items()}
        model_inputs["pixel_values"] = model_inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            outputs = self.model(**model_inputs)
        input_ids = inputs["input_ids"][0].tolist()
        attention = inputs["attention_mask"][0].tolist()
        positions = [
            i for i, (t, a) in enumerate(zip(input_ids, attention, strict=True)) if a and t not in self._ignored_ids
        ]
        logits = outputs.logits[0].float()  # (num_queries, max_text_len), one column per text token
        if positions:
            logits = logits[:, positions]
        scores = torch.sigmoid(logits).max(dim=-1).values.cpu().numpy()
        cxcywh = outputs.pred_boxes[0].float().cpu().numpy()
        xyxy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        label = phrase.strip()
        detections = boxes_to_detections(xyxy, scores, self.threshold, len(scores), label, NMS_IOU)
        if not detections:
            raise BackendError(f"nothing matching '{label}' was found")
        return detections[: max(0, int(max_results))]
