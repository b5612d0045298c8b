"""The warm pool: per template, sandboxes started ahead of demand, so a create only claims one.

A pooled sandbox is booted exactly as a cold create boots one (gateway and agent answering, the
default Python kernel started) and only then joins the pool: a claim never hands out a half-ready
sandbox. Pooled sandboxes are invisible to clients until claimed (their record's state is
"pooled"); FastStart gives a claimed one its variables, limits and metadata. The pool refills in
the background, one sandbox at a time, so refilling never takes more than one core's worth of
start-up from the sandboxes in use. The same worker first takes each template's snapshot (a
ready sandbox checkpointed once): the pool's boots and creates that find it empty restore it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from interpreter.core.models import SandboxRecord
from interpreter.runtime.base import Image

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0  # seconds between attempts when boots keep failing (a broken image)


@dataclass
class Pooled:
    record: SandboxRecord
    image: Image  # the image it was booted from: a rebuilt template makes it stale


class WarmPool:
    def __init__(
        self,
        sizes: dict[str, int],
        boot: Callable[[str], Awaitable[Pooled]],
        discard: Callable[[Pooled], Coroutine[Any, Any, None]],
        alive: Callable[[Pooled], bool],
        refill_delay: float = 0.0,
        snapshot: Callable[[str], Awaitable[None]] | None = None,
        snapshot_templates: Iterable[str] = (),
    ) -> None:
        self.sizes = {template: size for template, size in sizes.items() if size > 0}
        self._snapshot = snapshot
        self.snapshots: dict[str, str] = {  # template -> "pending", "ready" or "failed"
            template: "pending" for template in (snapshot_templates if snapshot else ())
        }
        self.ready: dict[str, deque[Pooled]] = {template: deque() for template in self.sizes}
        self.booting: str | None = None
        self._boot = boot
        self._discard = discard
        self._alive = alive
        # A start-up takes a core for seconds: wait until claims have been quiet this long, so a
        # refill does not slow down the first runs in the sandbox just handed out.
        self.refill_delay = refill_delay
        self._last_take = 0.0
        self._wake = asyncio.Event()
        self._filler: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._retaken: set[str] = set()  # templates whose snapshot broke and was taken again

    def start(self) -> None:
        if self.sizes or self.snapshots:
            self._filler = asyncio.create_task(self._fill_forever())

    @property
    def snapshots_on(self) -> bool:
        return self._snapshot is not None

    def snapshot_ready(self, template: str) -> None:
        """A snapshot of the template was just taken (a template built): restores use it."""
        self.snapshots[template] = "ready"
        self._retaken.discard(template)

    async def forget(self, template: str) -> None:
        """A deleted template: no snapshot, and its pooled sandboxes are killed."""
        self.snapshots.pop(template, None)
        queue = self.ready.get(template)
        while queue:
            await self._discard(queue.popleft())

    def snapshot_stale(self, template: str) -> None:
        """The template's snapshot is missing or of an older build: take a new one."""
        if self.snapshots.get(template) == "ready":
            self.snapshots[template] = "pending"
            self._wake.set()

    def snapshot_broken(self, template: str) -> None:
        """A restore from the snapshot failed: take it again, once per run of the front end
        (e.g. it was taken before a reboot); after that, creates go cold."""
        if self.snapshots.get(template) != "ready":
            return
        if template in self._retaken:
            log.error("warm pool: the %s snapshot fails again: no more snapshots", template)
            self.snapshots[template] = "failed"
            return
        self._retaken.add(template)
        self.snapshots[template] = "pending"
        self._wake.set()

    async def stop(self) -> None:
        """Stop refilling and kill every pooled sandbox (a restarted front end boots new ones)."""
        if self._filler is not None:
            self._filler.cancel()  # a boot in progress undoes itself
            with contextlib.suppress(asyncio.CancelledError):
                await self._filler
        for queue in self.ready.values():
            while queue:
                self.discard_later(queue.popleft())
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def take(self, template: str, image: Image) -> Pooled | None:
        """A ready sandbox of this template, at once, or None (the caller starts a cold one)."""
        queue = self.ready.get(template)
        while queue:
            pooled = queue.popleft()
            self._last_take = asyncio.get_running_loop().time()
            self._wake.set()
            if pooled.image == image and self._alive(pooled):
                return pooled
            log.info("pooled sandbox %s is stale or dead: discarding it", pooled.record.id)
            self.discard_later(pooled)
        return None

    def put_back(self, pooled: Pooled) -> None:
        """Return an untouched sandbox that a claim could not use."""
        self.ready[pooled.record.template].appendleft(pooled)

    def discard_later(self, pooled: Pooled) -> None:
        task = asyncio.create_task(self._discard(pooled))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "template": template,
                "size": self.sizes.get(template, 0),
                "ready": len(self.ready.get(template, ())),
                "booting": self.booting == template,
                "snapshot": self.snapshots.get(template, "off"),
            }
            for template in sorted({*self.sizes, *self.snapshots})
        ]

    def _wanting(self) -> tuple[str, str] | None:
        # The snapshot first: the pool then refills by restoring it, at a fraction of the CPU
        # a cold start takes.
        for template, state in self.snapshots.items():
            if state == "pending":
                return "snapshot", template
        for template, size in self.sizes.items():
            if len(self.ready[template]) < size:
                return "pool", template
        return None

    async def _take_snapshot(self, template: str) -> None:
        assert self._snapshot is not None
        self.booting = template
        try:
            await self._snapshot(template)
        except Exception:
            # Not retried (each try costs a start-up): creates go cold when the pool is empty.
            log.exception("warm pool: no snapshot of %s; creates will start cold", template)
            self.snapshots[template] = "failed"
        else:
            self.snapshots[template] = "ready"
        finally:
            self.booting = None

    async def _fill_forever(self) -> None:
        failures = 0
        while True:
            wanted = self._wanting()
            if wanted is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            quiet = self._last_take + self.refill_delay - asyncio.get_running_loop().time()
            if quiet > 0:
                await asyncio.sleep(quiet)
                continue
            kind, template = wanted
            if kind == "snapshot":
                await self._take_snapshot(template)
                continue
            self.booting = template
            try:
                pooled = await self._boot(template)
            except Exception:
                failures += 1
                delay = min(MAX_BACKOFF, 2.0**failures)
                log.exception(
                    "warm pool: a %s sandbox failed to start; retry in %gs", template, delay
                )
                await asyncio.sleep(delay)
                continue
            finally:
                self.booting = None
            failures = 0
            self.ready[template].append(pooled)
            log.info("warm pool: %s ready (%d/%d)", pooled.record.id, len(self.ready[template]),
                     self.sizes[template])  # fmt: skip
