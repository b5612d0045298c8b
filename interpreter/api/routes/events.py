"""/v1/sandboxes/{id}/events (a sandbox's lifecycle events, paged) and /v1/webhooks (where
they are POSTed as they happen)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.api.schemas import Body
from interpreter.core.errors import InvalidRequestError, NotFoundError
from interpreter.core.lifecycle import WebhookRecord
from interpreter.service.manager import SandboxManager

router = APIRouter(tags=["events"], responses=answers(NotFoundError, InvalidRequestError))
Manager = Annotated[SandboxManager, Depends(manager)]


class LifecycleEvent(BaseModel):
    id: str = Field(description="Unique; the same in every webhook delivery of it.")
    seq: int = Field(description="Orders the service's events: a page's cursor (`after`).")
    type: str = Field(description="sandbox.lifecycle.created, paused, resumed, updated, ...")
    sandbox_id: str
    template: str
    timestamp: datetime
    data: dict[str, Any] = Field(
        description="sandbox_metadata, and the type's: memory, reason, set_timeout, ..."
    )


class EventPage(BaseModel):
    events: list[LifecycleEvent]
    next: int | None = Field(
        description="Pass as `after` for the next page; null: there is no more."
    )


class NewWebhook(Body):
    url: str = Field(description="An http(s) URL; events are POSTed to it (no redirects).")
    events: list[str] | None = Field(None, description="The event types sent (default: all).")
    secret: str | None = Field(
        None, description="Signs each delivery (HMAC-SHA256); generated if not given."
    )
    name: str | None = Field(None, max_length=128)
    enabled: bool = True


class WebhookUpdate(Body):
    url: str | None = None
    events: list[str] | None = None
    secret: str | None = None
    name: str | None = Field(None, max_length=128)
    enabled: bool | None = None


class Webhook(BaseModel):
    id: str
    name: str
    url: str
    events: list[str] = Field(description="The event types sent; empty: all.")
    enabled: bool
    created_at: datetime
    pending: int = Field(description="Deliveries not made yet (being retried, or due).")
    secret: str | None = Field(None, description="Only in the answer to its creation.")


def _webhook(
    sandboxes: SandboxManager, record: WebhookRecord, secret: str | None = None
) -> Webhook:
    pending = sandboxes.webhooks.pending(record.id)
    return Webhook(**record.model_dump(), pending=pending, secret=secret)


@router.get("/sandboxes/{sandbox_id}/events")
async def sandbox_events(
    sandbox_id: str,
    sandboxes: Manager,
    limit: Annotated[str | None, Query(description="Events per page: 1-1000 (100).")] = None,
    direction: Annotated[
        str | None, Query(description="asc (default: oldest first) or desc.")
    ] = None,
    after: Annotated[
        str | None, Query(description="The `next` of the previous page (an event's seq).")
    ] = None,
) -> EventPage:
    """The sandbox's lifecycle events, kept `INTERPRETER_EVENTS_RETENTION` seconds after it is
    gone: 404 for a sandbox that neither exists nor has events."""
    page = sandboxes.events_of(sandbox_id, limit, direction, after)
    events = [LifecycleEvent.model_validate(e.model_dump()) for e in page.events]
    return EventPage(events=events, next=page.next)


@router.post("/webhooks", status_code=201)
async def create_webhook(body: NewWebhook, sandboxes: Manager) -> Webhook:
    """Register a URL that gets every lifecycle event (or those in `events`) as it happens,
    signed with `secret` (the answer has it; shown only now)."""
    record, secret = sandboxes.webhooks.create(
        body.url, body.events, body.secret, body.name, body.enabled
    )
    return _webhook(sandboxes, record, secret)


@router.get("/webhooks")
async def list_webhooks(sandboxes: Manager) -> list[Webhook]:
    """Every webhook (without secrets)."""
    return [_webhook(sandboxes, r) for r in sandboxes.webhooks.list()]


@router.get("/webhooks/{webhook_id}")
async def get_webhook(webhook_id: str, sandboxes: Manager) -> Webhook:
    """One webhook (without its secret)."""
    return _webhook(sandboxes, sandboxes.webhooks.get(webhook_id))


@router.patch("/webhooks/{webhook_id}")
async def update_webhook(webhook_id: str, body: WebhookUpdate, sandboxes: Manager) -> Webhook:
    """Change what is given (the URL applies to deliveries still pending too)."""
    record = sandboxes.webhooks.update(
        webhook_id, body.url, body.events, body.secret, body.name, body.enabled
    )
    return _webhook(sandboxes, record)


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, sandboxes: Manager) -> Response:
    """Unregister it; its pending deliveries are dropped."""
    sandboxes.webhooks.delete(webhook_id)
    return Response(status_code=204)
