"""E2B envd (port 49983): plain HTTP (/health, /files, /envs, /metrics) and the Connect-protocol
JSON services process.Process and filesystem.Filesystem."""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    return FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
