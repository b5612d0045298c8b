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
