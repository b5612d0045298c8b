"""Per-sandbox access tokens, derived rather than stored: HMAC of the sandbox id under the
service's signing key, so they survive restarts and need no column of their own."""

from __future__ import annotations

import hashlib
import hmac


def envd_access_token(key: bytes, sandbox_id: str) -> str:
    """``envdAccessToken``: sent back by the SDK as ``X-Access-Token``; also signs file URLs."""
    return hmac.new(key, b"envd:" + sandbox_id.encode(), hashlib.sha256).hexdigest()


def traffic_access_token(key: bytes, sandbox_id: str) -> str:
    """``trafficAccessToken``: sent back as ``E2B-Traffic-Access-Token`` to the interpreter."""
    return hmac.new(key, b"traffic:" + sandbox_id.encode(), hashlib.sha256).hexdigest()


def volume_token(key: bytes, volume_id: str) -> str:
    """A volume's ``token``: E2B's SDKs send it as ``Authorization: Bearer`` to the volume
    content API (``/volumecontent/{id}/...``), and it opens that volume only."""
    return hmac.new(key, b"volume:" + volume_id.encode(), hashlib.sha256).hexdigest()
