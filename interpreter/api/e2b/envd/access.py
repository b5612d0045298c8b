"""Who a request to envd is for and from: the sandbox, the access token, the acting user.

Every sandbox has an envd access token (derived from its id, see ``tokens``); the SDKs send it
as ``X-Access-Token``. ``/health`` needs none; ``/files`` takes the token or a URL signature
made with it (``download_url()`` / ``upload_url()``), checked as envd does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Literal

from starlette.requests import Request

from interpreter.api.e2b import tokens
from interpreter.api.e2b.envd.connect import ConnectError
from interpreter.api.e2b.routing import target
from interpreter.core.errors import SandboxNotFoundError
from interpreter.service.manager import SandboxManager

User = Literal["user", "root"]
USERS: tuple[User, ...] = ("user", "root")
Operation = Literal["read", "write"]


def manager_of(request: Request) -> SandboxManager:
    sandboxes: SandboxManager = request.app.state.manager  # app.state is untyped
    return sandboxes


def token_of(request: Request, sandbox_id: str) -> str:
    return tokens.envd_access_token(manager_of(request).signer.key, sandbox_id)


def live_sandbox_id(request: Request) -> str:
    """The sandbox named by the request's headers; SandboxNotFoundError (the proxy's 502) if
    unknown or killed."""
    sandbox_id = target(request).sandbox_id
    if sandbox_id is None:
        raise SandboxNotFoundError("the request names no sandbox")
    try:
        manager_of(request).reachable(sandbox_id)
    except SandboxNotFoundError as exc:
        raise SandboxNotFoundError(str(exc), sandbox_id=sandbox_id) from None
    return sandbox_id


def has_valid_token(request: Request, sandbox_id: str) -> bool:
    given = request.headers.get("x-access-token")
    return given is not None and hmac.compare_digest(given, token_of(request, sandbox_id))


def check_token(request: Request, sandbox_id: str) -> None:
    if not has_valid_token(request, sandbox_id):
        raise ConnectError("unauthenticated", "a valid X-Access-Token header is required")


def user_of(request: Request) -> User:
    """The acting user: ``Authorization: Basic base64(user:)`` (RPC) or ``?username=`` (HTTP);
    the sandbox's default user when neither is given."""
    name = request.query_params.get("username") or None
    header = request.headers.get("authorization", "")
    if name is None and header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ConnectError("unauthenticated", "malformed Basic authorization") from None
        name = decoded.split(":", 1)[0] or None
    if name is None:
        return "user"
    for user in USERS:
        if name == user:
            return user
    raise ConnectError("unauthenticated", f"unknown user {name!r}: use 'user' or 'root'")


def signature(path: str, operation: Operation, user: str, token: str, expiration: str) -> str:
    raw = f"{path}:{operation}:{user}:{token}" + (f":{expiration}" if expiration else "")
    digest = hashlib.sha256(raw.encode()).digest()
    return "v1_" + base64.b64encode(digest).rstrip(b"=").decode()


def signature_matches(request: Request, operation: Operation, token: str) -> bool:
    query = request.query_params
    given, expiration = query.get("signature"), query.get("signature_expiration", "")
    if not given:
        return False
    wanted = signature(
        query.get("path", ""), operation, query.get("username", ""), token, expiration
    )
    return hmac.compare_digest(given, wanted)


def check_signature_expiry(request: Request) -> None:
    expiration = request.query_params.get("signature_expiration", "")
    if not expiration:
        return
    if not expiration.isdigit() or int(expiration) < time.time():
        raise ConnectError("unauthenticated", "signature is already expired")  # envd's words


def files_sandbox_id(request: Request, operation: Operation) -> str:
    """The sandbox of a ``/files`` request: from its headers (then the token or a signature
    must be valid) or, for a header-less signed URL, the live sandbox whose token made the
    signature."""
    sandbox_id = target(request).sandbox_id
    manager = manager_of(request)
    if sandbox_id is not None:
        sandbox_id = live_sandbox_id(request)
        if has_valid_token(request, sandbox_id):
            return sandbox_id
        if signature_matches(request, operation, token_of(request, sandbox_id)):
            check_signature_expiry(request)
            return sandbox_id
        raise ConnectError("unauthenticated", "a valid X-Access-Token or signature is required")
    if not request.query_params.get("signature"):
        raise ConnectError("unauthenticated", "a signature is required (use download_url())")
    for record in manager.list():
        if record.state == "killed":
            continue
        if signature_matches(request, operation, token_of(request, record.id)):
            check_signature_expiry(request)
            return record.id
    raise ConnectError("unauthenticated", "the signature matches no running sandbox")
