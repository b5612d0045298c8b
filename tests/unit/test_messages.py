"""Jupyter message -> event mapping (pure functions)."""

from __future__ import annotations

from interpreter.core.events import CellError, ExecutionCount, Result, Stdout
from interpreter.execution import messages


def msg(msg_type: str, content: object) -> dict[str, object]:
    return {"header": {"msg_type": msg_type, "date": "2026-01-01T00:00:00.5Z"}, "content": content}


def test_mime_bundle_maps_to_fields_and_extra() -> None:
    result = messages.result_from_bundle(
        {
            "text/plain": "'quoted'",
            "text/html": "<b>x</b>",
            "image/png": "iVBOR",
            "application/json": {"a": 1},
            "application/x-custom": "?",
        },
        True,
    )
    assert result.text == "quoted"
    assert result.html == "<b>x</b>" and result.png == "iVBOR" and result.json_ == {"a": 1}
    assert result.extra == {"application/x-custom": "?"}
    assert result.is_main_result


def test_iopub_messages_become_events() -> None:
    out = messages.to_event(msg("stream", {"name": "stdout", "text": "hi\n"}))
    assert isinstance(out, Stdout) and out.text == "hi\n" and out.timestamp.year == 2026
    err = messages.to_event(msg("error", {"ename": "E", "evalue": "v", "traceback": ["a", "b"]}))
    assert isinstance(err, CellError) and err.traceback == "a\nb"
    count = messages.to_event(msg("execute_input", {"execution_count": 3}))
    assert isinstance(count, ExecutionCount) and count.execution_count == 3
    shown = messages.to_event(msg("display_data", {"data": {"text/plain": "x"}}))
    assert isinstance(shown, Result) and not shown.is_main_result


def test_malformed_kernel_messages_are_skipped() -> None:
    assert messages.to_event(msg("stream", {"name": "stdout", "text": 5})) is None
    assert messages.to_event(msg("stream", "not a dict")) is None
    assert messages.to_event({"header": {}}) is None
    data = {"text/plain": ["a", "b"], "text/html": 3}
    bad = messages.to_event(msg("execute_result", {"data": data}))
    assert isinstance(bad, Result) and bad.text == "ab" and bad.html is None
