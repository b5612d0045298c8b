"""The E2B surface: a thin adapter that lets the unmodified official E2B SDKs drive this service.

Control plane (``/sandboxes``, ``/v2/sandboxes``) is mounted on the main app under the API key;
data plane traffic (envd on port 49983, the code interpreter on 49999) arrives on the same origin
and is told apart by its ``E2b-Sandbox-Id`` / ``E2b-Sandbox-Port`` headers (see ``routing``).
Everything here translates wire formats and calls the same ``SandboxManager`` as the native API.
"""

from __future__ import annotations

from fastapi import FastAPI

from interpreter.api.e2b import (
    control,
    envd,
    events,
    jupyter,
    ports,
    secrets,
    snapshots,
    templates,
    volumes,
)
from interpreter.api.e2b.routing import SandboxTrafficRouter


def mount(app: FastAPI) -> None:
    """Add the E2B control plane to ``app`` and route E2B data-plane traffic around it."""
    # Before the control plane's: its catch-all answers 501 for the rest of /templates.
    app.include_router(templates.router)
    app.include_router(templates.uploads)
    app.include_router(secrets.router)
    app.include_router(snapshots.router)
    app.include_router(volumes.router)
    app.include_router(volumes.content)
    app.include_router(events.router)
    app.include_router(control.router)
    envd_app, jupyter_app, ports_app = envd.create_app(), jupyter.create_app(), ports.create_app()
    # One manager, one settings, one key.
    envd_app.state = jupyter_app.state = ports_app.state = app.state
    app.add_middleware(SandboxTrafficRouter, envd=envd_app, jupyter=jupyter_app, ports=ports_app)
