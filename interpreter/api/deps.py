"""Request dependencies: the API key check and the core service."""

from __future__ import annotations

import hmac
import re
import secrets
import time

from fastapi import Request
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from interpreter.core.errors import AuthenticationError, InterpreterError
from interpreter.service.manager import SandboxManager
from interpreter.service.ports import SESSION_COOKIE, VIEW_COOKIE

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
# The notebook view's session (interpreter/api/ui.py): an HttpOnly cookie its script cannot read,
# "<expiry>.<nonce>.<HMAC under the key>" (a new key ends every session). The browser sends it
# with any request to this site, so it opens only what the page calls (never a sandbox's
# ports, whose pages would run on this origin), and a request that changes something must also
# carry UI_HEADER, which no other site's page can add without a CORS preflight this service
# never answers (forms can't). A sandbox's server never sees it (service/ports.py).
UI_HEADER = "X-Interpreter-UI"
READS = ("GET", "HEAD")
SESSION_SECONDS = 7 * 86400
SESSION_PATHS = re.compile(
    r"/v1/sandboxes(/[\w-]+(/contexts(/[\w-]+/(interrupt|restart))?|/metrics|/execute|/pause"
    r"|/resume|/timeout|/files(/list)?|/notebook(/events|/share)?"
    r"|/cells(/[\w-]+(/output|/outputs/\d+/html))?)?)?"
)
# A link shared read-only (POST /v1/sandboxes/{id}/notebook/share) opens only what the view
# shows of that sandbox: its record, contexts, cells (and their HTML), notebook and metrics.
VIEW_PATHS = re.compile(
    r"/v1/sandboxes/(?P<id>[\w-]+)"
    r"(/contexts|/metrics|/notebook(/events)?|/cells(/[\w-]+(/output|/outputs/\d+/html))?)?"
)


def _session_mac(api_key: str, claims: str) -> str:
    message = f"interpreter notebook view session {claims}".encode()
    return hmac.new(api_key.encode(), message, "sha256").hexdigest()


def session_token(api_key: str) -> str:
    """A new session's cookie value: it expires, and one leaked says nothing of the key."""
    claims = f"{int(time.time()) + SESSION_SECONDS}.{secrets.token_hex(16)}"
    return f"{claims}.{_session_mac(api_key, claims)}"


def _valid_session(token: str, api_key: str) -> bool:
    claims, _, mac = token.rpartition(".")
    expires = claims.split(".", 1)[0]
    if not expires.isdigit() or int(expires) < time.time():
        return False
    return hmac.compare_digest(mac.encode(), _session_mac(api_key, claims).encode())


async def key_dependency(connection: HTTPConnection) -> None:
    """``require_api_key`` as a route's dependency. FastAPI runs a plain ``def`` dependency in
    its thread pool (a hop to a worker thread and back, each waiting for the GIL, on every
    request); a coroutine runs on the loop. It does no IO: nothing blocks the loop."""
    require_api_key(connection)


def require_api_key(connection: HTTPConnection) -> None:
    # An HTTP request or a websocket (a sandbox's port): the same key. Sync: the guard calls it.
    given = connection.headers.get("X-API-Key")
    expected: str = connection.app.state.api_key
    if not given:
        if _session(connection, expected) or _shared_view(connection):
            return
        raise AuthenticationError("missing X-API-Key header")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationError("invalid API key")


def _shared_view(connection: HTTPConnection) -> bool:
    """A shared view's cookie (ui.py): reads of that one sandbox's view, nothing else."""
    token = connection.cookies.get(VIEW_COOKIE)
    if not token or connection.scope["type"] != "http" or connection.scope["method"] not in READS:
        return False
    sandboxes: SandboxManager = connection.app.state.manager
    try:
        grant = sandboxes.signer.verify(token, "view")
    except InterpreterError:
        return False
    match = VIEW_PATHS.fullmatch(connection.url.path)
    return match is not None and match["id"] == grant.sandbox_id


def _session(connection: HTTPConnection, api_key: str) -> bool:
    cookie = connection.cookies.get(SESSION_COOKIE)
    if not cookie or not _valid_session(cookie, api_key):
        return False
    if connection.scope["type"] != "http":  # any site's page may open a websocket: no cookie
        return False
    if SESSION_PATHS.fullmatch(connection.url.path) is None:
        return False
    return connection.scope["method"] in READS or connection.headers.get(UI_HEADER) == "1"


async def manager(request: Request) -> SandboxManager:
    # async: on the event loop, not in the thread pool (see key_dependency).
    sandboxes: SandboxManager = request.app.state.manager  # app.state is untyped
    return sandboxes
