"""E2B control plane: /sandboxes and /v2/sandboxes (create, connect, list, kill, timeout, pause,
metrics), authenticated by ``X-API-KEY``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["e2b"])
