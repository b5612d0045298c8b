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


def gateway_frame(channel: str, parts: list[bytes]) -> bytes:
    """A frame as jupyter_server's ``serialize_msg_to_ws_v1`` builds it (its layout, restated)."""
    offsets = [8 * (1 + 1 + len(parts) + 1)]
    offsets.append(offsets[-1] + len(channel.encode()))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return head + channel.encode() + b"".join(parts)


def test_binary_frames_both_ways() -> None:
    # Issue 19, item 2: the kernel websocket's v1 protocol, as the gateway sends and reads it.
    parts = [b'{"msg_type": "stream", "msg_id": "a"}', b'{"msg_id": "p"}', b"{}",
             b'{"name": "stdout", "text": "hi"}', b"\x00buffer"]  # fmt: skip
    msg = messages.decode_v1(gateway_frame("iopub", parts))
    assert msg["channel"] == "iopub" and msg["header"] == {"msg_type": "stream", "msg_id": "a"}
    assert msg["parent_header"] == {"msg_id": "p"} and "metadata" not in msg
    assert msg["content"] == {"name": "stdout", "text": "hi"}
    request = messages.execute_request("1+1")
    decoded = messages.decode_v1(messages.encode_v1(request))
    assert decoded["channel"] == "shell" and decoded["content"]["code"] == "1+1"
    assert decoded["header"]["msg_id"] == request["header"]["msg_id"]


def test_malformed_binary_frames_are_refused() -> None:
    good = gateway_frame("iopub", [b"{}", b"{}", b"{}", b"{}"])
    bad = [
        b"",
        good[:40],  # cut in its offsets
        good[:-1],  # shorter than its last offset
        (2**62).to_bytes(8, "little") + good[8:],  # a count its offsets do not match
        good[:16] + (10**9).to_bytes(8, "little") + good[24:],  # an offset past the end
        good[:24] + good[32:40] + good[24:32] + good[40:],  # offsets out of order
        gateway_frame("iopub", [b"{}", b"{}", b"{}"]),  # a part missing
        gateway_frame("iopub", [b"{", b"{}", b"{}", b"{}"]),  # not JSON
    ]
    for frame in bad:
        try:
            messages.decode_v1(frame)
        except ValueError:
            continue
        raise AssertionError(f"accepted {frame!r}")
