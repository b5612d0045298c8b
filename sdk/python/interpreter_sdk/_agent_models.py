"""What the agent runtime's calls return, and its streams' parser (server-sent events), shared
by AgentRuntimeClient and its asyncio twin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interpreter_sdk._errors import error_from_fault

SESSION_HEADER = "X-Interpreter-Session-Id"


@dataclass(frozen=True)
class AgentInfo:
    id: str  # agent_<name>_v<version>
    name: str
    version: int
    template: str
    created_at: datetime

    @classmethod
    def of(cls, data: dict[str, Any]) -> AgentInfo:
        return cls(
            data["id"], data["name"], int(data["version"]), data["template"],
            datetime.fromisoformat(data["created_at"]),
        )  # fmt: skip


class EventParser:
    """Server-sent events, line by line: ``feed`` gives each complete event's data (JSON
    decoded when it is JSON), and raises the error an ``event: error`` carries."""

    def __init__(self) -> None:
        self.kind = ""
        self.data: list[str] = []

    def feed(self, line: str) -> list[Any]:
        if line.endswith("\r"):
            line = line[:-1]
        if line:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                self.data.append(value)
            elif field == "event":
                self.kind = value
            return []
        if not self.data:
            self.kind = ""
            return []
        text, kind = "\n".join(self.data), self.kind
        self.data, self.kind = [], ""
        try:
            item: Any = json.loads(text)
        except ValueError:
            item = text
        if kind == "error":
            error = item.get("error") if isinstance(item, dict) else None
            raise error_from_fault(error if isinstance(error, dict) else {"message": text})
        return [item]


def payload_bytes(payload: bytes | str | Any) -> bytes:
    """The payload as sent: bytes as they are, text encoded, anything else as JSON."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload).encode()
