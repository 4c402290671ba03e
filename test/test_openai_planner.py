"""OpenAIPlanner against a real OpenAI-compatible server: `transformers serve` on 127.0.0.1.

The module starts `python -m transformers.cli.transformers serve` (the `transformers serve` CLI) on a free port
(module fixture, terminated at teardown) and, while it boots, builds two tiny models into a temporary folder:
a LLaVA (CLIP vision tower + Qwen2 text model) with a byte-level BPE tokenizer trained here on the agent's
system prompt, a Qwen2.5-style chat template with tools and tool messages, and the Qwen hermes response
template (so the server splits <think> / <tool_call> out of replies as it does for Qwen models):

- "random": random weights; greedy output is gibberish (neither a tool call nor an answer);
- "caller": the same weights rigged (attention and MLP outputs zeroed, lm_head set) so that greedy decoding
  always emits one <tool_call> for vision_ops.index_at and stops.

The server loads either by its folder path (the request's "model"). Qwen2.5-VL is not used: its processor
needs a video processor, which needs torchvision (not installed). Nothing is downloaded (HF_HUB_OFFLINE=1).
The serving extras (fastapi, uvicorn, openai, accelerate) are needed; without them the server tests skip.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from spacetools_ros.agent.factory import build_registry
from spacetools_ros.agent.loop import SYSTEM_PROMPT, Agent, AgentConfig
from spacetools_ros.agent.protocol import parse_turn, render_think, render_tool_call, render_tools_block
from spacetools_ros.config import ConfigError, PlannerConfig, load_config
from spacetools_ros.frames.frame import RGBDFrame
from spacetools_ros.planners.base import PlannerError
from spacetools_ros.planners.openai_planner import OpenAIPlanner
from spacetools_ros.sources.synthetic import generate_tabletop

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

KEY_ENV = "SPACETOOLS_TEST_KEY"
KEY = "sk-secret-123"
IMAGE_TOKENS = 16  # one 32x32 image through an 8-px-patch CLIP tower: 16 patch tokens (CLS dropped)
CALL = {"name": "vision_ops.index_at", "arguments": {"data": "$depth", "u": 0.5, "v": 0.5}}
PAYLOAD = render_tool_call(CALL["name"], CALL["arguments"])
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]

CHAT_TEMPLATE = (
    "{%- macro render(content) -%}{%- if content is string -%}{{ content }}{%- else -%}"
    "{%- for part in content -%}{%- if part.type == 'image' -%}<image>"
    "{%- elif part.type == 'text' -%}{{ part.text }}{%- endif -%}{%- endfor -%}{%- endif -%}{%- endmacro -%}"
    "{{- '<|im_start|>system\\n' -}}"
    "{%- if messages[0].role == 'system' -%}{{- render(messages[0].content) -}}"
    "{%- else -%}{{- 'You are a helpful assistant.' -}}{%- endif -%}"
    "{%- if tools -%}{{- '\\n\\n# Tools\\n\\n<tools>' -}}{%- for tool in tools -%}{{- '\\n' + (tool | tojson) -}}"
    "{%- endfor -%}{{- '\\n</tools>' -}}{%- endif -%}{{- '<|im_end|>\\n' -}}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'user' or (message.role == 'system' and not loop.first) -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + render(message.content) + '<|im_end|>\\n' -}}"
    "{%- elif message.role == 'assistant' -%}{{- '<|im_start|>assistant' -}}"
    "{%- if message.content -%}{{- '\\n' + render(message.content) -}}{%- endif -%}"
    "{%- for tool_call in message.tool_calls or [] -%}"
    "{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}"
    "{{- '\\n<tool_call>\\n{\"name\": \"' + call.name + '\", \"arguments\": ' + (call.arguments | tojson) + '}"
    "\\n</tool_call>' -}}{%- endfor -%}{{- '<|im_end|>\\n' -}}"
    "{%- elif message.role == 'tool' -%}"
    "{%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}"
    "{{- '\\n<tool_response>\\n' + render(message.content) + '\\n</tool_response>' -}}"
    "{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# the hermes response template transformers serve applies to Qwen models (a LLaVA needs it on its tokenizer)
RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "reasoning_content": {"open": "<think>", "close": "</think>", "content": "text"},
        "tool_calls": {"open_pattern": r"\s*<tool_call>", "close": "</tool_call>", "repeats": True,
                       "content": "json", "transform": {"type": "function", "function": "{content}"}},
        "content": {"close_pattern": r"\s*(?:<\|im_end\|>|<\|endoftext\|>)", "content": "text"},
    },
}


@dataclass
class Server:
    """A running `transformers serve` and the model folders it can serve."""

    base_url: str
    random: str
    caller: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _system_prompt() -> str:
    return SYSTEM_PROMPT + render_tools_block(build_registry(load_config()).schemas())


def _build_models(root: Path) -> tuple[str, str]:
    """The "random" and "caller" model folders (model, tokenizer, processor, chat template)."""
    import torch
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([_system_prompt(), "<tool_response>\n</tool_response>\nassistant user"], trainer)
    bpe.add_tokens([AddedToken(PAYLOAD, normalized=False, special=False)])  # the caller's whole reply
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        model_max_length=32768, response_template=RESPONSE_TEMPLATE)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
        image_token="<image>", num_additional_image_tokens=1)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
    hidden = 256
    config = LlavaConfig(
        text_config=dict(model_type="qwen2", vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=128,
                         num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=32768, bos_token_id=ids["<|endoftext|>"],
                         eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], tie_word_embeddings=False),
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, image_size=32, patch_size=8, projection_dim=32),
        image_token_id=ids["<image>"], vision_feature_select_strategy="default", vision_feature_layer=-1,
        tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    for name in ("random", "caller"):
        if name == "caller":  # the last hidden state is the current token's (normed) embedding: lm_head maps
            with torch.no_grad():  # the prompt's last token to the payload token and the payload to <|im_end|>
                for layer in model.model.language_model.layers:
                    layer.self_attn.o_proj.weight.zero_()
                    layer.mlp.down_proj.weight.zero_()
                emb = model.get_input_embeddings().weight
                head = model.get_output_embeddings().weight
                last = tokenizer("<|im_start|>assistant\n")["input_ids"][-1]
                payload = tokenizer.convert_tokens_to_ids(PAYLOAD)
                e_last = emb[last].clone()
                emb[payload] -= (emb[payload] @ e_last) / (e_last @ e_last) * e_last  # orthogonal to e_last
                head.zero_()
                head[payload] = 10 * e_last
                head[ids["<|im_end|>"]] = 10 * emb[payload]
        model.save_pretrained(root / name)
        processor.save_pretrained(root / name)
    return str(root / "random"), str(root / "caller")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    """`transformers serve` on a free 127.0.0.1 port, stopped at teardown; skips without the serving extras."""
    pytest.importorskip("torch")
    pytest.importorskip("tokenizers")
    pytest.importorskip("transformers")
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        pytest.skip("transformers serve needs fastapi, uvicorn and openai (pip install 'transformers[serving]')")
    pytest.importorskip("accelerate")
    root = tmp_path_factory.mktemp("openai_server")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "transformers.cli.transformers", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--device", "cpu", "--dtype", "float32", "--log-level", "info"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        random_model, caller_model = _build_models(root)  # while the server boots
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not answer within 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Server(f"http://127.0.0.1:{port}/v1", random_model, caller_model, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _planner(server_url: str, model: str, tool_mode: str = "hermes", **overrides: Any) -> OpenAIPlanner:
    options = dict(model=model, base_url=server_url, api_key_env=KEY_ENV, tool_mode=tool_mode, max_new_tokens=8,
                   temperature=0.0, timeout_s=30.0, max_retries=0)
    options.update(overrides)
    return OpenAIPlanner(PlannerConfig(**options), backoff_s=0.1)


@pytest.fixture
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The test API key in the environment variable the planners read."""
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


@pytest.fixture(scope="module")
def frame() -> RGBDFrame:
    return generate_tabletop(seed=0, width=128, height=96).frame


def _conversation(frame: RGBDFrame, tool_image: bool) -> tuple[list[dict[str, Any]], list[RGBDFrame]]:
    """A history as the loop builds it: system, user (image 0), an assistant call, its result (image 1)."""
    messages = [
        {"role": "system", "content": _system_prompt()},
        {"role": "user", "content": "<image>\nHow far is the nearest object?", "image_indices": [0]},
        {"role": "assistant", "content": render_think("I need depth.") + "\n" + PAYLOAD},
        {"role": "tool", "name": CALL["name"], "content": "value at (0.50, 0.50): 0.812", "ok": True, "data": {},
         "image_indices": [1] if tool_image else []},
    ]
    return messages, [frame, frame]


# ----- a real server -----


def test_hermes_reply_is_text(server: Server, frame: RGBDFrame, key_in_env: str) -> None:
    with _planner(server.base_url, server.random) as planner:
        messages = [{"role": "system", "content": "You are a robot."},
                    {"role": "user", "content": "<image>\nHow many objects?", "image_indices": [0]}]
        reply = planner.respond(messages, [frame])
        assert isinstance(reply, str) and reply
        usage = planner.last_response["usage"]
        assert usage["completion_tokens"] <= 8 and usage["prompt_tokens"] > IMAGE_TOKENS


def test_agent_loop_with_random_model_fails_cleanly(server: Server, frame: RGBDFrame, key_in_env: str) -> None:
    with _planner(server.base_url, server.random) as planner:
        episode = Agent(planner, build_registry(load_config()), AgentConfig(max_turns=2)).run(
            "How many objects are on the table?", frame)
    assert episode.state == "failed" and episode.turns == 2
    assert episode.error == "no answer within 2 turns"
    assert [m["role"] for m in episode.messages] == ["system", "user", "assistant", "tool", "assistant", "tool"]


@pytest.mark.parametrize("tool_mode", ["hermes", "native"])
def test_endpoint_tool_calls_come_back_as_hermes_text(server: Server, frame: RGBDFrame, tool_mode: str) -> None:
    with _planner(server.base_url, server.caller, tool_mode) as planner:
        messages = [{"role": "system", "content": _system_prompt()},
                    {"role": "user", "content": "<image>\nHow far?", "image_indices": [0]}]
        reply = planner.respond(messages, [frame])
        # the server split the call out of the text (message.tool_calls) in both modes: rebuilt as a block
        assert planner.last_response["choices"][0]["message"]["tool_calls"]
        assert planner.last_response["choices"][0]["finish_reason"] == "tool_calls"
    parsed = parse_turn(reply)
    assert not parsed.errors and [(c.name, c.arguments) for c in parsed.tool_calls] == [tuple(CALL.values())]


@pytest.mark.parametrize("tool_mode", ["hermes", "native"])
def test_agent_loop_round_trip(server: Server, frame: RGBDFrame, tool_mode: str) -> None:
    """Turn 1 calls a tool, its result goes back (turn 2, accepted by the server), which calls it again."""
    with _planner(server.base_url, server.caller, tool_mode) as planner:
        episode = Agent(planner, build_registry(load_config()), AgentConfig(max_turns=2)).run("How far?", frame)
    assert episode.state == "failed" and episode.error == "no answer within 2 turns"
    assert [c.name for c in episode.tool_calls] == [CALL["name"]] * 2


@pytest.mark.parametrize("tool_mode", ["hermes", "native"])
def test_history_with_tool_call_and_tool_image(server: Server, frame: RGBDFrame, tool_mode: str) -> None:
    prompt_tokens = {}
    with _planner(server.base_url, server.random, tool_mode) as planner:
        for tool_image in (False, True):
            messages, images = _conversation(frame, tool_image)
            reply = planner.respond(messages, images)
            assert isinstance(reply, str)
            prompt_tokens[tool_image] = planner.last_response["usage"]["prompt_tokens"]
        body = planner.build_request(messages, images)
    # the tool's image reached the model: the server's prompt grew by one image's tokens (native: in a user
    # turn of its own, after the tool message, with a label)
    chat = body["messages"]
    grown = IMAGE_TOKENS
    if tool_mode == "native":
        from transformers import AutoTokenizer

        label = chat[4]["content"][0]["text"]
        turn = AutoTokenizer.from_pretrained(server.random)(f"<|im_start|>user\n{label}<image><|im_end|>\n")
        grown += len(turn["input_ids"]) - 1
    assert prompt_tokens[True] - prompt_tokens[False] == grown
    if tool_mode == "hermes":
        assert [m["role"] for m in chat] == ["system", "user", "assistant", "user"]
        assert "tools" not in body and "<tools>" in chat[0]["content"]
        assert chat[2]["content"] == messages[2]["content"]
        parts = chat[3]["content"]
        assert [p["type"] for p in parts] == ["text", "image_url", "text"]
        assert parts[0]["text"] == "<tool_response>\nvalue at (0.50, 0.50): 0.812"
        assert parts[2]["text"] == "\n</tool_response>"
    else:
        assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool", "user"]
        assert "<tools>" not in chat[0]["content"]
        assert [t["function"]["name"] for t in body["tools"]] == build_registry(load_config()).names()
        assert chat[2]["content"] == "<think>I need depth.</think>"
        (call,) = chat[2]["tool_calls"]
        assert call["id"] == "call_0_0" and call["function"]["name"] == CALL["name"]
        assert json.loads(call["function"]["arguments"]) == CALL["arguments"]
        assert chat[3] == {"role": "tool", "tool_call_id": "call_0_0", "content": "value at (0.50, 0.50): 0.812"}
        assert [p["type"] for p in chat[4]["content"]] == ["text", "image_url"]
    user_parts = chat[1]["content"]
    assert [p["type"] for p in user_parts] == ["image_url", "text"]  # the <image> marker became the image
    assert user_parts[0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_http_errors_name_the_status_and_never_the_key(server: Server, frame: RGBDFrame, key_in_env: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    messages = [{"role": "user", "content": "hello"}]
    with _planner(server.base_url, str(Path(server.random).parent / "no-such-model")) as planner:
        with pytest.raises(PlannerError) as wrong_model:
            planner.respond(messages, [])
    with _planner(server.base_url + "/no/such/path", server.random) as planner:
        with pytest.raises(PlannerError) as wrong_path:
            planner.respond(messages, [])
    assert "HTTP 500" in str(wrong_model.value) and "no-such-model" in str(wrong_model.value)
    assert "HTTP 404" in str(wrong_path.value) and "Not Found" in str(wrong_path.value)
    for text in (str(wrong_model.value), str(wrong_path.value), caplog.text, server.log.read_text()):
        assert KEY not in text


def test_server_down_fails_after_the_retries(key_in_env: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    start = time.monotonic()
    with _planner(f"http://127.0.0.1:{_free_port()}/v1", "m", max_retries=1, timeout_s=2.0) as planner:
        with pytest.raises(PlannerError) as error:
            planner.respond([{"role": "user", "content": "hello"}], [])
    assert time.monotonic() - start < 5
    assert "after 2 attempts" in str(error.value) and "connection failed" in str(error.value)
    assert "attempt 1 of 2 failed" in caplog.text
    assert KEY not in str(error.value) and KEY not in caplog.text


# ----- no server needed -----


def test_echoed_key_is_scrubbed_and_429_is_retried(key_in_env: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[httpx2.Request] = []
    replies = [
        httpx2.Response(429, headers={"Retry-After": "0"}, json={"error": {"message": "slow down"}}),
        httpx2.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "<answer>3</answer>",
                                                            "reasoning_content": "counting"}}]}),
        httpx2.Response(401, json={"error": {"message": f"Incorrect API key provided: {KEY}"}}),
    ]

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return replies[len(seen) - 1]

    config = PlannerConfig(model="m", base_url="http://endpoint/v1", api_key_env=KEY_ENV, max_retries=2)
    with OpenAIPlanner(config, transport=httpx2.MockTransport(handler), backoff_s=0.01) as planner:
        reply = planner.respond([{"role": "user", "content": "how many?"}], [])
        assert reply == "<think>counting</think>\n<answer>3</answer>"
        with pytest.raises(PlannerError) as error:
            planner.respond([{"role": "user", "content": "how many?"}], [])
    assert len(seen) == 3 and all(r.headers["authorization"] == f"Bearer {KEY}" for r in seen)
    assert "HTTP 401" in str(error.value) and "Incorrect API key provided: ***" in str(error.value)
    assert KEY not in str(error.value) and KEY not in caplog.text
    body = json.loads(seen[0].content)
    assert body == {"model": "m", "messages": [{"role": "user", "content": "how many?"}], "max_tokens": 1024,
                    "temperature": 0.0}


def test_no_key_no_authorization_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"choices": [{"message": {"content": None, "tool_calls": [
            {"id": "x", "type": "function", "function": {"name": "t.f", "arguments": "not json"}}]}}]})

    config = PlannerConfig(model="m", base_url="http://endpoint/v1/", api_key_env=KEY_ENV)
    with OpenAIPlanner(config, transport=httpx2.MockTransport(handler)) as planner:
        reply = planner.respond([{"role": "user", "content": "go"}], [])
    assert "authorization" not in seen[0].headers and str(seen[0].url) == "http://endpoint/v1/chat/completions"
    assert parse_turn(reply).errors == ["arguments of t.f are a string that is not JSON"]


def test_native_feedback_without_a_call_and_set_tools(frame: RGBDFrame) -> None:
    config = PlannerConfig(model="m", base_url="http://endpoint/v1", tool_mode="native")
    planner = OpenAIPlanner(config)
    planner.set_tools([{"name": "t.f", "parameters": {"type": "object", "properties": {}}}])
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "<image>\ngo", "image_indices": [0]},
        {"role": "assistant", "content": "hmm"},
        {"role": "tool", "name": "error", "content": "Error: no call", "ok": False, "image_indices": []},
        {"role": "assistant", "content": '<tool_call>{"name": "t.f", "arguments": {}}</tool_call>\n<tool_call>bad'
                                         "</tool_call>"},
        {"role": "tool", "name": "error", "content": "Error: bad JSON", "ok": False, "image_indices": []},
        {"role": "tool", "name": "t.f", "content": "done", "ok": True, "image_indices": [0]},
    ]
    body = planner.build_request(messages, [frame])
    planner.close()
    chat = body["messages"]
    assert body["tools"] == [{"type": "function", "function": {"name": "t.f", "parameters": {
        "type": "object", "properties": {}}}}]
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user", "assistant", "tool", "user"]
    assert chat[3]["content"] == "Error: no call"
    assert chat[4]["content"] == "<tool_call>bad</tool_call>" and chat[4]["tool_calls"][0]["id"] == "call_1_0"
    assert chat[5] == {"role": "tool", "tool_call_id": "call_1_0", "content": "done"}
    assert [p.get("text") for p in chat[6]["content"]] == ["Error: bad JSON\nt.f returned image_index 0:", None]
    with pytest.raises(PlannerError, match="image_index 3"):
        planner.build_request([{"role": "user", "content": "x", "image_indices": [3]}], [frame])


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAIPlanner(PlannerConfig(model="m"))
    with pytest.raises(ConfigError, match="model"):
        OpenAIPlanner(PlannerConfig(base_url="http://endpoint/v1"))
