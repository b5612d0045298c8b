"""Request dependencies: the API key check and the core service."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from interpreter.core.errors import AuthenticationError
from interpreter.service.manager import SandboxManager

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def require_api_key(connection: HTTPConnection) -> None:
    # An HTTP request or a websocket (a sandbox's port): the same key.
    given = connection.headers.get("X-API-Key")
    expected: str = connection.app.state.api_key
    if not given:
        raise AuthenticationError("missing X-API-Key header")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationError("invalid API key")


def manager(request: Request) -> SandboxManager:
    sandboxes: SandboxManager = request.app.state.manager  # app.state is untyped
    return sandboxes
