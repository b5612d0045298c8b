"""E2B code interpreter (port 49999): /execute NDJSON and /contexts."""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    return FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
