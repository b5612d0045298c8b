"""interpreter_sdk.tools without a server: the definitions, the argument checks, the reading of
tool calls and the shaping of answers (issue #20)."""

from __future__ import annotations

import json

import pytest

from interpreter_sdk import CellError, Execution, Logs, Result, ToolCallError, tools
from interpreter_sdk._tool_content import render_execution


def test_definitions_share_one_schema() -> None:
    openai, anthropic = tools.openai_tool(), tools.anthropic_tool()
    assert openai["type"] == "function" and openai["function"]["name"] == "run_code"
    assert openai["function"]["parameters"] is anthropic["input_schema"]
    schema = anthropic["input_schema"]
    assert schema["required"] == ["code"]
    assert schema["properties"]["language"]["enum"] == list(tools.LANGUAGES)
    assert "python" in anthropic["description"] and "timeout" in anthropic["description"]
    json.dumps(openai), json.dumps(anthropic)  # plain JSON


@pytest.mark.parametrize(
    "arguments, field, words",
    [
        ({}, "code", "'code' is required"),
        ({"code": 3}, "code", "must be a string"),
        ({"code": ""}, "code", "must not be empty"),
        ({"code": "1", "language": "cobol"}, "language", "must be one of python"),
        ({"code": "1", "timeout": True}, "timeout", "must be a number"),
        ({"code": "1", "timeout": 0}, "timeout", "at least 1"),
        ({"code": "1", "colour": "red"}, "colour", "unknown argument 'colour'"),
        ([], "arguments", "JSON object"),
    ],
)
def test_arguments_that_do_not_fit_name_their_field(
    arguments: object, field: str, words: str
) -> None:
    with pytest.raises(ToolCallError) as caught:
        tools.check_arguments(tools.RUN_CODE_PARAMETERS, arguments, "run_code")
    assert caught.value.field == field and words in str(caught.value)


def test_null_optional_arguments_count_as_left_out() -> None:
    checked = tools.check_arguments(
        tools.RUN_CODE_PARAMETERS, {"code": "1", "language": None}, "run_code"
    )
    assert checked == {"code": "1"}


def test_tool_calls_of_both_apis_are_read() -> None:
    openai = {"id": "call_1", "type": "function",
              "function": {"name": "run_code", "arguments": '{"code": "1 + 1"}'}}  # fmt: skip
    anthropic = {"type": "tool_use", "id": "toolu_1", "name": "run_code", "input": {"code": "2"}}
    a, b = tools.read_tool_call(openai), tools.read_tool_call(anthropic)
    assert (a.id, a.name, tools.parse_arguments(a, tools.RUN_CODE_PARAMETERS)) == (
        "call_1", "run_code", {"code": "1 + 1"},
    )  # fmt: skip
    assert (b.id, tools.parse_arguments(b, tools.RUN_CODE_PARAMETERS)) == ("toolu_1", {"code": "2"})
    with pytest.raises(ToolCallError, match="not JSON"):
        bad = {"id": "c", "function": {"name": "run_code", "arguments": "{code"}}
        tools.parse_arguments(tools.read_tool_call(bad), tools.RUN_CODE_PARAMETERS)
    with pytest.raises(ToolCallError):
        tools.read_tool_call({"role": "assistant"})


class FakeSandbox:
    """Enough of a Sandbox for handle() to refuse before running anything."""


def test_handle_answers_bad_arguments_and_refuses_other_tools() -> None:
    call = {"type": "tool_use", "id": "toolu_9", "name": "run_code", "input": {"language": "r"}}
    output = tools.handle(call, FakeSandbox())  # type: ignore[arg-type]
    assert output.is_error and "'code' is required" in output.text and output.call_id == "toolu_9"
    with pytest.raises(ToolCallError, match="not 'search'"):
        tools.handle({"type": "tool_use", "id": "x", "name": "search", "input": {}}, FakeSandbox())  # type: ignore[arg-type]


PNG = "iVBORw0KGgo="


def test_an_execution_reads_as_sections_and_images() -> None:
    execution = Execution(
        results=[
            Result(text="<Figure size 640x480 with 1 Axes>", png=PNG),
            Result(text="   a\n0  1", html="<table/>", is_main_result=True),
        ],
        logs=Logs(stdout=["hello\n"], stderr=["careful\n"]),
        error=CellError("ValueError", "bad", "\x1b[0;31mTraceback\x1b[0m\nValueError: bad"),
    )
    text, images = render_execution(execution)
    assert text == (
        "[stdout]\nhello\n[stderr]\ncareful\n[result]\nimage 1 (image/png)\n"
        "[result]\n   a\n0  1\n[error]\nTraceback\nValueError: bad"
    )
    assert [(i.media_type, i.data) for i in images] == [("image/png", PNG)]
    assert render_execution(Execution())[0] == "(no output)"


def test_answers_take_the_shapes_of_both_apis() -> None:
    svg = tools.Image("image/svg+xml", "PHN2Zy8+")
    output = tools.ToolOutput("42", [tools.Image("image/png", PNG), svg], call_id="c1")
    block = output.anthropic()
    assert block["type"] == "tool_result" and block["tool_use_id"] == "c1"
    assert block["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }
    assert "not attached: image/svg+xml" in block["content"][0]["text"]
    tool_message, images = output.openai()
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "c1"
    assert images["content"][1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    assert tools.ToolOutput("x").openai() == [
        {"role": "tool", "tool_call_id": None, "content": "x"}
    ]


def test_truncation_keeps_head_and_tail_and_says_where_the_rest_is() -> None:
    text = "".join(f"line {i}\n" for i in range(10_000))
    cut = tools.truncate(text, 1000, "the whole output is in the file /tmp/x")
    head, marker, tail = cut.partition("\n[... output truncated: ")
    assert text.startswith(head + "\n") and head.endswith("line 94")  # whole lines
    assert tail.endswith(text[-200:]) and "/tmp/x ...]\nline 9" in tail
    assert len(cut) < 1100
    assert tools.truncate("short", 1000, "nowhere") == "short"
