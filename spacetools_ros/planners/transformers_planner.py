"""A planner on a local Qwen2.5-VL-family checkpoint (e.g. the SpaceTools fine-tune), run with transformers.

The model, its tokenizer and its image processor are loaded from a local folder at construction (nothing is
downloaded). No torchvision is needed: the processor is assembled from the tokenizer and the PIL image
processor, without a video processor.

Prompt format (hermes / Qwen2.5 style, as SpaceTools was trained):

- system, user and assistant messages become ``<|im_start|>{role}\\n{content}<|im_end|>`` turns;
- each image of a message (its "image_indices", in order) becomes ``<|vision_start|><|image_pad|><|vision_end|>``
  at the next ``<image>`` marker of its text, or after the text when the text has no marker left;
- tool messages become a user turn wrapping each result in ``<tool_response>\\n...\\n</tool_response>``
  (consecutive tool messages share one user turn);
- the prompt ends with the generation prompt ``<|im_start|>assistant\\n``.

The checkpoint's own chat template is used when it renders tool messages and images that way (checked with a
probe conversation at load); otherwise (the official Qwen2.5-VL template has no tool support) the built-in
CHAT_TEMPLATE below is used.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoTokenizer
from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor

from spacetools_ros.config import PlannerConfig
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.perception.models import ModelConfig, ModelConfigError
from spacetools_ros.perception.models._common import load_pretrained, resolve_device, resolve_dtype, to_pil
from spacetools_ros.planners.base import Planner, PlannerError
from spacetools_ros.planners.chat import interleave, message_role, message_text

try:  # transformers 5.x: the PIL backend needs no torchvision
    from transformers import Qwen2VLImageProcessorPil as _ImageProcessor
except ImportError:  # pragma: no cover - older transformers, whose default image processor is PIL based
    from transformers import Qwen2VLImageProcessor as _ImageProcessor

MODEL_TYPES = ("qwen2_5_vl", "qwen2_vl")
"""config.json model_type values this planner runs (both use the same tokens and image processor)."""

"""Where a message's text places its next image (the agent's user message starts with it)."""

VISION_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
"""One image in the rendered prompt; the processor expands <|image_pad|> to the image's patch tokens."""

PROTOCOL_MARKERS = (
    "<think>", "</think>", "<tool_call>", "</tool_call>", "<answer>", "</answer>", "<tool_response>",
    "</tool_response>",
)
"""Protocol tags that are plain text for us, kept in decoded replies even where a tokenizer marks them special."""


# Written for this project. Message content is a string or a list of {"type": "text", "text": ...} and
# {"type": "image"} items; tool messages are grouped into one user turn of <tool_response> blocks.
CHAT_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- else -%}{%- for item in content -%}"
    "{%- if item.type == 'image' -%}" + VISION_PLACEHOLDER +
    "{%- elif item.type == 'text' -%}{{ item.text }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'tool' -%}"
    "{%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}<|im_start|>user{%- endif -%}"
    "{{ '\\n<tool_response>\\n' }}{{ render(message.content) }}{{ '\\n</tool_response>' }}"
    "{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{ '<|im_end|>\\n' }}{%- endif -%}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message.role + '\\n' }}{{ render(message.content) }}{{ '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


class _ImageOnlyProcessor(Qwen2_5_VLProcessor):
    """The Qwen2.5-VL processor without a video processor (whose constructor needs torchvision).

    ProcessorMixin derives its sub-processors from this __init__'s parameters: image_processor and tokenizer.
    """

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


def _error(path: str, problem: str) -> ModelConfigError:
    return ModelConfigError(f"transformers planner model at {path}: {problem}")


def check_model_folder(path: str) -> Path:
    """The model folder of a planner config, after checking it holds a Qwen2.5-VL-family config.json.

    Raises ModelConfigError naming the path when it is unset, missing, not a folder, has no readable
    config.json, or holds a model of another type.
    """
    if not path:
        raise ModelConfigError("transformers planner: no model set: point planner_options.model at a local "
                               "Qwen2.5-VL model folder (e.g. the SpaceTools checkpoint)")
    folder = Path(path).expanduser()
    if not folder.exists():
        raise _error(path, f"{path} does not exist: download the model on a machine with network and point "
                           "planner_options.model at the folder")
    if not folder.is_dir():
        raise _error(path, f"{path} is not a folder: point planner_options.model at the model folder")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise _error(path, f"{folder} has no config.json: point planner_options.model at the folder holding "
                           "config.json, the weights, the tokenizer and preprocessor_config.json")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise _error(path, f"{config_file} is not a readable JSON object: {exc}") from exc
    if model_type not in MODEL_TYPES:
        raise _error(path, f"the model is of type '{model_type}', not {' or '.join(MODEL_TYPES)} (Qwen2.5-VL family)")
    return folder


def to_chat(messages: list[dict[str, Any]], images: list[RGBDFrame]) -> tuple[list[dict[str, Any]], list[int]]:
    """Our messages as chat-template messages with content lists, and the image indices in prompt order.

    Each image of a message's "image_indices" replaces the next "<image>" marker of its text, or follows
    the text when no marker is left; a marker without an image stays text. PlannerError for an unknown role
    or an image index out of range.
    """
    chat: list[dict[str, Any]] = []
    order: list[int] = []
    for number, message in enumerate(messages):
        role = message_role(message, number)
        content: list[dict[str, Any]] = []
        pieces = interleave(message_text(message.get("content")), list(message.get("image_indices") or []),
                            images, number)
        for kind, value in pieces:
            if kind == "image":
                content.append({"type": "image"})
                order.append(value)
            else:
                content.append({"type": "text", "text": value})
        chat.append({"role": role, "content": content})
    return chat, order


_PROBE = [
    {"role": "system", "content": [{"type": "text", "text": "probe system"}]},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "probe user"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "probe assistant"}]},
    {"role": "tool", "content": [{"type": "text", "text": "probe tool one"}]},
    {"role": "tool", "content": [{"type": "text", "text": "probe tool two"}, {"type": "image"}]},
]


def _template_fits(tokenizer: Any, template: Any) -> bool:
    """Whether a checkpoint's chat template renders our conversations: tool results wrapped in <tool_response>,
    one vision placeholder per image, every text, and the assistant generation prompt at the end."""
    if not isinstance(template, str) or "tool" not in template:
        return False
    try:
        text = tokenizer.apply_chat_template(_PROBE, chat_template=template, tokenize=False,
                                             add_generation_prompt=True)
    except Exception:  # a template that fails on our messages does not fit
        return False
    if not isinstance(text, str):
        return False
    wrapped = all(f"<tool_response>\n{t}" in text for t in ("probe tool one", "probe tool two"))
    texts = all(t in text for t in ("probe system", "probe user", "probe assistant"))
    return (wrapped and texts and text.count(VISION_PLACEHOLDER) == 2 and "<|im_start|>tool" not in text
            and text.endswith("<|im_start|>assistant\n"))


class TransformersPlanner(Planner):
    """Plans with a local Qwen2.5-VL-family model (the SpaceTools checkpoint or any fine-tune of Qwen2.5-VL).

    Construction loads everything (model on config.device in config.dtype, tokenizer, PIL image processor) and
    raises ModelConfigError naming the path for a missing or invalid folder, an unavailable device, an unknown
    dtype or bad generation settings. respond() renders the conversation (see the module docstring), runs
    generation (greedy when config.temperature == 0, else sampling at that temperature; at most
    config.max_new_tokens new tokens) and returns only the new text, with special tokens removed but the
    protocol tags (<think>, <tool_call>, <answer>, ...) kept. It raises PlannerError when the prompt and the
    reply would not fit the model's context (nothing is truncated) and when generation fails.

    Attributes: chat_template (the template in use), chat_template_source ("checkpoint" or "builtin"),
    max_positions (the model's context in tokens), last_prompt (the text of the latest prompt, before the
    processor expands the image placeholders; None before the first call).
    """

    name = "transformers"

    def __init__(self, config: PlannerConfig) -> None:
        self.config = config
        if not isinstance(config.max_new_tokens, int) or config.max_new_tokens < 1:
            raise ModelConfigError(f"transformers planner: max_new_tokens must be >= 1, got {config.max_new_tokens!r}")
        if not config.temperature >= 0.0:
            raise ModelConfigError(f"transformers planner: temperature must be >= 0, got {config.temperature!r}")
        folder = check_model_folder(config.model)
        path = str(folder)
        try:  # device and dtype first: an unavailable accelerator fails before anything is loaded
            resolve_device(config.device)
            resolve_dtype(config.dtype)
        except ModelConfigError as exc:
            raise _error(config.model, str(exc)) from exc
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except Exception as exc:
            raise _error(config.model, f"cannot load the tokenizer: {type(exc).__name__}: {exc}") from exc
        if not (folder / "preprocessor_config.json").is_file():
            raise _error(config.model, f"{folder} has no preprocessor_config.json (the image processor settings)")
        try:
            image_processor = _ImageProcessor.from_pretrained(path, local_files_only=True)
            self.processor = _ImageOnlyProcessor(image_processor=image_processor, tokenizer=self.tokenizer)
        except Exception as exc:
            raise _error(config.model, f"cannot build the processor: {type(exc).__name__}: {exc}") from exc
        model_config = ModelConfig(kind="qwen2_5_vl", path=path, device=config.device, dtype=config.dtype)
        try:
            self.model, self.device, self.dtype = load_pretrained(AutoModelForImageTextToText, model_config)
        except ModelConfigError as exc:
            raise _error(config.model, str(exc)) from exc
        except Exception as exc:  # corrupt or mismatched checkpoint files
            raise _error(config.model, f"loading the model failed: {type(exc).__name__}: {exc}") from exc
        text_config = getattr(self.model.config, "text_config", None) or self.model.config
        self.max_positions = int(getattr(text_config, "max_position_embeddings", 0) or 0) or None
        self.chat_template, self.chat_template_source = self._pick_template(folder)
        self._skip_ids = self._special_ids_to_drop()
        self._lock = threading.Lock()
        self.last_prompt: str | None = None

    def _pick_template(self, folder: Path) -> tuple[str, str]:
        """The checkpoint's chat template (tokenizer's, else the processor's chat_template.json) when it renders
        tool messages and images as we need, else the built-in CHAT_TEMPLATE."""
        candidates: list[Any] = [getattr(self.tokenizer, "chat_template", None)]
        processor_file = folder / "chat_template.json"
        if processor_file.is_file():
            try:
                candidates.append(json.loads(processor_file.read_text()).get("chat_template"))
            except (OSError, ValueError, AttributeError):
                pass
        for template in candidates:
            if isinstance(template, dict):  # named templates: the default one
                template = template.get("default")
            if _template_fits(self.tokenizer, template):
                return template, "checkpoint"
        return CHAT_TEMPLATE, "builtin"

    def _special_ids_to_drop(self) -> set[int]:
        """Ids removed from replies: every special token except the protocol tags."""
        ids = {int(i) for i in (getattr(self.tokenizer, "all_special_ids", None) or [])}
        for token_id, token in (getattr(self.tokenizer, "added_tokens_decoder", None) or {}).items():
            if getattr(token, "special", False):
                ids.add(int(token_id))
        keep = {self.tokenizer.convert_tokens_to_ids(m) for m in PROTOCOL_MARKERS}
        unk = getattr(self.tokenizer, "unk_token_id", None)
        return {i for i in ids if i not in keep or i == unk}

    def render_prompt(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> tuple[str, list[int]]:
        """The prompt text for messages (ending with the assistant generation prompt) and the indices of the
        images in the order of their placeholders. PlannerError for malformed messages."""
        chat, order = to_chat(messages, images)
        try:
            text = self.tokenizer.apply_chat_template(chat, chat_template=self.chat_template, tokenize=False,
                                                      add_generation_prompt=True)
        except Exception as exc:
            raise PlannerError(f"planner {self.name}: rendering the chat template failed: {exc}") from exc
        return text, order

    def decode(self, token_ids: Any) -> str:
        """Text of generated token ids: special tokens removed, protocol tags (<tool_call>, ...) kept."""
        ids = [int(i) for i in (token_ids.tolist() if hasattr(token_ids, "tolist") else token_ids)]
        kept = [i for i in ids if i not in self._skip_ids]
        return self.tokenizer.decode(kept, skip_special_tokens=False, clean_up_tokenization_spaces=False).strip()

    def respond(self, messages: list[dict[str, Any]], images: list[RGBDFrame]) -> str:
        """The model's next assistant message for the conversation (see the class docstring)."""
        text, order = self.render_prompt(messages, images)
        self.last_prompt = text
        pil_images: list[Image.Image] = [to_pil(images[i]) for i in order]
        try:
            inputs = self.processor(text=[text], images=pil_images or None, return_tensors="pt")
        except Exception as exc:
            raise PlannerError(f"planner {self.name}: preparing the model inputs failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        prompt_tokens = int(inputs["input_ids"].shape[1])
        max_new = self.config.max_new_tokens
        if self.max_positions is not None and prompt_tokens + max_new > self.max_positions:
            raise PlannerError(
                f"planner {self.name}: the conversation is {prompt_tokens} tokens ({len(pil_images)} image(s)) and "
                f"the reply may take max_new_tokens={max_new}, more than the model's context of "
                f"{self.max_positions} positions; nothing was truncated: shorten the task, lower max_new_tokens "
                "or allow fewer turns"
            )
        kwargs: dict[str, Any] = {"max_new_tokens": max_new}
        if self.config.temperature > 0:
            kwargs.update(do_sample=True, temperature=float(self.config.temperature))
        else:
            kwargs.update(do_sample=False)
        try:
            inputs = inputs.to(self.device)
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            with self._lock, torch.inference_mode():
                output = self.model.generate(**inputs, **kwargs)
        except Exception as exc:
            raise PlannerError(f"planner {self.name}: generation failed: {type(exc).__name__}: {exc}") from exc
        return self.decode(output[0, prompt_tokens:])


__all__ = ["CHAT_TEMPLATE", "MODEL_TYPES", "TransformersPlanner", "check_model_folder", "to_chat"]
