"""Lifecycle events: what happened to a sandbox (created, paused, resumed, updated, killed...),
as ``Sandbox.get_events`` returns them. No IO here: shared by the twins."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Direction = Literal["asc", "desc"]


@dataclass
class LifecycleEvent:
    """One transition of a sandbox, e.g. ``type="sandbox.lifecycle.paused"``, ``data={"memory":
    True, "reason": "request", "sandbox_metadata": {...}}``."""

    id: str  # unique: the same in every webhook delivery of it
    seq: int  # orders events: pass the last one's as ``after`` for the next page
    type: str
    sandbox_id: str
    template: str
    timestamp: datetime
    data: dict[str, Any] = field(default_factory=dict)


def events_params(limit: int | None, direction: Direction, after: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"direction": direction}
    if limit is not None:
        params["limit"] = limit
    if after is not None:
        params["after"] = after
    return params


def lifecycle_event(data: dict[str, Any]) -> LifecycleEvent:
    return LifecycleEvent(
        id=data["id"],
        seq=int(data["seq"]),
        type=data["type"],
        sandbox_id=data["sandbox_id"],
        template=data["template"],
        timestamp=datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00")),
        data=data.get("data") or {},
    )
