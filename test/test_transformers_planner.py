"""TransformersPlanner on a tiny random-init Qwen2.5-VL checkpoint built here (no weights are downloaded)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from spacetools_ros.agent.factory import build_registry  # noqa: E402
from spacetools_ros.agent.loop import Agent, AgentConfig  # noqa: E402
from spacetools_ros.agent.protocol import render_tool_call  # noqa: E402
from spacetools_ros.config import PlannerConfig, load_config  # noqa: E402
from spacetools_ros.perception.models import ModelConfigError  # noqa: E402
from spacetools_ros.planners.base import PlannerError  # noqa: E402
from spacetools_ros.planners.transformers_planner import (  # noqa: E402
    CHAT_TEMPLATE,
    VISION_PLACEHOLDER,
    TransformersPlanner,
    _template_fits,
    to_chat,
)
from spacetools_ros.sources.synthetic import generate_tabletop  # noqa: E402

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>",
]
# marked special here on purpose: replies must keep them even then (the real Qwen tokenizer marks them non-special)
PROTOCOL_SPECIAL_TOKENS = ["<tool_call>", "</tool_call>"]


def _corpus() -> list[str]:
    """Text the tiny tokenizer is trained on: the real system prompt (tools block included) and protocol text."""
    registry = build_registry(load_config())
    system = Agent(None, registry).system_prompt()  # type: ignore[arg-type]
    lines = [
        "<think>I should segment the objects on the table first.</think>",
        render_tool_call("tabletop.segment_objects", {"image_index": 0}),
        "<answer>3</answer> How many objects are on the table? Which object is closest to the robot?",
        "<tool_response>\nError: the reply has neither a <tool_call> nor an <answer>.\n</tool_response>",
    ]
    return [system, *lines] * 3


def _build_tiny_checkpoint(folder: Path) -> None:
    """A tokenizer trained offline, a random 2-layer Qwen2.5-VL (hidden 64) and a PIL image processor config."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=QWEN_SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": PROTOCOL_SPECIAL_TOKENS})
    tokenizer.save_pretrained(folder)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}

    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 16384,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
            "fullatt_block_indexes": [1], "window_size": 112, "patch_size": 14, "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(folder)
    Qwen2VLImageProcessorPil(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64).save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the tiny checkpoint (built once per module)."""
    folder = tmp_path_factory.mktemp("tiny_qwen2_5_vl")
    _build_tiny_checkpoint(folder)
    return folder


@pytest.fixture(scope="module")
def planner(tiny_model: Path) -> TransformersPlanner:
    """The planner loaded from the tiny checkpoint, greedy, 16 new tokens."""
    return TransformersPlanner(PlannerConfig(model=str(tiny_model), device="cpu", dtype="float32", max_new_tokens=16))


@pytest.fixture(scope="module")
def frame():
    """A small synthetic tabletop frame (128x96: 15 image tokens)."""
    return generate_tabletop(seed=0, width=128, height=96).frame


def test_loads_tiny_checkpoint(planner: TransformersPlanner, tiny_model: Path) -> None:
    assert planner.name == "transformers"
    assert planner.chat_template_source == "builtin"  # the tiny tokenizer has no chat template
    assert planner.max_positions == 16384
    assert not planner.model.training
    assert (tiny_model / "preprocessor_config.json").is_file()


def test_chat_template_renders_images_and_tool_responses(planner: TransformersPlanner, frame) -> None:
    call = render_tool_call("robot.capture_image", {})
    messages = [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "<image>\nHow many objects?", "image_indices": [0]},
        {"role": "assistant", "content": f"<think>look again</think>\n{call}"},
        {"role": "tool", "name": "robot.capture_image", "content": "Captured image 1.", "image_indices": [1],
         "ok": True, "data": {}},
        {"role": "tool", "name": "error", "content": "Error: bad call", "image_indices": [], "ok": False, "data": {}},
    ]
    text, order = planner.render_prompt(messages, [frame, frame])
    expected = (
        "<|im_start|>system\nSYS<|im_end|>\n"
        f"<|im_start|>user\n{VISION_PLACEHOLDER}\nHow many objects?<|im_end|>\n"
        f"<|im_start|>assistant\n<think>look again</think>\n{call}<|im_end|>\n"
        f"<|im_start|>user\n<tool_response>\nCaptured image 1.{VISION_PLACEHOLDER}\n</tool_response>\n"
        "<tool_response>\nError: bad call\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert text == expected
    assert order == [0, 1]
    # a tool turn that is not last, followed by an assistant turn, closes its user turn too
    text, _ = planner.render_prompt([*messages, {"role": "assistant", "content": "<answer>3</answer>"}],
                                    [frame, frame])
    assert "</tool_response><|im_end|>\n<|im_start|>assistant\n<answer>3</answer><|im_end|>\n" in text


def test_to_chat_images_without_marker_follow_text_and_bad_index_fails(frame) -> None:
    chat, order = to_chat([{"role": "user", "content": "two views", "image_indices": [1, 0]}], [frame, frame])
    assert chat[0]["content"] == [{"type": "text", "text": "two views"}, {"type": "image"}, {"type": "image"}]
    assert order == [1, 0]
    chat, order = to_chat([{"role": "user", "content": "<image> and <image>", "image_indices": [0]}], [frame])
    assert chat[0]["content"] == [{"type": "image"}, {"type": "text", "text": " and <image>"}]
    with pytest.raises(PlannerError, match="image_index 3"):
        to_chat([{"role": "tool", "content": "x", "image_indices": [3]}], [frame])
    with pytest.raises(PlannerError, match="role"):
        to_chat([{"role": "robot", "content": "x"}], [frame])


def test_checkpoint_template_used_only_when_it_renders_tool_turns(planner: TransformersPlanner, tiny_model: Path,
                                                                  tmp_path: Path) -> None:
    # a Qwen2.5-VL-like template without tool support (written here) renders "<|im_start|>tool": not used
    no_tools = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.content is string %}{{ m.content }}{% else %}"
        "{% for c in m.content %}{% if c.type == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
        "{% else %}{{ c.text }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    assert not _template_fits(planner.tokenizer, no_tools)
    assert not _template_fits(planner.tokenizer, no_tools.replace("m.role", "m.role | replace('tool', 'tool')"))
    assert _template_fits(planner.tokenizer, CHAT_TEMPLATE)
    # a checkpoint whose processor chat template fits is rendered with it
    for item in tiny_model.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))
    loaded = TransformersPlanner(PlannerConfig(model=str(tmp_path), max_new_tokens=4))
    assert loaded.chat_template_source == "checkpoint"


def test_decode_keeps_protocol_tags_and_drops_control_tokens(planner: TransformersPlanner) -> None:
    reply = '<think>ok</think><tool_call>{"name": "a.b", "arguments": {}}</tool_call><|im_end|><|endoftext|>'
    ids = planner.tokenizer(reply, add_special_tokens=False)["input_ids"]
    assert planner.tokenizer.convert_tokens_to_ids("<tool_call>") in ids  # a special token of this tokenizer
    assert planner.decode(ids) == '<think>ok</think><tool_call>{"name": "a.b", "arguments": {}}</tool_call>'


def test_agent_loop_end_to_end_garbage_fails_cleanly(planner: TransformersPlanner, frame) -> None:
    agent = Agent(planner, build_registry(load_config()), AgentConfig(max_turns=2))
    episode = agent.run("How many objects are on the table?", frame)
    assert episode.state == "failed"
    assert "no answer within 2 turns" in episode.error
    assert episode.turns == 2
    assert all(isinstance(m["content"], str) for m in episode.messages)
    prompt = planner.last_prompt  # the second turn's prompt
    assert agent.system_prompt() in prompt and "<tools>\n" in prompt and "</tools>" in prompt
    assert prompt.count(VISION_PLACEHOLDER) == 1
    assert f"<|im_start|>user\n{VISION_PLACEHOLDER}\nHow many objects are on the table?<|im_end|>" in prompt
    first_reply = episode.messages[2]["content"]
    assert f"<|im_start|>assistant\n{first_reply}<|im_end|>\n<|im_start|>user\n<tool_response>\n" in prompt
    assert prompt.endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")
    ids = planner.tokenizer(first_reply, add_special_tokens=False)["input_ids"]
    assert len(ids) <= 16 + 4  # max_new_tokens (re-tokenising may split a little differently)


def test_respond_returns_text(planner: TransformersPlanner, frame) -> None:
    messages = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "<image>\nhi", "image_indices": [0]}]
    first = planner.respond(messages, [frame])
    assert isinstance(first, str)
    assert planner.respond(messages, [frame]) == first  # greedy: deterministic


def test_prompt_beyond_context_raises_planner_error(planner: TransformersPlanner, frame,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner, "max_positions", 40)
    messages = [{"role": "user", "content": "<image>\n" + "How many objects? " * 10, "image_indices": [0]}]
    with pytest.raises(PlannerError, match="context of 40 positions"):
        planner.respond(messages, [frame])


def test_generation_failure_raises_planner_error(planner: TransformersPlanner, frame,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(planner.model, "generate", broken)
    with pytest.raises(PlannerError, match="generation failed: RuntimeError: out of memory"):
        planner.respond([{"role": "user", "content": "<image>\nhi", "image_indices": [0]}], [frame])
    with pytest.raises(PlannerError, match="image_index 2"):
        planner.respond([{"role": "user", "content": "<image>\nhi", "image_indices": [2]}], [frame])


def test_missing_model_folder_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(ModelConfigError, match=str(missing)):
        TransformersPlanner(PlannerConfig(model=str(missing)))
    with pytest.raises(ModelConfigError, match="no model set"):
        TransformersPlanner(PlannerConfig(model=""))
    with pytest.raises(ModelConfigError, match="no config.json"):
        TransformersPlanner(PlannerConfig(model=str(tmp_path)))
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelConfigError, match="'llama'"):
        TransformersPlanner(PlannerConfig(model=str(tmp_path)))


def test_bad_device_dtype_and_generation_settings(tiny_model: Path) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ModelConfigError, match="CUDA is not available"):
            TransformersPlanner(PlannerConfig(model=str(tiny_model), device="cuda"))
    with pytest.raises(ModelConfigError, match="unknown device"):
        TransformersPlanner(PlannerConfig(model=str(tiny_model), device="tpu:x"))
    with pytest.raises(ModelConfigError, match="unknown dtype"):
        TransformersPlanner(PlannerConfig(model=str(tiny_model), dtype="float8"))
    with pytest.raises(ModelConfigError, match="max_new_tokens"):
        TransformersPlanner(PlannerConfig(model=str(tiny_model), max_new_tokens=0))
