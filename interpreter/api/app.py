"""The FastAPI application: native API under /v1, /health, OpenAPI docs at /docs."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from interpreter import __version__
from interpreter.api import e2b, errors
from interpreter.api.deps import api_key_header, require_api_key
from interpreter.api.routes import commands, contexts, execute, files, pool, sandboxes
from interpreter.core.config import Settings
from interpreter.core.errors import AuthenticationError
from interpreter.service.manager import SandboxManager

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    api_key = settings.api_key or secrets.token_hex(16)
    if not settings.api_key:
        log.warning("INTERPRETER_API_KEY is not set; this run accepts the key: %s", api_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager = SandboxManager(settings)
        await manager.start()
        await manager.start_pool()
        app.state.manager = manager
        try:
            yield
        finally:
            await manager.stop()

    app = FastAPI(title="Code interpreter", version=__version__, lifespan=lifespan)
    app.state.api_key = api_key
    app.state.settings = settings
    errors.install(app)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: answers without an API key."""
        return {"status": "ok"}

    v1 = APIRouter(
        prefix="/v1",
        dependencies=[Depends(api_key_header), Depends(require_api_key)],
        responses=errors.answers(AuthenticationError),
    )
    for module in (sandboxes, contexts, execute, files, commands, pool):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(files.signed)  # authenticated by the URL's signature, not the key
    e2b.mount(app)
    return app
