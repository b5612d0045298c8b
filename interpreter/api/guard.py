"""The front door: what is decided about a request before its body is read.

- **Keys first.** When a route is about to read its body, the guard runs that route's key check
  (``KeyCheck``: the native ``X-API-Key``, E2B's ``X-API-KEY``, a code-interpreter sandbox
  token) on the headers alone. If it fails, the route is handed an empty body: its own
  dependency then answers 401 in its surface's shape, exactly as before, and nothing the client
  sent is read.
- **Bodies are bounded** (``INTERPRETER_MAX_BODY_MB``): a larger ``Content-Length`` is refused
  before any byte is read, a chunked body as soon as it goes over; the refusal is an
  ``HTTPException(413)`` raised where the route reads its body, so each surface answers in its
  own shape (native: the JSON error body). File uploads (``streamed`` routes) stream to the
  sandbox and are not limited.
- **What is not read is not drained**: a response that starts before the request's body was
  read to its end says ``Connection: close``, so uvicorn drops the connection instead of
  reading (and discarding) the rest, be it a gigabyte.

envd's traffic (E2B port 49983) passes untouched: its uploads stream, its Connect messages are
bounded one by one (``envd.connect``), and its token checks are part of its wire behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interpreter.api.e2b.routing import JUPYTER_PORT, target_of
from interpreter.core.errors import InterpreterError

# Raises an InterpreterError (AuthenticationError, SandboxNotFoundError...) if the headers do not
# let the request in; None: the route needs no key.
KeyCheck = Callable[[Request], object]
Policy = Callable[[Scope], KeyCheck | None]
EMPTY_BODY: Message = {"type": "http.request", "body": b"", "more_body": False}


class RequestGuard:
    """ASGI middleware around every surface (see the module's docstring).

    ``policy(scope)`` names the key check of the request's route (called once the route is
    matched: ``scope["route"]`` is set); ``streamed`` are the endpoints whose body is a file.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: Policy,
        streamed: Collection[Callable[..., Any]],
        max_body: int,
    ) -> None:
        self.app, self.policy, self.streamed, self.max_body = app, policy, streamed, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = target_of(scope)
        if target is not None and target.port != JUPYTER_PORT:
            await self.app(scope, receive, send)  # envd
            return
        body = GuardedBody(self, scope, receive)

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not body.complete:
                MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        await self.app(scope, body.receive, send_closing)


class GuardedBody:
    """One request's ``receive``: the key check at the first read, then the size limit."""

    def __init__(self, guard: RequestGuard, scope: Scope, receive: Receive) -> None:
        self.guard, self.scope, self._receive = guard, scope, receive
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        self.length = int(length) if length.isdigit() else None
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.complete = not chunked and not self.length  # nothing to read
        self.received = 0
        self.started = self.refused = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}  # the body the route was given was empty
        if not self.started:
            self.started = True
            check = self.guard.policy(self.scope)
            if check is not None and not self._lets_in(check):
                self.refused = True
                return EMPTY_BODY
        if self._limited() and (self.length or 0) > self.guard.max_body:
            raise self._too_large()
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self._limited() and self.received > self.guard.max_body:
                self.complete = False
                raise self._too_large()
        return message

    def _lets_in(self, check: KeyCheck) -> bool:
        try:
            check(Request(self.scope))
        except InterpreterError:
            return False
        return True

    def _limited(self) -> bool:
        return getattr(self.scope.get("route"), "endpoint", None) not in self.guard.streamed

    def _too_large(self) -> HTTPException:
        mib = self.guard.max_body >> 20
        return HTTPException(
            413, f"the request body is larger than {mib} MiB (INTERPRETER_MAX_BODY_MB)"
        )
