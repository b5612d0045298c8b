"""The run route without the per-request work of FastAPI and the middleware (issue 19: run_code
within a millisecond).

``POST /v1/sandboxes/{id}/execute`` is on the path of every ``run_code``. Served through FastAPI
it costs ~0.7 ms more a run than the same route function called straight (BENCHMARKS.md, "Fifth
pass"): matching the route among the others, solving its four dependencies, parsing the body
into its model through FastAPI's field machinery; the app's middleware in front of it (the
request guard, the E2B traffic router, Starlette's and FastAPI's own layers) ~20 us of CPU more,
0.02-0.14 ms of a run on this machine, which runs code slower after an idle ("Tenth pass").

``FastAPIWithHotPath`` is the app itself (what uvicorn serves), FastAPI with one addition: it
serves a run whose request is plainly well-formed by calling the route's own function,
``routes.execute.execute``, and answers what that raises as the app's error handlers do
(``errors.answer``). Plainly well-formed is what the layers it goes around would have let
through untouched: a body of a ``Content-Length`` within the guard's bound (not chunked), the
API key right (the guard's check and the route's, ``require_api_key``, on the headers, before the
body is read), no E2B sandbox named (no ``E2b-Sandbox-Id``, no ``{port}-{id}.`` host: the
router's), an ``application/json`` body that ``Execute`` accepts. Anything else goes on to the
app, with the body it sent if it was read, and is answered exactly as before: the route's
behaviour, and its OpenAPI entry, stay FastAPI's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from starlette.requests import HTTPConnection
from starlette.types import Message, Receive, Scope, Send

from interpreter.api import errors
from interpreter.api.deps import require_api_key
from interpreter.api.e2b.routing import HOST
from interpreter.api.ndjson import NDJSONResponse
from interpreter.api.routes import execute
from interpreter.api.schemas import Execute
from interpreter.core.errors import InterpreterError

EXECUTE_PATH = re.compile(r"/v1/sandboxes/([^/]+)/execute")  # Starlette's {sandbox_id}: [^/]+
# The headers the hot path decides on; any of them said twice: the app decides.
READ = frozenset({b"content-type", b"content-length", b"transfer-encoding", b"host"})
E2B_SANDBOX = b"e2b-sandbox-id"


class FastAPIWithHotPath(FastAPI):
    """FastAPI, with the run route served in front of the middleware (see the module's
    docstring). ``max_body``: the request guard's bound, in bytes."""

    def __init__(self, *, max_body: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            EXECUTE_PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if match is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # as Starlette sets it: the key check reads the app's key
        if not self._plain(scope):
            await super().__call__(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return  # the client went away before its body was read
        request = _valid(body)
        if request is None:
            await super().__call__(scope, _replay(body, receive), send)
            return
        response: NDJSONResponse | None = None
        try:
            response = await execute.execute(match.group(1), request, self.state.manager)
            await response(scope, receive, send)
        except InterpreterError as exc:
            if response is not None and response.started:
                raise  # the answer is under way: the connection drops, as with FastAPI
            await errors.answer(exc)(scope, receive, send)

    def _plain(self, scope: Scope) -> bool:
        """Whether the guard and the E2B router would let the request through untouched, its
        key right, its body JSON of a length within the bound (read off the headers)."""
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name == E2B_SANDBOX:
                return False  # the router's: E2B traffic for a sandbox, maybe
            if name in READ:
                if name in found:
                    return False
                found[name] = value
        kind, length = found.get(b"content-type", b""), found.get(b"content-length", b"")
        if (
            kind.split(b";", 1)[0].strip().lower() != b"application/json"
            or b"transfer-encoding" in found
            or not length.isdigit()
            or int(length) > self.max_body
            or HOST.match(found.get(b"host", b"").decode("latin-1"))
        ):
            return False
        try:
            require_api_key(HTTPConnection(scope))
        except InterpreterError:
            return False
        return True


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _valid(body: bytes) -> Execute | None:
    """The run asked for, if the body is one FastAPI would accept as is (``json.loads`` then
    the model, as FastAPI parses it); None: FastAPI is to answer."""
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
