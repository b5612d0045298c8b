"""Signed file URLs: a browser or curl can read or write one file of one sandbox until the URL
expires, without the API key. The token carries its own claims, authenticated with HMAC-SHA256
under a key kept in the state folder (so URLs survive a restart of the front end)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from interpreter.core.errors import InvalidRequestError, PermissionDeniedError
from interpreter.core.protocol import User

Operation = Literal["read", "write", "view"]  # view: a notebook view shared read-only
MAX_EXPIRY = 7 * 24 * 3600


@dataclass(frozen=True)
class Grant:
    sandbox_id: str
    path: str
    user: User  # a route's checked parameter when signed; the MAC vouches for it after
    operation: Operation
    expires: int  # unix seconds


class Signer:
    def __init__(self, key_file: Path) -> None:
        self.key = _load_or_create(key_file)

    def sign(self, grant: Grant) -> str:
        claims = json.dumps(grant.__dict__, separators=(",", ":"), sort_keys=True).encode()
        return _b64(claims) + "." + _b64(self._mac(claims))

    def verify(self, token: str, operation: Operation) -> Grant:
        try:
            claims_part, mac_part = token.split(".")
            claims = _unb64(claims_part)
            mac = _unb64(mac_part)
        except ValueError:
            raise PermissionDeniedError("malformed signed URL") from None
        if not hmac.compare_digest(mac, self._mac(claims)):
            raise PermissionDeniedError("invalid signature")
        grant = Grant(**json.loads(claims))
        if grant.operation != operation:
            raise PermissionDeniedError(f"this URL allows {grant.operation}, not {operation}")
        if grant.expires < time.time():
            raise PermissionDeniedError("this signed URL has expired")
        return grant

    def _mac(self, claims: bytes) -> bytes:
        return hmac.new(self.key, claims, hashlib.sha256).digest()


def expiry(seconds: int) -> int:
    if not 1 <= seconds <= MAX_EXPIRY:
        raise InvalidRequestError(f"expires_in must be between 1 and {MAX_EXPIRY} seconds")
    return int(time.time()) + seconds


def _load_or_create(key_file: Path) -> bytes:
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    return key_file.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
