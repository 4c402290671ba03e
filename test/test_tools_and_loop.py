"""Tool definition, registry, hermes protocol and the agent loop: malformed output never escapes."""

import json

import numpy as np
import pytest

from spacetools_ros.agent.loop import Agent, AgentConfig
from spacetools_ros.agent.protocol import parse_turn, render_answer, render_tool_call, render_tools_block
from spacetools_ros.frames.frame import Intrinsics, RGBDFrame
from spacetools_ros.planners.base import Planner, PlannerError
from spacetools_ros.tools.base import ToolContext, ToolError, ToolResult, VariableStore, parse_docstring, tool
from spacetools_ros.tools.registry import ToolRegistry

executed: list[tuple[str, dict]] = []


@tool("test.scale")
def scale(ctx: ToolContext, factor: float, label: str = "x", image_index: int = 0) -> ToolResult:
    """Multiply the image's mean depth by a factor.

    Args:
        factor: number to multiply by.
        label: name stored for the result,
            continued on a second line.
        image_index: 0-based index of the image.
    """
    executed.append(("test.scale", {"factor": factor, "label": label}))
    value = float(np.nanmean(ctx.image(image_index).depth)) * factor
    return ToolResult(text=f"{label} = {value:.3f}", data={"value": value}, variables={label: np.array([value])})


@tool("test.read_var")
def read_var(values: np.ndarray) -> ToolResult:
    """Report the first element of a stored array.

    Args:
        values: a stored array, passed as "$name".
    """
    return ToolResult(text=f"first = {float(values[0]):.3f}")


@tool("robot.move", robot=True)
def robot_move(x: float, y: float) -> ToolResult:
    """Move the arm (a stand-in that records what would have run).

    Args:
        x: target x in metres.
        y: target y in metres.
    """
    executed.append(("robot.move", {"x": x, "y": y}))
    return ToolResult(text="moved")


@tool("test.broken")
def broken() -> ToolResult:
    """A tool with a bug."""
    raise ZeroDivisionError("division by zero")


def _frame(depth=1.0):
    intr = Intrinsics(50.0, 50.0, 8, 6, 16, 12)
    return RGBDFrame(np.zeros((12, 16, 3), np.uint8), np.full((12, 16), depth, np.float32), intr)


def _registry():
    return ToolRegistry([scale, read_var, robot_move, broken])


class ReplayPlanner(Planner):
    """Plays back fixed assistant messages (stands in for a model's output)."""

    name = "replay"

    def __init__(self, replies):
        self.replies = list(replies)
        self.seen: list[list[dict]] = []

    def respond(self, messages, images):
        self.seen.append([dict(m) for m in messages])
        return self.replies.pop(0) if self.replies else "<answer>done</answer>"


def test_schema_comes_from_signature_and_docstring():
    schema = scale.openai_schema()
    fn = schema["function"]
    assert fn["name"] == "test.scale"
    assert fn["description"] == "Multiply the image's mean depth by a factor."
    props = fn["parameters"]["properties"]
    assert set(props) == {"factor", "label", "image_index"}  # the context parameter is hidden
    assert props["factor"]["type"] == "number" and props["image_index"]["type"] == "integer"
    assert props["label"]["description"] == "name stored for the result, continued on a second line."
    assert fn["parameters"]["required"] == ["factor"]
    assert "title" not in json.dumps(fn["parameters"])


def test_undocumented_parameters_are_refused_at_definition():
    with pytest.raises(ValueError, match="not described"):
        @tool("test.bad")
        def bad(x: int) -> ToolResult:
            """No Args section."""

    with pytest.raises(ValueError, match="docstring"):
        @tool("test.nodoc")
        def nodoc() -> ToolResult:
            pass


def test_docstring_parser_stops_at_the_next_section():
    summary, params = parse_docstring("""Do it.

    Args:
        a: first.
        b (int): second.

    Returns:
        c: not a parameter.
    """)
    assert summary == "Do it." and params == {"a": "first.", "b": "second."}


def test_registry_rejects_duplicates_and_non_tools():
    reg = _registry()
    with pytest.raises(ValueError, match="already registered"):
        reg.register(scale)
    with pytest.raises(TypeError, match="not a Tool"):
        reg.register(lambda: None)


@pytest.mark.parametrize("name,arguments,message", [
    ("no.such_tool", {}, "unknown tool 'no.such_tool'; available tools: robot.move, test.broken"),
    ("test.scale", {"factor": "big"}, "invalid arguments for test.scale: factor"),
    ("test.scale", {}, "factor: Field required"),
    ("test.scale", {"factor": 2, "colour": "red"}, "colour: Extra inputs are not permitted"),
    ("test.scale", [1, 2], "must be a JSON object"),
    ("test.scale", {"factor": 2, "image_index": 5}, "image_index 5 is out of range"),
    ("test.read_var", {"values": "$missing"}, "unknown variable $missing"),
    ("test.read_var", {"values": [1, 2]}, "invalid arguments for test.read_var: values"),
    ("test.broken", {}, "test.broken failed: ZeroDivisionError"),
])
def test_registry_call_turns_every_failure_into_an_error_record(name, arguments, message):
    record = _registry().call(name, arguments, ToolContext([_frame()]))
    assert not record.ok
    assert record.text.startswith("Error: ") and message in record.text


def test_variables_flow_between_calls():
    ctx = ToolContext([_frame(2.0)])
    reg = _registry()
    first = reg.call("test.scale", {"factor": 1.5, "label": "v"}, ctx)
    assert first.ok and first.stored == ["$v"] and ctx.variables.names() == ["v"]
    second = reg.call("test.read_var", {"values": "$v"}, ctx)
    assert second.ok and second.text == "first = 3.000"


def test_variable_store_lists_known_names_in_errors():
    store = VariableStore()
    store.set("$mask", 1)
    with pytest.raises(ToolError, match=r"stored: \$mask"):
        store.get("other")


def test_parse_turn_reads_think_calls_and_answer():
    text = ("<think>look <tool_call>not a call</tool_call></think>"
            + render_tool_call("test.scale", {"factor": 2}) + render_tool_call("robot.move", {"x": 1, "y": 2}))
    turn = parse_turn(text)
    assert turn.think.startswith("look") and not turn.errors
    assert [c.name for c in turn.tool_calls] == ["test.scale", "robot.move"]
    assert parse_turn(render_answer("[(0.5, 0.25)]")).answer == "[(0.5, 0.25)]"


def test_parse_turn_accepts_openai_style_string_arguments():
    turn = parse_turn('<tool_call>{"name": "test.scale", "arguments": "{\\"factor\\": 3}"}</tool_call>')
    assert turn.tool_calls[0].arguments == {"factor": 3} and not turn.errors


@pytest.mark.parametrize("text,error", [
    ("<tool_call>{not json}</tool_call>", "not valid JSON"),
    ('<tool_call>{"name": "a", "arguments": {"x": 1}</tool_call>', "not valid JSON"),
    ("<tool_call>[1, 2]</tool_call>", "must be a JSON object"),
    ('<tool_call>{"arguments": {}}</tool_call>', "no 'name'"),
    ('<tool_call>{"name": "a", "arguments": [1]}</tool_call>', "must be a JSON object"),
    ('<tool_call>{"name": "a", "arguments": "{bad"}</tool_call>', "not JSON"),
    ('<tool_call>{"name": "a", "arguments": {}}', "unterminated <tool_call>"),
    ('<tool_call><tool_call>{"name": "a"}</tool_call>', "nested <tool_call>"),
    ("<answer>unfinished", "unterminated <answer>"),
    ("<tool_call>" + "[" * 100000 + "</tool_call>", "characters long"),
    ("<tool_call>" + "[" * 5000 + "</tool_call>", "not valid JSON"),
])
def test_parse_turn_reports_malformed_calls(text, error):
    turn = parse_turn(text)
    assert not turn.tool_calls
    assert any(error in e for e in turn.errors), turn.errors


def test_parse_turn_never_raises_on_non_text():
    assert parse_turn(None).errors and parse_turn(b"\xff").errors


def test_tools_block_lists_one_schema_per_line():
    block = render_tools_block(_registry().schemas())
    lines = block.splitlines()
    assert lines[0] == "<tools>" and lines[-1] == "</tools>"
    assert [json.loads(line)["function"]["name"] for line in lines[1:-1]] == _registry().names()


@pytest.mark.parametrize("bad_reply", [
    "<tool_call>{broken</tool_call>",
    '<tool_call>{"name": "no.such", "arguments": {}}</tool_call>',
    '<tool_call>{"name": "robot.move", "arguments": {"x": "far", "y": 0}}</tool_call>',
    '<tool_call>{"name": "robot.move", "arguments": {"x": 0.1}}</tool_call>',
    '<tool_call>{"name": "robot.move", "arguments": {"x": 0.1, "y": 0.2, "z": 9}}</tool_call>',
    '<tool_call>{"name": "robot.move", "arguments": {"x": [0.1], "y": 0}}</tool_call>',
    "just chatting, no tags",
    12345,
])
def test_malformed_calls_go_back_to_the_planner_and_never_run_robot_tools(bad_reply):
    executed.clear()
    planner = ReplayPlanner([bad_reply, render_answer("ok")])
    episode = Agent(planner, _registry()).run("task", _frame())
    assert episode.state == "succeeded" and episode.answer == "ok"
    feedback = planner.seen[1][-1]
    assert feedback["role"] == "tool" and feedback["content"].startswith("Error: ")
    assert not [e for e in executed if e[0] == "robot.move"]


def test_valid_calls_run_and_results_come_back_in_order():
    executed.clear()
    planner = ReplayPlanner([
        render_tool_call("test.scale", {"factor": 2, "label": "v"})
        + render_tool_call("test.read_var", {"values": "$v"}),
        render_answer("2.0 m"),
    ])
    episode = Agent(planner, _registry()).run("task", _frame(1.0))
    assert episode.state == "succeeded" and episode.answer == "2.0 m" and episode.turns == 2
    tool_msgs = [m for m in planner.seen[1] if m["role"] == "tool"]
    assert [m["content"] for m in tool_msgs] == ["v = 2.000", "first = 2.000"]
    assert [c.name for c in episode.tool_calls] == ["test.scale", "test.read_var"]
    assert planner.seen[0][0]["role"] == "system" and "<tools>" in planner.seen[0][0]["content"]


def test_tool_text_is_cut_for_the_model():
    @tool("test.chatty")
    def chatty() -> ToolResult:
        """Say a lot."""
        return ToolResult(text="y" * 5000)

    planner = ReplayPlanner([render_tool_call("test.chatty", {}), render_answer("ok")])
    Agent(planner, ToolRegistry([chatty]), AgentConfig(tool_text_limit=2048)).run("t", _frame())
    content = planner.seen[1][-1]["content"]
    assert len(content) == 2048 and content.endswith("[truncated]")


def test_max_turns_ends_the_episode_as_failed():
    planner = ReplayPlanner([render_tool_call("test.scale", {"factor": 1})] * 10)
    episode = Agent(planner, _registry(), AgentConfig(max_turns=3)).run("task", _frame())
    assert episode.state == "failed" and episode.error == "no answer within 3 turns" and episode.turns == 3


def test_planner_errors_and_crashes_end_the_episode_cleanly():
    class Refuses(Planner):
        def respond(self, messages, images):
            raise PlannerError("not understood: sing")

    class Crashes(Planner):
        name = "crashy"

        def respond(self, messages, images):
            raise KeyError("boom")

    assert Agent(Refuses(), _registry()).run("sing", _frame()).error == "not understood: sing"
    crashed = Agent(Crashes(), _registry()).run("x", _frame())
    assert crashed.state == "failed" and "crashy failed: KeyError" in crashed.error


def test_episode_summary_is_json():
    planner = ReplayPlanner([render_tool_call("test.scale", {"factor": 2}), render_answer("ok")])
    summary = Agent(planner, _registry()).run("task", _frame()).summary()
    decoded = json.loads(json.dumps(summary))
    assert decoded["state"] == "succeeded" and decoded["tool_calls"][0]["name"] == "test.scale"
    assert set(decoded["timings"]) == {"total_s", "planning_s", "tools_s"}


@tool("test.sleep")
def sleep_tool(ctx: ToolContext, seconds: float) -> ToolResult:
    """Sleep, then store a variable.

    Args:
        seconds: how long to sleep.
    """
    import time

    time.sleep(seconds)
    return ToolResult(text="slept", variables={"late": 1})


def test_a_tool_past_its_timeout_fails_and_changes_nothing():
    import time

    planner = ReplayPlanner([render_tool_call("test.sleep", {"seconds": 1.0}), render_answer("ok")])
    agent = Agent(planner, ToolRegistry([sleep_tool]), AgentConfig(tool_timeout_s=0.2))
    start = time.perf_counter()
    episode = agent.run("t", _frame())
    assert time.perf_counter() - start < 0.9
    assert episode.tool_calls[0].text == "Error: test.sleep timed out after 0.2 s"
    assert planner.seen[1][-1]["content"] == "Error: test.sleep timed out after 0.2 s"
    time.sleep(1.0)  # the abandoned call finishes later: its variable must not appear
    assert agent.last_context.variables.names() == []


def test_the_task_deadline_ends_the_episode():
    planner = ReplayPlanner([render_tool_call("test.sleep", {"seconds": 0.3})] * 5)
    episode = Agent(planner, ToolRegistry([sleep_tool]), AgentConfig(task_deadline_s=0.5)).run("t", _frame())
    assert episode.state == "failed" and episode.error == "task deadline of 0.5 s passed"
    assert episode.turns <= 3


def test_cancel_ends_the_episode_as_cancelled_before_the_next_call():
    import threading

    cancel = threading.Event()

    class CancelAfterFirst(ReplayPlanner):
        def respond(self, messages, images):
            if len(self.seen) == 1:
                cancel.set()  # e.g. /spacetools/cancel arrives while the model thinks
            return super().respond(messages, images)

    executed.clear()
    planner = CancelAfterFirst([render_tool_call("test.scale", {"factor": 1}),
                                render_tool_call("robot.move", {"x": 0.1, "y": 0.2})])
    episode = Agent(planner, _registry()).run("task", _frame(), cancel=cancel)
    assert episode.state == "cancelled" and episode.error == "cancelled on request"
    assert [name for name, _ in executed] == ["test.scale"]
