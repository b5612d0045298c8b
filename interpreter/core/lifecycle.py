"""Lifecycle events: what happened to a sandbox, when (not what a run yields: that is
``core.events``), and the webhooks they are sent to.

The event types are E2B's lifecycle events' (``sandbox.lifecycle.*``) where E2B has one, and
ours for what only this service tells apart (a dead kernel, a sandbox re-attached after a
restart of the front end). Why something happened is in the event's ``data`` (``reason``), as
E2B puts what it knows in ``eventData``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, Field

from interpreter.core.models import now

PREFIX: Final = "sandbox.lifecycle."
CREATED: Final = PREFIX + "created"  # data: forked_from for a fork
PAUSED: Final = PREFIX + "paused"  # data: memory, reason ("request" or "timeout")
RESUMED: Final = PREFIX + "resumed"  # data: memory (restored from its checkpoint or fresh)
UPDATED: Final = PREFIX + "updated"  # data: set_timeout (E2B's key) or network
KILLED: Final = PREFIX + "killed"  # data: reason ("request", "timeout" or "lost")
CHECKPOINTED: Final = PREFIX + "checkpointed"  # a snapshot of it; data: snapshot_id, memory
KERNEL_DIED: Final = PREFIX + "kernel_died"  # data: context_id, language
REATTACHED: Final = PREFIX + "reattached"  # the front end restarted; data: state

EVENT_TYPES: Final = (
    CREATED, PAUSED, RESUMED, UPDATED, KILLED, CHECKPOINTED, KERNEL_DIED, REATTACHED,
)  # fmt: skip


class LifecycleEvent(BaseModel):
    """One transition of one sandbox. ``seq`` orders every event of the service (a page's
    cursor); ``id`` is unique, the same in every delivery of it."""

    id: str
    seq: int = 0  # given by the store
    type: str
    sandbox_id: str
    template: str
    timestamp: datetime = Field(default_factory=now)
    # Everything known about it: the sandbox's metadata (sandbox_metadata) and the type's keys.
    data: dict[str, Any] = Field(default_factory=dict)


class WebhookRecord(BaseModel):
    """Where events are POSTed, signed with its secret (stored apart, never read back)."""

    id: str
    name: str
    url: str
    events: list[str] = Field(default_factory=list)  # those sent; empty: every type
    enabled: bool = True
    created_at: datetime = Field(default_factory=now)

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.events or event_type in self.events)
