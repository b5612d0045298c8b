"""Agents and their sessions in SQLite, in the store's database.

An agent is a name and a version (``agent_<name>_v<version>``), each version a template of
its own, so versions coexist. A session is a session id of one agent mapped to the sandbox
that serves it; the sandbox's own timeout ends an idle session (the reaper kills it), so a
session whose sandbox is gone is over and is dropped when it is next looked at.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field

from interpreter.core.errors import InvalidRequestError
from interpreter.core.models import now
from interpreter.core.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS agent_sessions (
    agent_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (agent_id, session_id)
);
"""

# Template names are [a-z0-9._-]; an agent's id joins its name and version with "_".
AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
AGENT_ID = re.compile(r"^agent_([a-z0-9][a-z0-9-]{0,39})(?:_v([0-9]{1,6}))?$")
# AgentCore's session ids are 33-256 characters; shorter ones are accepted here.
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$")


def checked_agent_name(name: str) -> str:
    if not AGENT_NAME.match(name):
        raise InvalidRequestError(
            f"agent name {name!r} is not valid: use 1-40 characters of [a-z0-9-], starting "
            "with a letter or digit"
        )
    return name


def checked_session_id(session_id: str) -> str:
    if not SESSION_ID.match(session_id):
        raise InvalidRequestError(
            "a session id is 1-256 characters of [A-Za-z0-9._:-], starting with a letter or digit"
        )
    return session_id


def agent_id(name: str, version: int) -> str:
    return f"agent_{name}_v{version}"


class AgentRecord(BaseModel):
    id: str
    name: str
    version: int
    template: str = Field(description="The template its sessions' sandboxes are created from.")
    created_at: datetime = Field(default_factory=now)


class SessionRecord(BaseModel):
    id: str
    agent_id: str
    sandbox_id: str
    created_at: datetime = Field(default_factory=now)
    last_invoked_at: datetime = Field(default_factory=now)
    invocations: int = 0


class AgentStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        with store.locked() as db:
            db.executescript(SCHEMA)

    def add_agent(self, name: str, template: str, version: int | None) -> AgentRecord | None:
        """A new version of agent ``name`` (the next one unless given); None if that version
        exists already."""
        with self._store.locked() as db:
            if version is None:
                row = db.execute(
                    "SELECT MAX(version) FROM agents WHERE name = ?", (name,)
                ).fetchone()
                version = int(row[0] or 0) + 1
            record = AgentRecord(
                id=agent_id(name, version), name=name, version=version, template=template
            )
            inserted = db.execute(
                "INSERT OR IGNORE INTO agents (name, version, record) VALUES (?,?,?)",
                (name, version, record.model_dump_json()),
            ).rowcount
        return record if inserted else None

    def agents(self, name: str | None = None) -> list[AgentRecord]:
        with self._store.locked() as db:
            rows = db.execute(
                "SELECT record FROM agents WHERE ? IS NULL OR name = ? ORDER BY name, version",
                (name, name),
            ).fetchall()
        return [AgentRecord.model_validate_json(r[0]) for r in rows]

    def delete_agent(self, name: str, version: int) -> None:
        with self._store.locked() as db:
            db.execute("DELETE FROM agents WHERE name = ? AND version = ?", (name, version))

    def put_session(self, record: SessionRecord) -> None:
        with self._store.locked() as db:
            db.execute(
                "INSERT OR REPLACE INTO agent_sessions (agent_id, session_id, record) "
                "VALUES (?,?,?)",
                (record.agent_id, record.id, record.model_dump_json()),
            )

    def session(self, agent: str, session_id: str) -> SessionRecord | None:
        with self._store.locked() as db:
            row = db.execute(
                "SELECT record FROM agent_sessions WHERE agent_id = ? AND session_id = ?",
                (agent, session_id),
            ).fetchone()
        return SessionRecord.model_validate_json(row[0]) if row else None

    def sessions(self, agent: str) -> list[SessionRecord]:
        with self._store.locked() as db:
            rows = db.execute(
                "SELECT record FROM agent_sessions WHERE agent_id = ? ORDER BY rowid", (agent,)
            ).fetchall()
        return [SessionRecord.model_validate_json(r[0]) for r in rows]

    def delete_session(self, agent: str, session_id: str) -> None:
        with self._store.locked() as db:
            db.execute(
                "DELETE FROM agent_sessions WHERE agent_id = ? AND session_id = ?",
                (agent, session_id),
            )
