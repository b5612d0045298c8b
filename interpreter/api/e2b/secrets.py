"""E2B's secrets API (``Secret.create`` / ``update`` / ``get_info`` / ``exists`` / ``list`` /
``destroy``): values are write-only; a create's ``envs`` use one with ``Secret.fill(name)``
(``service/secrets.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from interpreter.api.deps import manager
from interpreter.api.e2b.control import control_router
from interpreter.api.e2b.schemas import iso
from interpreter.core.errors import InvalidRequestError
from interpreter.core.models import SecretRecord
from interpreter.service.manager import SandboxManager

router = control_router()
Manager = Annotated[SandboxManager, Depends(manager)]
PAGE = 100


class NewSecret(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(..., min_length=1, max_length=128)
    value: str
    metadata: dict[str, str] | None = None


class SecretUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: str
    metadata: dict[str, str] | None = None


def _secret(record: SecretRecord) -> dict[str, Any]:
    return {
        "secretID": record.id,
        "name": record.name,
        "currentVersion": record.version,
        "metadata": record.metadata,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }


@router.post("/secrets", status_code=201, summary="E2B: create a secret")
async def create_secret(body: NewSecret, sandboxes: Manager) -> dict[str, Any]:
    return _secret(sandboxes.secrets.create(body.name, body.value, body.metadata))


@router.get("/secrets", summary="E2B: list secrets (no values)")
async def list_secrets(
    sandboxes: Manager,
    limit: Annotated[int, Query(ge=1)] = PAGE,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> JSONResponse:
    records = sandboxes.secrets.list()
    start = 0
    if next_token:
        if not next_token.isdigit():
            raise InvalidRequestError("invalid nextToken: pass the x-next-token of the last page")
        start = int(next_token)
    limit = min(limit, PAGE)
    page = records[start : start + limit]
    more = start + limit < len(records)
    headers = {"x-next-token": str(start + limit)} if more else {}
    return JSONResponse([_secret(r) for r in page], headers=headers)


@router.get("/secrets/{secret}", summary="E2B: a secret's info (no value)")
async def get_secret(secret: str, sandboxes: Manager) -> dict[str, Any]:
    return _secret(sandboxes.secrets.get(secret))


@router.post("/secrets/{secret}", summary="E2B: a secret's new value (a new version)")
async def update_secret(secret: str, body: SecretUpdate, sandboxes: Manager) -> dict[str, Any]:
    return _secret(sandboxes.secrets.update(secret, body.value, body.metadata))


@router.delete("/secrets/{secret}", status_code=204, summary="E2B: destroy a secret")
async def delete_secret(secret: str, sandboxes: Manager) -> Response:
    sandboxes.secrets.delete(secret)
    return Response(status_code=204)
