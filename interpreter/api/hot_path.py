"""The run route without FastAPI's per-request work (issue 19: run_code within a millisecond).

``POST /v1/sandboxes/{id}/execute`` is on the path of every ``run_code``. Served through FastAPI
it costs ~0.7 ms more a run than the same route function called straight (BENCHMARKS.md, "Fifth
pass"): matching the route among the others, solving its four dependencies, parsing the body
into its model through FastAPI's field machinery. This ASGI middleware serves a run whose
request is plainly well-formed (the API key right, an ``application/json`` body that ``Execute``
accepts) by calling the route's own function, ``routes.execute.execute``, and answers what that
raises as the app's error handlers do (``errors.answer``). Anything else (no or a wrong key, a
body the model refuses, another content type) goes on to FastAPI with the body it sent, and is
answered exactly as before: the route's behaviour, and its OpenAPI entry, stay FastAPI's.

It sits inside the request guard (whose key check and body bound apply to it as to every
request) and inside the E2B traffic router (a sandbox's own traffic never comes here).
"""

from __future__ import annotations

import json
import re

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interpreter.api import errors
from interpreter.api.deps import require_api_key
from interpreter.api.ndjson import NDJSONResponse
from interpreter.api.routes import execute
from interpreter.api.schemas import Execute
from interpreter.core.errors import InterpreterError

EXECUTE_PATH = re.compile(r"/v1/sandboxes/([^/]+)/execute")  # Starlette's {sandbox_id}: [^/]+


class HotPath:
    """ASGI middleware (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            EXECUTE_PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if match is None or not _json(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await _body(receive)
        except HTTPException as exc:  # the guard's bound: answered as FastAPI's handler does
            await errors.answer(exc)(scope, receive, send)
            return
        if body is None:
            return  # the client went away before its body was read
        request = _valid(scope, body)
        if request is None:
            await self.app(scope, _replay(body, receive), send)
            return
        response: NDJSONResponse | None = None
        try:
            response = await execute.execute(match.group(1), request, scope["app"].state.manager)
            await response(scope, receive, send)
        except InterpreterError as exc:
            if response is not None and response.started:
                raise  # the answer is under way: the connection drops, as with FastAPI
            await errors.answer(exc)(scope, receive, send)


def _json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/json")
    return False


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _valid(scope: Scope, body: bytes) -> Execute | None:
    """The run asked for, if the key is right and the body is one FastAPI would accept as is
    (``json.loads`` then the model, as FastAPI parses it); None: FastAPI is to answer."""
    try:
        require_api_key(HTTPConnection(scope))
    except InterpreterError:
        return None
    try:
        return Execute.model_validate(json.loads(body))
    except (ValueError, RecursionError):  # not JSON (or nested too deep), not an Execute
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app behind: the body already read, then the connection's own."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
