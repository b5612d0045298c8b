"""The lifecycle events' store: pruning keeps what it must, the outbox leases what it hands out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from interpreter.core.lifecycle import CREATED, KILLED, LifecycleEvent, WebhookRecord
from interpreter.core.lifecycle_store import LifecycleStore
from interpreter.core.models import SandboxRecord, now
from interpreter.core.store import Store


def _event(sandbox_id: str, kind: str, age_days: float = 0) -> LifecycleEvent:
    moment = now() - timedelta(days=age_days)
    return LifecycleEvent(id=f"{sandbox_id}-{kind}", type=kind, sandbox_id=sandbox_id,
                          template="t", timestamp=moment)  # fmt: skip


def test_prune_drops_only_sandboxes_gone_since_before_the_cutoff(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    events = LifecycleStore(store)
    live = SandboxRecord(id="live", template="t", state="running", created_at=now(),
                         expires_at=now(), cpu=1, memory_mb=512)  # fmt: skip
    store.put_sandbox(live)
    for sandbox_id, kinds in {"old": (10, 9), "recent": (10, 1), "live": (30, 20)}.items():
        events.add_event(_event(sandbox_id, CREATED, kinds[0]), str)
        events.add_event(_event(sandbox_id, KILLED, kinds[1]), str)
    assert events.prune(now() - timedelta(days=7)) == 2
    assert not events.has_events("old")
    assert len(events.events("recent", 10)) == 2  # its last event is a day old: all kept
    assert len(events.events("live", 10)) == 2  # it exists: kept however old


def test_the_outbox_queues_what_webhooks_want_and_leases_it(tmp_path: Path) -> None:
    events = LifecycleStore(Store(tmp_path / "state.db"))
    events.put_webhook(WebhookRecord(id="all", name="all", url="http://a/"), "s1")
    events.put_webhook(WebhookRecord(id="k", name="k", url="http://k/", events=[KILLED]), "s2")
    events.put_webhook(WebhookRecord(id="off", name="off", url="http://o/", enabled=False), "s")
    events.add_event(_event("sb", CREATED), lambda e: e.type)
    events.add_event(_event("sb", KILLED), lambda e: e.type)
    moment = now()
    claimed = events.claim_deliveries(moment, moment + timedelta(seconds=10), 10)
    assert sorted((d.webhook_id, d.body) for d in claimed) == [
        ("all", CREATED), ("all", KILLED), ("k", KILLED),
    ]  # fmt: skip
    assert events.claim_deliveries(moment, moment, 10) == []  # leased
    events.settle(claimed[0].id)
    again = events.claim_deliveries(moment + timedelta(seconds=11), moment, 10)
    assert len(again) == 2  # a lease that ran out: due again
    events.delete_webhook("all")
    assert events.pending("all") == 0 and events.pending("k") == 1
