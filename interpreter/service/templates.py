"""Templates: the built-in ones (``images/``) and those built here from a Dockerfile or E2B's
Template SDK, their builds and build logs (SQLite), and what a create from one starts.

A build is requested (a record, "waiting": E2B's SDK uploads its files next), started with its
spec, and runs in the background: the steps (``builder.py``), then the template's sandbox is
booted, its start command run until its ready command succeeds, and checkpointed as the
template's snapshot (``FastStart.snapshot``), so that its sandboxes are restored with those
processes running. One build of a template at a time (another gets 409). A template with
sandboxes (running or paused) is not deleted (409): its layers are under them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from interpreter.core.errors import (
    BuildNotFoundError,
    BuildStepError,
    ConflictError,
    InterpreterError,
    InvalidRequestError,
    TemplateInUseError,
    TemplateNotFoundError,
)
from interpreter.core.models import SandboxRecord, SnapshotRecord, now
from interpreter.core.options import CreateRequest
from interpreter.core.templates import (
    BuildReason,
    BuildRecord,
    LogEntry,
    StartSpec,
    TemplateRecord,
    TemplateSpec,
    checked_name,
)
from interpreter.runtime.base import Image
from interpreter.service.bring_up import BringUp, ColdBoot
from interpreter.service.build_files import BuildFiles
from interpreter.service.builder import Builder, BuildState

log = logging.getLogger(__name__)

# E2B's names for the templates this service has built in.
ALIASES = {
    "code-interpreter-v1": "code-interpreter",
    "e2bdev/code-interpreter": "code-interpreter",
    "e2bdev/base": "base",
}
MAX_LOG_ENTRIES = 20_000
WAITING_HOLDS = timedelta(hours=1)  # a requested build never started stops blocking others


@dataclass(frozen=True)
class Resolved:
    """A template as a create uses it: its image and, for a built one, how it starts."""

    name: str
    image: Image
    start: StartSpec | None = None
    snapshot: SnapshotRecord | None = None  # a running sandbox's snapshot, used as a template

    @property
    def envs(self) -> dict[str, str]:
        return dict(self.start.envs) if self.start else {}


Snapshot = Callable[[Resolved, Callable[[str, str], None]], Awaitable[None]]


class BuildLog:
    """A build's log: entries in the store (bounded), and a wake-up for those following it."""

    def __init__(self, templates: Templates, build: BuildRecord) -> None:
        self.store, self.build_id = templates.store, build.id
        self.count = 0
        self.changed = asyncio.Event()

    def add(self, level: str, message: str, step: str | None = None) -> None:
        if self.count > MAX_LOG_ENTRIES:
            return
        if self.count == MAX_LOG_ENTRIES:
            level, message = "warn", f"[log truncated: more than {MAX_LOG_ENTRIES} entries]"
        entry = LogEntry(timestamp=now(), level=level, message=message[:4096], step=step)  # type: ignore[arg-type]
        self.store.add_build_log(self.build_id, self.count, entry)
        self.count += 1
        self.changed.set()
        self.changed = asyncio.Event()


class Templates:
    def __init__(self, bring_up: BringUp, files: BuildFiles) -> None:
        self.bring_up, self.files = bring_up, files
        self.settings, self.runtime, self.store = (
            bring_up.settings,
            bring_up.runtime,
            bring_up.store,
        )
        self.builder = Builder(bring_up, files)
        self.snapshot: Snapshot | None = None  # the serving front end's (FastStart)
        self._logs: dict[str, BuildLog] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Builds a stopped front end left: they failed (their sandboxes were pooled ones)."""
        for build in self.store.list_builds():
            if build.status in ("waiting", "building"):
                self._fail(build, "the front end stopped during the build", None)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(BaseException):
                await task

    # -- what creates use -----------------------------------------------------------------
    def builtin(self, name: str) -> str | None:
        name = ALIASES.get(name.split(":")[0], name)
        return name if name in self.runtime.builtin_templates() else None

    async def resolve(self, name: str) -> Resolved:
        """The template a create names (a built-in, a built template, ``name:tag``)."""
        builtin = self.builtin(name)
        # Not in a thread: a source digest once kept is ~20 stats (images.tree_hash), less than
        # the thread's hand-off (~1 ms of every create, issue 19).
        if builtin is not None:
            return Resolved(builtin, self.runtime.image(builtin))
        snapshot = self.store.get_snapshot(name)
        if snapshot is not None:
            layers = tuple(Path(p) for p in snapshot.layers)
            return Resolved(snapshot.id, Image(snapshot.id, layers), snapshot=snapshot)
        record = self.store.get_template(name.split(":")[0])
        build_id = record and self._build_of(record, name)
        build = self.store.get_build(build_id) if build_id else None
        if record is None or build is None or build.status != "ready" or build.base is None:
            known = sorted({*self._builtins(), *(t.name for t in self.ready())})
            raise TemplateNotFoundError(f"unknown template {name!r}; known: {known}")
        base = self.runtime.image(build.base)
        image = self.runtime.built_image(base, record.name, build.layers)
        return Resolved(record.name, image, build.start)

    def _build_of(self, record: TemplateRecord, name: str) -> str | None:
        _, _, tag = name.partition(":")
        if tag and tag != "default":
            return record.tags.get(tag)
        return record.build_id

    def _builtins(self) -> list[str]:
        return self.runtime.builtin_templates()

    def catalog(self) -> list[tuple[str, TemplateRecord | None, BuildRecord | None]]:
        """Every template: the built-in ones (no record), then those built here with their
        newest build."""
        rows: list[tuple[str, TemplateRecord | None, BuildRecord | None]] = [
            (name, None, None) for name in self._builtins()
        ]
        for record in self.store.list_templates():
            builds = self.store.list_builds(record.name)
            rows.append((record.name, record, builds[-1] if builds else None))
        return rows

    def ready(self) -> list[TemplateRecord]:
        """The built templates with a ready build."""
        return [t for t in self.store.list_templates() if t.build_id is not None]

    # -- records ----------------------------------------------------------------------------
    def get(self, name: str) -> TemplateRecord:
        record = self.store.get_template(name)
        if record is None:
            raise TemplateNotFoundError(f"template {name!r} not found")
        return record

    def build(self, build_id: str, template: str | None = None) -> BuildRecord:
        build = self.store.get_build(build_id)
        if build is None or (template is not None and build.template != template):
            raise BuildNotFoundError(f"build {build_id!r} not found")
        return build

    def logs(self, build_id: str, offset: int = 0, limit: int = 1000) -> list[LogEntry]:
        return self.store.build_logs(build_id, offset, limit)

    async def follow(self, build_id: str, offset: int = 0) -> AsyncIterator[LogEntry]:
        """The build's log from ``offset``, then as it is written, until the build ends."""
        while True:
            running = self._logs.get(build_id)
            changed = running.changed if running else None
            entries = self.logs(build_id, offset)
            for entry in entries:
                yield entry
            offset += len(entries)
            if entries:
                continue
            if self.build(build_id).status in ("ready", "error"):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait() if changed else asyncio.sleep(1), 1.0)

    # -- builds -----------------------------------------------------------------------------
    def request_build(
        self,
        name: str,
        cpu: float | None = None,
        memory_mb: int | None = None,
        tags: list[str] | None = None,
    ) -> BuildRecord:
        """A new build of ``name`` (the template's record is made if it is new), waiting for
        its spec; 409 while another build of it is in progress."""
        checked_name(name)
        if self.builtin(name) is not None:
            raise InvalidRequestError(f"{name!r} is a built-in template: build on it with FROM")
        for other in self.store.list_builds(name):
            holding = other.status == "building" or (
                other.status == "waiting" and now() - other.created_at < WAITING_HOLDS
            )
            if holding:
                raise ConflictError(
                    f"build {other.id} of template {name!r} is {other.status}: one build of "
                    "a template at a time"
                )
        if self.store.get_template(name) is None:
            self.store.put_template(TemplateRecord(name=name))
        build = BuildRecord(
            template=name,
            cpu=cpu or self.settings.default_cpu,
            memory_mb=memory_mb or self.settings.default_memory_mb,
            tags=[checked_name(tag) for tag in tags or []],
        )
        self.store.put_build(build)
        return build

    def submit(
        self,
        name: str,
        spec: TemplateSpec,
        cpu: float | None = None,
        memory_mb: int | None = None,
        ready_timeout: int | None = None,
    ) -> BuildRecord:
        """Request and start a build at once (the native API, the CLI)."""
        build = self.request_build(name, cpu, memory_mb)
        return self.start_build(build.id, spec, ready_timeout)

    def start_build(
        self, build_id: str, spec: TemplateSpec, ready_timeout: int | None = None
    ) -> BuildRecord:
        """Start a requested build with its spec (in the background). A spec that cannot be
        built (bad steps, an unknown base) is the request's error: the build ends failed."""
        build = self.build(build_id)
        if build.status != "waiting":
            raise ConflictError(f"build {build_id} was started already ({build.status})")
        try:
            spec = spec.checked()
            self._base(spec.base)
        except InterpreterError as exc:
            self._fail(build, str(exc), "base")
            raise
        build.spec, build.status = spec, "building"
        if ready_timeout is not None:
            build.ready_timeout = ready_timeout
        self.store.put_build(build)
        build_log = self._logs[build.id] = BuildLog(self, build)
        task = asyncio.create_task(self._run(build, build_log))
        self._tasks[build.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(build.id, None))
        return build

    def _base(self, base: str) -> tuple[str, BuildRecord | None]:
        """The built-in template a base stands on, and the build of a built base."""
        builtin = self.builtin(base)
        if builtin is not None:
            return builtin, None
        record = self.store.get_template(base)
        build = self.store.get_build(record.build_id) if record and record.build_id else None
        if build is None or build.base is None:
            bases = sorted({*self._builtins(), *(t.name for t in self.ready())})
            raise InvalidRequestError(
                f"FROM {base!r}: not a template of this service (no image registry is "
                f"reached); the bases available are {bases}"
            )
        return build.base, build

    async def _run(self, build: BuildRecord, build_log: BuildLog) -> None:
        assert build.spec is not None
        spec = build.spec
        step: str | None = "base"
        try:
            builtin, parent_build = self._base(spec.base)
            base = await asyncio.to_thread(self.runtime.image, builtin)
            build_log.add("info", f"building {build.template} from {spec.base}", "base")
            if parent_build is not None and parent_build.start is not None:
                start = parent_build.start.model_copy(deep=True)
                state = BuildState(
                    parent_build.layers[-1] if parent_build.layers else str(base.layers[-1]),
                    start,
                    list(parent_build.layers),
                )
            else:
                state = BuildState(str(base.layers[-1]), StartSpec())
            step = None
            limits = (build.cpu, build.memory_mb)
            state = await self.builder.run(spec.steps, base, state, limits, build_log.add)
            start = state.start
            start.start_cmd = spec.start_cmd or start.start_cmd
            start.ready_cmd = spec.ready_cmd or (None if spec.start_cmd else start.ready_cmd)
            start.ready_timeout = build.ready_timeout
            build.base, build.layers, build.start = builtin, state.layers, start
            build.cached_steps, build.built_steps = state.cached, state.built
            step = "finalize"
            resolved = Resolved(
                build.template, self.runtime.built_image(base, build.template, state.layers), start
            )
            await self._finalize(resolved, build_log)
        except asyncio.CancelledError:
            self._fail(build, "the build was cancelled", step, build_log)
            raise
        except BuildStepError as exc:
            self._fail(build, str(exc), str(exc.step), build_log)
            return
        except InterpreterError as exc:
            self._fail(build, str(exc), step, build_log)
            return
        except Exception as exc:
            log.exception("build %s of %s failed", build.id, build.template)
            self._fail(build, f"the build failed: {exc}", step, build_log)
            return
        build.status, build.finished_at = "ready", now()
        self.store.put_build(build)
        template = self.get(build.template)
        template.build_id, template.updated_at = build.id, now()
        for tag in ["default", *build.tags]:
            template.tags[tag] = build.id
        self.store.put_template(template)
        build_log.add("info", f"template {build.template} is ready (build {build.id}): "
                      f"{build.built_steps} steps run, {build.cached_steps} cached")  # fmt: skip
        self._logs.pop(build.id, None)

    async def _finalize(self, resolved: Resolved, build_log: BuildLog) -> None:
        """Start the template's sandbox as its creates will: checkpointed as its snapshot
        when snapshots are on; else started once to see that it starts, then removed."""

        def say(level: str, message: str) -> None:
            build_log.add(level, message, "finalize")

        say("info", "starting the template's sandbox")
        if self.snapshot is not None:
            await self.snapshot(resolved, say)
            say("info", "snapshot taken")
            return
        record = self.bring_up_record(resolved)
        try:
            await self.bring_up.run(record, ColdBoot(resolved.image, resolved.start, say))
        finally:
            await self.bring_up.tear_down(record)

    def bring_up_record(self, resolved: Resolved) -> SandboxRecord:
        record = CreateRequest.defaults(self.settings, resolved.name).new_record("pooled")
        record.envs = resolved.envs
        return record

    def _fail(
        self, build: BuildRecord, message: str, step: str | None, build_log: BuildLog | None = None
    ) -> None:
        if build_log is not None:
            build_log.add("error", message, step)
        tail = self.store.build_logs(build.id, max(0, self._count(build.id) - 20), 20)
        build.status, build.finished_at = "error", now()
        build.reason = BuildReason(message=message, step=step, log_tail=tail)
        self.store.put_build(build)
        self._logs.pop(build.id, None)

    def _count(self, build_id: str) -> int:
        running = self._logs.get(build_id)
        return (
            running.count
            if running
            else len(self.store.build_logs(build_id, 0, MAX_LOG_ENTRIES + 1))
        )

    # -- deleting ---------------------------------------------------------------------------
    def check_deletable(self, name: str) -> TemplateRecord:
        if self.builtin(name) is not None:
            raise InvalidRequestError(f"{name!r} is a built-in template: it cannot be deleted")
        record = self.get(name)
        users = [s.id for s in self.store.list_sandboxes() if s.template == name]
        if users:
            raise TemplateInUseError(
                f"template {name!r} has sandboxes ({', '.join(users[:10])}): kill them first"
            )
        if any(b.status == "building" for b in self.store.list_builds(name)):
            raise TemplateInUseError(f"template {name!r} is being built")
        return record

    async def delete(self, name: str) -> None:
        """Delete a template, its builds, and the layers no other template's build uses."""
        self.check_deletable(name)
        self.store.delete_template(name)
        keep = {key for b in self.store.list_builds() for key in b.layers}
        keep |= {f"files-{s.id}" for s in self.store.list_snapshots() if not s.memory}
        removed = await asyncio.to_thread(self.runtime.remove_layers, keep)
        log.info("template %s deleted (%d layers removed)", name, len(removed))

    def assign_tags(self, name: str, build_id: str, tags: list[str]) -> None:
        record = self.get(name)
        for tag in tags:
            checked_name(tag)
            record.tags[tag] = build_id
        self.store.put_template(record)

    def remove_tags(self, name: str, tags: list[str]) -> None:
        record = self.get(name)
        for tag in tags:
            record.tags.pop(tag, None)
        self.store.put_template(record)
