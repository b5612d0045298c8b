"""E2B's lifecycle events API (``GET /events/sandboxes[/{id}]``) and its webhooks
(``/events/webhooks``): the same events and webhooks as the native API's, in E2B's shapes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from interpreter.api.deps import manager
from interpreter.api.e2b.control import control_router
from interpreter.api.e2b.schemas import iso
from interpreter.core.lifecycle import WebhookRecord
from interpreter.service.manager import SandboxManager
from interpreter.service.webhooks import TEAM_ID, e2b_event

router = control_router()
Manager = Annotated[SandboxManager, Depends(manager)]
MAX_PAGE = 100
MAX_OFFSET = 2**62  # SQLite integers are 64-bit: a larger offset is a 400, not a 500
# E2B's paging of events, the same for one sandbox's and for all.
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
OrderAsc = Annotated[bool, Query(alias="orderAsc")]
Types = Annotated[list[str] | None, Query()]


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str | None = Field(None, max_length=128)
    url: str
    enabled: bool = True
    events: list[str] | None = None
    # Required: E2B's answer never shows a secret, so one made here would be known to no one.
    signature_secret: str = Field(..., min_length=1, alias="signatureSecret")


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str | None = Field(None, max_length=128)
    url: str | None = None
    enabled: bool | None = None
    events: list[str] | None = None
    signature_secret: str | None = Field(None, alias="signatureSecret")


def _webhook(record: WebhookRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "teamID": TEAM_ID,
        "name": record.name,
        "createdAt": iso(record.created_at),
        "enabled": record.enabled,
        "url": record.url,
        "events": record.events,
    }


def _events(
    sandboxes: SandboxManager,
    sandbox_id: str | None,
    offset: int,
    limit: int,
    order_asc: bool,
    types: list[str] | None,
) -> list[dict[str, Any]]:
    events = sandboxes.lifecycle.list(sandbox_id, limit, order_asc, offset, types)
    return [e2b_event(e) for e in events]


@router.get("/events/sandboxes/{sandbox_id}", summary="E2B: a sandbox's lifecycle events")
async def sandbox_events(
    sandbox_id: str,
    sandboxes: Manager,
    offset: Offset = 0,
    limit: Limit = 10,
    order_asc: OrderAsc = False,
    types: Types = None,
) -> list[dict[str, Any]]:
    return _events(sandboxes, sandbox_id, offset, limit, order_asc, types)


@router.get("/events/sandboxes", summary="E2B: every sandbox's lifecycle events")
async def all_events(
    sandboxes: Manager,
    offset: Offset = 0,
    limit: Limit = 10,
    order_asc: OrderAsc = False,
    types: Types = None,
) -> list[dict[str, Any]]:
    return _events(sandboxes, None, offset, limit, order_asc, types)


@router.post("/events/webhooks", status_code=201, summary="E2B: register a webhook")
async def create_webhook(body: NewWebhook, sandboxes: Manager) -> dict[str, Any]:
    record, _ = sandboxes.webhooks.create(
        body.url, body.events, body.signature_secret, body.name, body.enabled
    )
    return _webhook(record)


@router.get("/events/webhooks", summary="E2B: list webhooks")
async def list_webhooks(sandboxes: Manager) -> list[dict[str, Any]]:
    return [_webhook(r) for r in sandboxes.webhooks.list()]


@router.get("/events/webhooks/{webhook_id}", summary="E2B: a webhook's configuration")
async def get_webhook(webhook_id: str, sandboxes: Manager) -> dict[str, Any]:
    return _webhook(sandboxes.webhooks.get(webhook_id))


@router.patch("/events/webhooks/{webhook_id}", summary="E2B: update a webhook")
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, sandboxes: Manager
) -> dict[str, Any]:
    record = sandboxes.webhooks.update(
        webhook_id, body.url, body.events, body.signature_secret, body.name, body.enabled
    )
    return _webhook(record)


@router.delete("/events/webhooks/{webhook_id}", summary="E2B: delete a webhook")
async def delete_webhook(webhook_id: str, sandboxes: Manager) -> dict[str, Any]:
    sandboxes.webhooks.delete(webhook_id)
    return {}
