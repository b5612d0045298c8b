"""Jupyter messages in and out: request construction (via jupyter_client's Session) and the
mapping of iopub messages to events. Kernel output is untrusted: malformed parts are skipped."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session

from interpreter.core.events import CellError, Event, ExecutionCount, Result, Stderr, Stdout

# The gateway re-signs what it forwards to the kernel; this key only silences the unsigned warning.
_session = Session(key=secrets.token_bytes(16), username="interpreter")

# Jupyter MIME type -> Result field. Everything else goes to `extra`.
MIME_FIELDS = {
    "text/plain": "text",
    "text/html": "html",
    "text/markdown": "markdown",
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "application/pdf": "pdf",
    "text/latex": "latex",
    "application/json": "json_",
    "application/javascript": "javascript",
    "e2b/data": "data",
    "e2b/chart": "chart",
}


def request(msg_type: str, content: dict[str, Any], channel: str = "shell") -> dict[str, Any]:
    msg = _session.msg(msg_type, content)
    msg["channel"] = channel
    msg["buffers"] = []
    return msg


def encode(msg: dict[str, Any]) -> str:
    return json.dumps(msg, default=json_default)


# The kernel websocket's binary protocol (jupyter_server's ``v1.kernel.websocket.jupyter.org``):
# a frame is a count N of 8-byte little-endian offsets, the N offsets, then the channel's name
# and the message's parts (header, parent header, metadata, content, buffers), each as the
# kernel packed it. The gateway passes the kernel's parts through as they are, instead of
# deserializing each message (signature, JSON, dates) and dumping it again as one JSON text.
WS_V1 = "v1.kernel.websocket.jupyter.org"
_PARTS = ("header", "parent_header", "metadata", "content")
_NEEDED = 2 + len(_PARTS)  # offsets read: the channel's two and the end of each part


def encode_v1(msg: dict[str, Any]) -> bytes:
    parts = [msg["channel"].encode()]
    parts += [json.dumps(msg[name], default=json_default).encode() for name in _PARTS]
    offsets = [8 * (len(parts) + 2)]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = b"".join(n.to_bytes(8, "little") for n in (len(offsets), *offsets))
    return head + b"".join(parts)


def decode_v1(frame: bytes) -> dict[str, Any]:
    """A message of a binary frame: its channel, header, parent header and content (metadata
    and buffers are not read: nothing here uses them). ValueError if the frame is malformed;
    only the offsets needed are read, each checked against the frame."""
    count = int.from_bytes(frame[:8], "little")
    if len(frame) < 8 * (1 + _NEEDED) or count < _NEEDED:
        raise ValueError("a kernel frame too short for a message")
    offsets = [int.from_bytes(frame[8 * i : 8 * i + 8], "little") for i in range(1, 1 + _NEEDED)]
    if offsets[0] != 8 * (count + 1) or offsets != sorted(offsets):
        raise ValueError("a kernel frame with offsets out of order")
    if offsets[-1] > len(frame):
        raise ValueError("a kernel frame shorter than its offsets")
    view = memoryview(frame)
    msg: dict[str, Any] = {"channel": str(view[offsets[0] : offsets[1]], "utf-8")}
    for index, name in enumerate(_PARTS):
        if name != "metadata":
            # jupyter_client packs with surrogateescape: undecodable bytes a cell printed come
            # as they are, and become U+FFFD here (as the gateway's JSON protocol made them).
            part = view[offsets[index + 1] : offsets[index + 2]].tobytes()
            msg[name] = json.loads(part.decode("utf-8", errors="replace"))
    return msg


def execute_request(code: str, silent: bool = False) -> dict[str, Any]:
    return request(
        "execute_request",
        {
            "code": code,
            "silent": silent,
            "store_history": not silent,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    )


def _timestamp(msg: dict[str, Any]) -> datetime:
    raw = msg.get("header", {}).get("date")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.now(UTC)


def clean(text: str) -> str:
    """Valid text from whatever a kernel sent: lone surrogates (undecodable bytes) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def strip_quotes(text: str) -> str:
    # Kernels quote strings in text/plain ('abc'); E2B clients expect them unquoted.
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def result_from_bundle(bundle: Any, is_main_result: bool) -> Result:
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if isinstance(bundle, dict):
        for mime, value in bundle.items():
            field = MIME_FIELDS.get(mime)
            if field is None:
                extra[str(mime)] = value
            elif field in ("json_", "data", "chart"):
                fields[field] = value
            elif isinstance(value, str):
                fields[field] = clean(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                fields[field] = clean("".join(value))
    if "text" in fields:
        fields["text"] = strip_quotes(fields["text"])
    return Result(**fields, extra=extra, is_main_result=is_main_result)


def _stream(msg: dict[str, Any], content: dict[str, Any]) -> Event | None:
    text = content.get("text")
    if not isinstance(text, str):
        return None
    cls = Stderr if content.get("name") == "stderr" else Stdout
    return cls(text=clean(text), timestamp=_timestamp(msg))


def _error(msg: dict[str, Any], content: dict[str, Any]) -> Event:
    traceback = content.get("traceback")
    lines = [t for t in traceback if isinstance(t, str)] if isinstance(traceback, list) else []
    return CellError(
        name=clean(str(content.get("ename") or "Error")),  # bash_kernel sends ""
        value=clean(str(content.get("evalue", ""))),
        traceback=clean("\n".join(lines)),
    )


def _execute_input(msg: dict[str, Any], content: dict[str, Any]) -> Event | None:
    count = content.get("execution_count")
    return ExecutionCount(execution_count=count) if isinstance(count, int) else None


HANDLERS = {
    "stream": _stream,
    "execute_result": lambda msg, c: result_from_bundle(c.get("data"), True),
    "display_data": lambda msg, c: result_from_bundle(c.get("data"), False),
    "error": _error,
    "execute_input": _execute_input,
}


def to_event(msg: dict[str, Any]) -> Event | None:
    """The event an iopub message stands for, if any."""
    handler = HANDLERS.get(msg.get("header", {}).get("msg_type", ""))
    content = msg.get("content")
    if handler is None or not isinstance(content, dict):
        return None
    return handler(msg, content)
