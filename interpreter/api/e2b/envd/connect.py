"""The Connect protocol, JSON codec, server side: just what the E2B SDKs speak to envd.

Decision: a small hand-written layer rather than the ``connectrpc`` package's server. A
connectrpc server needs protobuf message classes and generated service stubs (``protobuf-py``
code from a codegen toolchain we do not have offline); the only ready-made ones ship inside the
E2B SDK, which must not be a run-time dependency of the server. The wire subset the SDKs use is
small and fully specified (JSON unary calls, ``application/connect+json`` envelopes, one client
stream, no compression), while the behaviour around it is ours to control anyway: keepalive
events, ``connect-timeout-ms`` as a process lifetime, starting streams with a start event, and
sharing FastAPI's app state and error mapping. So messages are plain dicts built and read by
the service modules, and this module only frames them; errors are translated by ``errors``.

Unary: ``application/json`` in, 200 + JSON out; errors are ``{"code", "message"}`` with the
Connect code's HTTP status. Streams: envelopes ``[flags u8][length u32 BE][JSON]``, flag 0x02
marks the end-of-stream message ``{}`` or ``{"error": {...}}``; a stream's status is always 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from interpreter.api.e2b.envd.errors import ConnectError as ConnectError
from interpreter.api.e2b.envd.errors import answer_of, unavailable
from interpreter.api.e2b.envd.errors import connect_error as connect_error
from interpreter.core.errors import InterpreterError

Message = dict[str, Any]
STREAM_TYPE = "application/connect+json"
END_STREAM = 0x02
MAX_MESSAGE_BYTES = 4 << 20
DEFAULT_KEEPALIVE = 90.0  # seconds, envd's default when the header is missing or invalid


# -- reading requests --------------------------------------------------------------------------


def field(message: Message, name: str, default: Any = None) -> Any:
    """A field by its proto name (snake_case) or its JSON name (lowerCamelCase): parsers must
    accept both."""
    if name in message:
        return message[name]
    head, *rest = name.split("_")
    camel = head + "".join(part.title() for part in rest)
    return message.get(camel, default)


def _decode(data: bytes) -> Message:
    try:
        message = json.loads(data or b"{}")
    except ValueError:
        raise ConnectError("invalid_argument", "the request body is not JSON") from None
    if not isinstance(message, dict):
        raise ConnectError("invalid_argument", "the request message must be a JSON object")
    return message


async def unary_request(request: Request) -> Message:
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/json":
        raise ConnectError("invalid_argument", f"unsupported content type {kind!r}: use JSON")
    body = b""
    async for chunk in request.stream():  # not more than one message's worth is read
        body += chunk
        if len(body) > MAX_MESSAGE_BYTES:
            raise ConnectError("resource_exhausted", "the request message is too large")
    return _decode(body)


async def stream_requests(request: Request) -> AsyncIterator[Message]:
    """The messages of an enveloped request body, as they arrive (client streams)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != STREAM_TYPE:
        raise ConnectError(
            "invalid_argument", f"unsupported content type {kind!r}: use {STREAM_TYPE}"
        )
    buffer = b""
    async for chunk in request.stream():
        buffer += chunk
        while len(buffer) >= 5:
            flags, size = struct.unpack(">BI", buffer[:5])
            if size > MAX_MESSAGE_BYTES:
                raise ConnectError("resource_exhausted", "a request message is too large")
            if flags & 0x01:
                raise ConnectError("unimplemented", "compressed messages are not supported")
            if len(buffer) < 5 + size:
                break
            payload, buffer = buffer[5 : 5 + size], buffer[5 + size :]
            if flags & END_STREAM:
                return
            yield _decode(payload)
    if buffer:
        raise ConnectError("invalid_argument", "the request body ends inside a message")


async def single_stream_request(request: Request) -> Message:
    """The one request message of a server-streaming call."""
    async for message in stream_requests(request):
        return message
    raise ConnectError("invalid_argument", "the request has no message")


def timeout_of(request: Request) -> float | None:
    """``connect-timeout-ms`` in seconds, if given."""
    value = request.headers.get("connect-timeout-ms", "")
    if value.isdigit() and 0 < len(value) <= 10:
        return int(value) / 1000
    if value:
        raise ConnectError("invalid_argument", "connect-timeout-ms must be a positive integer")
    return None


def keepalive_of(request: Request) -> float:
    """``Keepalive-Ping-Interval`` in seconds (envd's default when missing or invalid)."""
    value = request.headers.get("keepalive-ping-interval", "")
    return float(value) if value.isdigit() and 0 < int(value) <= 3600 else DEFAULT_KEEPALIVE


# -- writing responses -------------------------------------------------------------------------


def envelope(flags: int, message: Message) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack(">BI", flags, len(data)) + data


def end_stream(error: ConnectError | None = None) -> bytes:
    return envelope(END_STREAM, {"error": error.to_json()} if error else {})


def unary_response(message: Message) -> JSONResponse:
    return JSONResponse(message)


class ConnectStreamResponse(StreamingResponse):
    def __init__(self, body: AsyncIterator[bytes]) -> None:
        super().__init__(body, media_type=STREAM_TYPE, headers={"Cache-Control": "no-store"})


def server_stream(
    messages: AsyncIterator[Message],
    keepalive: Message,
    keepalive_interval: float,
    deadline: float | None = None,
) -> ConnectStreamResponse:
    """Frame ``messages``; send ``keepalive`` after ``keepalive_interval`` s without one, end
    with ``deadline_exceeded`` at ``deadline`` (a ``time.monotonic()`` value), and put any
    error the messages raise into the end-of-stream message."""
    return ConnectStreamResponse(_frames(messages, keepalive, keepalive_interval, deadline))


async def _frames(
    messages: AsyncIterator[Message],
    keepalive: Message,
    interval: float,
    deadline: float | None,
) -> AsyncIterator[bytes]:
    error: ConnectError | None = None
    pending: asyncio.Future[Message] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(messages))
            wait = interval
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            done, _ = await asyncio.wait({pending}, timeout=wait)
            if not done:
                if deadline is not None and time.monotonic() >= deadline:
                    error = ConnectError("deadline_exceeded", "the request's timeout was reached")
                    break
                yield envelope(0, keepalive)
                continue
            try:
                message = pending.result()
            except StopAsyncIteration:
                break
            except InterpreterError as exc:
                if answer_of(exc).unavailable:
                    # The sandbox is gone (killed under the stream): the connection drops, as
                    # E2B's proxy drops it when a sandbox ends; the SDKs then ask /health and
                    # say the sandbox was killed or reached its end of life.
                    raise  # out of the body: the server closes the connection mid-stream
                error = connect_error(exc)
                break
            except Exception as exc:  # noqa: BLE001 - every failure ends the stream, typed
                error = connect_error(exc)
                break
            finally:
                pending = None
            yield envelope(0, message)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        aclose: Callable[[], Awaitable[None]] | None = getattr(messages, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    yield end_stream(error)


def stream_error(exc: Exception) -> Response:
    """A server-stream call that failed before its first message: a 200 stream whose only
    envelope is the end-of-stream error (the SDKs read errors from there); the proxy's 502
    for a gone sandbox."""
    if (response := unavailable(exc)) is not None:
        return response
    error = connect_error(exc)

    async def body() -> AsyncIterator[bytes]:
        yield end_stream(error)

    return ConnectStreamResponse(body())
