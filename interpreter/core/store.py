"""Sandbox, context, template and build records in SQLite (the embedded default): they survive
restarts."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from interpreter.core.errors import SandboxNotFoundError
from interpreter.core.models import (
    ContextRecord,
    SandboxRecord,
    SecretRecord,
    SnapshotRecord,
    VolumeRecord,
)
from interpreter.core.templates import BuildRecord, LogEntry, TemplateRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contexts (
    id TEXT NOT NULL,
    sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (sandbox_id, id)
);
CREATE TABLE IF NOT EXISTS templates (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS builds (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS build_logs (
    build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (build_id, seq)
);
CREATE TABLE IF NOT EXISTS secrets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS volumes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
"""


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Root's only (it holds tenants' env vars): SQLite gives the -wal and -shm files it
        # creates the database's mode, so the database is 0600 before SQLite opens it, and
        # those of an older run are made 0600 too.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(file, 0o600, follow_symlinks=False)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives the
        # front end's crash or kill (it is in the WAL file); only the OS's crash or a power cut
        # may lose the last ones, never the database's integrity. FULL's fsync per commit was
        # ~0.3 ms here, a few times in every create (issue 19).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the store's lock: for the stores of one feature kept in
        modules of their own (``lifecycle_store``), on the same database."""
        with self._lock:
            yield self._db

    def put_sandbox(self, record: SandboxRecord) -> None:
        with self._lock:
            self._db.execute(
                # An upsert, not REPLACE: a REPLACE deletes the row and cascades to its contexts.
                "INSERT INTO sandboxes (id, state, expires_at, record) VALUES (?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET state = excluded.state, "
                "expires_at = excluded.expires_at, record = excluded.record",
                (record.id, record.state, record.expires_at.isoformat(), record.model_dump_json()),
            )

    def get_sandbox(self, sandbox_id: str) -> SandboxRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM sandboxes WHERE id = ?", (sandbox_id,)
            ).fetchone()
        return SandboxRecord.model_validate_json(row[0]) if row else None

    def sandbox_state(self, sandbox_id: str) -> str | None:
        """The record's state alone (its column: no record parsed), None if there is none."""
        with self._lock:
            row = self._db.execute(
                "SELECT state FROM sandboxes WHERE id = ?", (sandbox_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def list_sandboxes(
        self, states: tuple[str, ...] = ("starting", "running", "paused")
    ) -> list[SandboxRecord]:
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(
                f"SELECT record FROM sandboxes WHERE state IN ({marks}) ORDER BY rowid", states
            ).fetchall()
        return [SandboxRecord.model_validate_json(r[0]) for r in rows]

    def expired(self, now: datetime) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM sandboxes WHERE state IN ('running','paused') AND expires_at <= ?",
                (now.isoformat(),),
            ).fetchall()
        return [r[0] for r in rows]

    def delete_sandbox(self, sandbox_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sandboxes WHERE id = ?", (sandbox_id,))

    def put_context(self, record: ContextRecord) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO contexts (id, sandbox_id, created_at, record) "
                    "VALUES (?,?,?,?)",
                    (
                        record.id,
                        record.sandbox_id,
                        record.created_at.isoformat(),
                        record.model_dump_json(),
                    ),
                )
            except sqlite3.IntegrityError:  # its sandbox's record is gone: killed meanwhile
                raise SandboxNotFoundError(f"sandbox {record.sandbox_id!r} not found") from None

    def set_kernel_id(self, sandbox_id: str, context_id: str, kernel_id: str | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE contexts SET record = json_set(record, '$.kernel_id', ?) "
                "WHERE sandbox_id = ? AND id = ?",
                (kernel_id, sandbox_id, context_id),
            )

    def list_contexts(self, sandbox_id: str) -> list[ContextRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM contexts WHERE sandbox_id = ? ORDER BY rowid", (sandbox_id,)
            ).fetchall()
        return [ContextRecord.model_validate_json(r[0]) for r in rows]

    def delete_context(self, sandbox_id: str, context_id: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM contexts WHERE sandbox_id = ? AND id = ?", (sandbox_id, context_id)
            )

    def put_idempotency_key(self, key: str, sandbox_id: str, at: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency_keys (key, sandbox_id, created_at) "
                "VALUES (?,?,?)",
                (key, sandbox_id, at.isoformat()),
            )

    def sandbox_of_idempotency_key(self, key: str, since: datetime) -> str | None:
        """The sandbox a create with this key made at or after ``since`` (older keys expire)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?", (since.isoformat(),)
            )
            row = self._db.execute(
                "SELECT sandbox_id FROM idempotency_keys WHERE key = ?", (key,)
            ).fetchone()
        return row[0] if row else None

    # -- templates and their builds ---------------------------------------------------------
    def put_template(self, record: TemplateRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO templates (name, record) VALUES (?,?) "
                "ON CONFLICT(name) DO UPDATE SET record = excluded.record",
                (record.name, record.model_dump_json()),
            )

    def get_template(self, name: str) -> TemplateRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM templates WHERE name = ?", (name,)
            ).fetchone()
        return TemplateRecord.model_validate_json(row[0]) if row else None

    def list_templates(self) -> list[TemplateRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM templates ORDER BY name").fetchall()
        return [TemplateRecord.model_validate_json(r[0]) for r in rows]

    def delete_template(self, name: str) -> None:
        """The template, its builds and their logs."""
        with self._lock:
            self._db.execute("DELETE FROM builds WHERE template = ?", (name,))
            self._db.execute("DELETE FROM templates WHERE name = ?", (name,))

    def put_build(self, record: BuildRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO builds (id, template, record) VALUES (?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                (record.id, record.template, record.model_dump_json()),
            )

    def get_build(self, build_id: str) -> BuildRecord | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM builds WHERE id = ?", (build_id,)).fetchone()
        return BuildRecord.model_validate_json(row[0]) if row else None

    def list_builds(self, template: str | None = None) -> list[BuildRecord]:
        query, params = "SELECT record FROM builds ORDER BY rowid", tuple[str, ...]()
        if template is not None:
            query = "SELECT record FROM builds WHERE template = ? ORDER BY rowid"
            params = (template,)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [BuildRecord.model_validate_json(r[0]) for r in rows]

    def add_build_log(self, build_id: str, seq: int, entry: LogEntry) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO build_logs (build_id, seq, entry) VALUES (?,?,?)",
                (build_id, seq, entry.model_dump_json()),
            )

    def build_logs(self, build_id: str, offset: int = 0, limit: int = 1000) -> list[LogEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT entry FROM build_logs WHERE build_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
                (build_id, offset, limit),
            ).fetchall()
        return [LogEntry.model_validate_json(r[0]) for r in rows]

    # -- secrets (values: write-only, read back only to fill a create's variables) -------------
    def put_secret(self, record: SecretRecord, value: str | None = None) -> None:
        with self._lock:
            if value is None:
                self._db.execute(
                    "UPDATE secrets SET record = ? WHERE id = ?",
                    (record.model_dump_json(), record.id),
                )
                return
            self._db.execute(
                "INSERT INTO secrets (id, name, record, value) VALUES (?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record, value = excluded.value",
                (record.id, record.name, record.model_dump_json(), value),
            )

    def get_secret(self, ref: str) -> SecretRecord | None:
        """By id or by name."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM secrets WHERE id = ? OR name = ?", (ref, ref)
            ).fetchone()
        return SecretRecord.model_validate_json(row[0]) if row else None

    def secret_value(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def list_secrets(self) -> list[SecretRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM secrets ORDER BY rowid").fetchall()
        return [SecretRecord.model_validate_json(r[0]) for r in rows]

    def delete_secret(self, secret_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM secrets WHERE id = ?", (secret_id,))

    # -- snapshots of running sandboxes -----------------------------------------------------
    def put_snapshot(self, record: SnapshotRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO snapshots (id, record) VALUES (?,?)",
                (record.id, record.model_dump_json()),
            )

    def get_snapshot(self, ref: str) -> SnapshotRecord | None:
        """By id or by name."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM snapshots WHERE id = ? OR json_extract(record, '$.name') = ?",
                (ref, ref),
            ).fetchone()
        return SnapshotRecord.model_validate_json(row[0]) if row else None

    def list_snapshots(self) -> list[SnapshotRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM snapshots ORDER BY rowid").fetchall()
        return [SnapshotRecord.model_validate_json(r[0]) for r in rows]

    def delete_snapshot(self, snapshot_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))

    # -- volumes ------------------------------------------------------------------------------
    def add_volume(self, record: VolumeRecord) -> bool:
        """False if a volume of that name exists already."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO volumes (id, name, record) VALUES (?,?,?)",
                    (record.id, record.name, record.model_dump_json()),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def get_volume(self, ref: str) -> VolumeRecord | None:
        """By id or by name."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM volumes WHERE id = ? OR name = ?", (ref, ref)
            ).fetchone()
        return VolumeRecord.model_validate_json(row[0]) if row else None

    def list_volumes(self) -> list[VolumeRecord]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM volumes ORDER BY rowid").fetchall()
        return [VolumeRecord.model_validate_json(r[0]) for r in rows]

    def delete_volume(self, volume_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM volumes WHERE id = ?", (volume_id,))
