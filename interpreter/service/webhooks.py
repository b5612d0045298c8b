"""Webhooks: lifecycle events POSTed to URLs the operator registers, from an outbox in SQLite.

The body is E2B's lifecycle event (``version``, ``id``, ``type``, ``eventData``, ``sandboxId``,
``sandboxTemplateId``, ``timestamp``...), so a receiver written for E2B's webhooks reads it as
it is. Each delivery is signed twice: ``X-Interpreter-Signature: sha256=<hex>``, the HMAC-SHA256
of the raw body with the webhook's secret (use this one), and E2B's ``e2b-signature`` (unpadded
URL-safe base64 of SHA-256(secret + body)) with its ``e2b-webhook-id``, ``e2b-delivery-id`` and
``e2b-signature-version: v1``.

Delivery is at least once, in no guaranteed order (the event's ``id`` tells repeats apart): a
background loop sends what is due, at most ``IN_FLIGHT`` at a time, each within
``webhook_timeout`` seconds; a failure (no answer, not 2xx, a redirect) is tried again after
``webhook_retry_delay`` seconds, doubling, ``webhook_attempts`` times in all. Deliveries are
rows of the outbox until settled, so they survive a restart of the front end.

Targets are URLs the operator registers with the API key, so any http(s) URL is accepted,
private addresses too (a receiver on the same host is the common case). What limits a URL
pointed somewhere it should not: a redirect is never followed, the answer is never read beyond
``ANSWER_BYTES`` and never returned to the API's callers, and nothing but the signed event is
sent (no credentials, no proxy settings from the environment).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from interpreter.core.config import Settings
from interpreter.core.errors import InvalidRequestError, WebhookNotFoundError
from interpreter.core.lifecycle import EVENT_TYPES, LifecycleEvent, WebhookRecord
from interpreter.core.lifecycle_store import Delivery, LifecycleStore
from interpreter.core.models import now

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Interpreter-Signature"
TEAM_ID = "00000000-0000-0000-0000-000000000000"  # E2B's sandboxTeamId: this service has one
MAX_WEBHOOKS = 100
MAX_URL = 2048
MAX_SECRET = 256
IN_FLIGHT = 16  # deliveries sent at once (a receiver that hangs holds one for the timeout)
ANSWER_BYTES = 1024  # of a failed delivery's answer, kept for the log
POLL_SECONDS = 2.0  # also picks up what another process (the CLI's kill) queued
MAX_RETRY_DELAY = 600.0
LEASE_MARGIN = 5.0  # seconds past the timeout a delivery in flight is not due again


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def e2b_event(event: LifecycleEvent) -> dict[str, Any]:
    """The event as E2B's lifecycle API and webhooks give it."""
    return {
        "version": "v1",
        "id": event.id,
        "type": event.type,
        "eventData": event.data or None,
        "sandboxBuildId": "",
        "sandboxExecutionId": event.sandbox_id,
        "sandboxId": event.sandbox_id,
        "sandboxTeamId": TEAM_ID,
        "sandboxTemplateId": event.template,
        "timestamp": iso(event.timestamp),
    }


def webhook_body(event: LifecycleEvent) -> str:
    return json.dumps(e2b_event(event), separators=(",", ":"))


def signature(secret: str, body: bytes) -> str:
    """``X-Interpreter-Signature``'s value: what a receiver compares (``hmac.compare_digest``)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def e2b_signature(secret: str, body: bytes) -> str:
    digest = hashlib.sha256(secret.encode() + body).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def headers_of(delivery: Delivery, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "interpreter-webhooks/1",
        SIGNATURE_HEADER: signature(delivery.secret, body),
        "e2b-webhook-id": delivery.webhook_id,
        "e2b-delivery-id": delivery.id,
        "e2b-signature-version": "v1",
        "e2b-signature": e2b_signature(delivery.secret, body),
    }


class Webhooks:
    """Registration: what the API's webhook routes call."""

    def __init__(self, store: LifecycleStore) -> None:
        self.store = store

    def create(
        self,
        url: str,
        events: list[str] | None = None,
        secret: str | None = None,
        name: str | None = None,
        enabled: bool = True,
    ) -> tuple[WebhookRecord, str]:
        """A new webhook and its secret (generated if not given: shown only now)."""
        if len(self.store.list_webhooks()) >= MAX_WEBHOOKS:
            raise InvalidRequestError(f"at most {MAX_WEBHOOKS} webhooks: delete one first")
        webhook_id = f"wh_{secrets.token_hex(12)}"
        secret = _checked_secret(secret) if secret is not None else secrets.token_urlsafe(32)
        record = WebhookRecord(
            id=webhook_id,
            name=name or webhook_id,
            url=checked_url(url),
            events=_checked_events(events),
            enabled=enabled,
        )
        self.store.put_webhook(record, secret)
        return record, secret

    def update(
        self,
        webhook_id: str,
        url: str | None = None,
        events: list[str] | None = None,
        secret: str | None = None,
        name: str | None = None,
        enabled: bool | None = None,
    ) -> WebhookRecord:
        """Change what is given; the rest stays (pending deliveries go to the new URL)."""
        record = self.get(webhook_id)
        if url is not None:
            record.url = checked_url(url)
        if events is not None:
            record.events = _checked_events(events)
        if name is not None:
            record.name = name
        if enabled is not None:
            record.enabled = enabled
        self.store.put_webhook(record, _checked_secret(secret) if secret is not None else None)
        return record

    def get(self, webhook_id: str) -> WebhookRecord:
        record = self.store.get_webhook(webhook_id)
        if record is None:
            raise WebhookNotFoundError(f"webhook {webhook_id!r} not found")
        return record

    def list(self) -> list[WebhookRecord]:
        return self.store.list_webhooks()

    def pending(self, webhook_id: str) -> int:
        """Its deliveries not made yet."""
        return self.store.pending(webhook_id)

    def delete(self, webhook_id: str) -> None:
        """The webhook and the deliveries it still had pending."""
        self.get(webhook_id)
        self.store.delete_webhook(webhook_id)


def checked_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"webhook url {url!r} is not an http(s) URL with a host")
    if len(url) > MAX_URL:
        raise InvalidRequestError(f"webhook url: at most {MAX_URL} characters")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise InvalidRequestError(f"webhook url {url!r} has an invalid port") from None
    return url.strip()


def _checked_events(events: list[str] | None) -> list[str]:
    unknown = sorted(set(events or ()) - set(EVENT_TYPES))
    if unknown:
        raise InvalidRequestError(f"unknown event types {unknown}: one of {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(events or ()))


def _checked_secret(secret: str) -> str:
    if not 1 <= len(secret) <= MAX_SECRET:
        raise InvalidRequestError(f"a webhook's secret is 1 to {MAX_SECRET} characters")
    return secret


class WebhookDelivery:
    """The loop that empties the outbox (the serving front end's only)."""

    def __init__(self, store: LifecycleStore, settings: Settings) -> None:
        self.store = store
        self.timeout = settings.webhook_timeout
        self.attempts = settings.webhook_attempts
        self.retry_delay = settings.webhook_retry_delay
        self._due = asyncio.Event()

    def wake(self) -> None:
        """Something may be due now (an event was recorded, a delivery ended)."""
        self._due.set()

    async def run_forever(self) -> None:
        sending: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=IN_FLIGHT),
        ) as client:
            try:
                while True:
                    self._due.clear()
                    try:
                        wait = self._send_due(client, sending)
                    except sqlite3.Error:
                        log.exception("webhook outbox unreadable; trying again")
                        wait = POLL_SECONDS
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._due.wait(), wait)
            finally:
                for task in sending:
                    task.cancel()
                await asyncio.gather(*sending, return_exceptions=True)

    def _send_due(self, client: httpx.AsyncClient, sending: set[asyncio.Task[None]]) -> float:
        """Start what is due (as room allows); seconds until something may be due again."""
        room = IN_FLIGHT - len(sending)
        if room <= 0:
            return POLL_SECONDS  # a delivery that ends wakes the loop
        moment = now()
        lease = moment + timedelta(seconds=self.timeout + LEASE_MARGIN)
        for delivery in self.store.claim_deliveries(moment, lease, room):
            task = asyncio.create_task(self._deliver(client, delivery))
            sending.add(task)
            task.add_done_callback(sending.discard)
        if len(sending) >= IN_FLIGHT:
            return POLL_SECONDS
        due = self.store.next_due()
        if due is None:
            return POLL_SECONDS
        return min(POLL_SECONDS, max(0.0, (due - now()).total_seconds()))

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        try:
            error = await self._post(client, delivery)
            if error is None:
                self.store.settle(delivery.id)
                return
            attempts = delivery.attempts + 1
            if attempts >= self.attempts:
                log.warning(
                    "webhook %s: gave up delivery %s after %d attempts: %s",
                    delivery.webhook_id, delivery.id, attempts, error,
                )  # fmt: skip
                self.store.settle(delivery.id)
                return
            delay = min(MAX_RETRY_DELAY, self.retry_delay * 2 ** (attempts - 1))
            log.info(
                "webhook %s: delivery %s failed (%s); again in %.1f s",
                delivery.webhook_id, delivery.id, error, delay,
            )  # fmt: skip
            self.store.retry_later(delivery.id, attempts, now() + timedelta(seconds=delay), error)
        except sqlite3.Error:
            log.exception("webhook delivery %s: the outbox could not be updated", delivery.id)
        finally:
            self.wake()

    async def _post(self, client: httpx.AsyncClient, delivery: Delivery) -> str | None:
        """Send it once; None if the receiver took it (2xx), else what went wrong."""
        body = delivery.body.encode()
        try:
            async with asyncio.timeout(self.timeout):  # all of it, a slow trickle included
                async with client.stream(
                    "POST", delivery.url, content=body, headers=headers_of(delivery, body)
                ) as response:
                    if response.is_success:
                        return None
                    answer = b""
                    async for chunk in response.aiter_raw():
                        answer += chunk
                        if len(answer) >= ANSWER_BYTES:
                            break
                    redirect = " (redirects are not followed)" if response.is_redirect else ""
                    text = answer[:200].decode(errors="replace")
                    return f"HTTP {response.status_code}{redirect}: {text!r}"
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
