"""Lifecycle events, webhooks and the webhook outbox in SQLite, in the store's database.

An event and its deliveries are written in one transaction: a delivery exists for every
webhook that wanted the event when it happened, and survives restarts until it is sent (or
given up). The body of a delivery is fixed when it is queued, so pruning old events never
changes what is still to be sent.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from interpreter.core.lifecycle import LifecycleEvent, WebhookRecord
from interpreter.core.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS lifecycle_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sandbox_id TEXT NOT NULL,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lifecycle_events_of_sandbox ON lifecycle_events (sandbox_id, seq);
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at TEXT NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (due_at);
"""


def stamp(moment: datetime) -> str:
    # Always with microseconds: the stamps are compared as strings.
    return moment.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one webhook."""

    id: str
    webhook_id: str
    url: str
    secret: str
    body: str
    attempts: int  # made before this one


class LifecycleStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        with store.locked() as db:
            db.executescript(SCHEMA)

    # -- events -----------------------------------------------------------------------------
    def add_event(self, event: LifecycleEvent, body: Callable[[LifecycleEvent], str]) -> int:
        """Record ``event`` and queue its delivery (``body(event)``) to every webhook that wants
        it, at once; its ``seq``."""
        with self._store.locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute(
                    "INSERT INTO lifecycle_events (sandbox_id, type, at, event) VALUES (?,?,?,?)",
                    (event.sandbox_id, event.type, stamp(event.timestamp), "{}"),
                )
                seq = int(cursor.lastrowid or 0)
                event.seq = seq
                db.execute(
                    "UPDATE lifecycle_events SET event = ? WHERE seq = ?",
                    (event.model_dump_json(), seq),
                )
                hooks = [
                    WebhookRecord.model_validate_json(r[0])
                    for r in db.execute("SELECT record FROM webhooks").fetchall()
                ]
                wanted = [h for h in hooks if h.wants(event.type)]
                if wanted:
                    text, due = body(event), stamp(event.timestamp)
                    db.executemany(
                        "INSERT INTO webhook_outbox (id, webhook_id, body, due_at) "
                        "VALUES (?,?,?,?)",
                        [(f"dlv_{secrets.token_hex(12)}", h.id, text, due) for h in wanted],
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return seq

    def events(
        self,
        sandbox_id: str | None,
        limit: int,
        ascending: bool = True,
        after: int | None = None,
        offset: int = 0,
        types: list[str] | None = None,
    ) -> list[LifecycleEvent]:
        """A page of events (of one sandbox, or of all), in ``seq`` order; ``after``: only those
        past that ``seq`` in the order read."""
        where, params = [], list[object]()
        if sandbox_id is not None:
            where.append("sandbox_id = ?")
            params.append(sandbox_id)
        if after is not None:
            where.append("seq > ?" if ascending else "seq < ?")
            params.append(after)
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "ASC" if ascending else "DESC"
        with self._store.locked() as db:
            rows = db.execute(
                f"SELECT event FROM lifecycle_events {clause} ORDER BY seq {order} "
                "LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        return [LifecycleEvent.model_validate_json(r[0]) for r in rows]

    def has_events(self, sandbox_id: str) -> bool:
        with self._store.locked() as db:
            row = db.execute(
                "SELECT 1 FROM lifecycle_events WHERE sandbox_id = ? LIMIT 1", (sandbox_id,)
            ).fetchone()
        return row is not None

    def prune(self, before: datetime) -> int:
        """Delete the events of every sandbox that is gone and whose last event is older than
        ``before``; how many."""
        with self._store.locked() as db:
            cursor = db.execute(
                "DELETE FROM lifecycle_events WHERE sandbox_id IN ("
                "  SELECT sandbox_id FROM lifecycle_events GROUP BY sandbox_id HAVING MAX(at) < ?"
                ") AND sandbox_id NOT IN (SELECT id FROM sandboxes)",
                (stamp(before),),
            )
        return cursor.rowcount

    # -- webhooks ---------------------------------------------------------------------------
    def put_webhook(self, record: WebhookRecord, secret: str | None = None) -> None:
        """Insert or update; ``secret`` None keeps the stored one."""
        with self._store.locked() as db:
            if secret is None:
                db.execute(
                    "UPDATE webhooks SET record = ? WHERE id = ?",
                    (record.model_dump_json(), record.id),
                )
                return
            db.execute(
                "INSERT INTO webhooks (id, record, secret) VALUES (?,?,?) ON CONFLICT(id) DO "
                "UPDATE SET record = excluded.record, secret = excluded.secret",
                (record.id, record.model_dump_json(), secret),
            )

    def get_webhook(self, webhook_id: str) -> WebhookRecord | None:
        with self._store.locked() as db:
            row = db.execute("SELECT record FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
        return WebhookRecord.model_validate_json(row[0]) if row else None

    def list_webhooks(self) -> list[WebhookRecord]:
        with self._store.locked() as db:
            rows = db.execute("SELECT record FROM webhooks ORDER BY rowid").fetchall()
        return [WebhookRecord.model_validate_json(r[0]) for r in rows]

    def delete_webhook(self, webhook_id: str) -> None:
        """The webhook and its pending deliveries."""
        with self._store.locked() as db:
            db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))

    # -- the outbox -------------------------------------------------------------------------
    def claim_deliveries(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Up to ``limit`` deliveries due at ``now``, leased until ``lease_until`` (not due
        again before then: one that is never settled, the front end having stopped, is sent
        again after it)."""
        with self._store.locked() as db:
            rows = db.execute(
                "SELECT o.id, o.webhook_id, w.record, w.secret, o.body, o.attempts "
                "FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id "
                "WHERE o.due_at <= ? ORDER BY o.due_at LIMIT ?",
                (stamp(now), limit),
            ).fetchall()
            db.executemany(
                "UPDATE webhook_outbox SET due_at = ? WHERE id = ?",
                [(stamp(lease_until), r[0]) for r in rows],
            )
        return [Delivery(r[0], r[1], json.loads(r[2])["url"], r[3], r[4], int(r[5])) for r in rows]

    def next_due(self) -> datetime | None:
        with self._store.locked() as db:
            row = db.execute("SELECT MIN(due_at) FROM webhook_outbox").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def settle(self, delivery_id: str) -> None:
        """Sent, or given up: out of the outbox."""
        with self._store.locked() as db:
            db.execute("DELETE FROM webhook_outbox WHERE id = ?", (delivery_id,))

    def retry_later(self, delivery_id: str, attempts: int, due_at: datetime, error: str) -> None:
        with self._store.locked() as db:
            db.execute(
                "UPDATE webhook_outbox SET attempts = ?, due_at = ?, last_error = ? WHERE id = ?",
                (attempts, stamp(due_at), error, delivery_id),
            )

    def pending(self, webhook_id: str) -> int:
        with self._store.locked() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM webhook_outbox WHERE webhook_id = ?", (webhook_id,)
            ).fetchone()
        return int(row[0])
