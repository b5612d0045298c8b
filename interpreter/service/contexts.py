"""Contexts: independent kernels in one sandbox, kept in the store so that they outlive a
restart of the front end and a pause. The gateway side of a context (its kernel, channel, lock)
is ``execution.kernels``; this module keeps the two in step."""

from __future__ import annotations

import contextlib
import weakref

from interpreter.core.errors import ContextNotFoundError, InterpreterError, InvalidRequestError
from interpreter.core.models import ContextRecord, now
from interpreter.core.store import Store
from interpreter.execution import languages
from interpreter.execution.kernels import KernelContext, SandboxKernels
from interpreter.execution.languages import DEFAULT_CWD
from interpreter.runtime.base import Runtime, SandboxProcess
from interpreter.service.guard import RuntimeGuard


class Contexts:
    def __init__(self, store: Store, runtime: Runtime | None = None) -> None:
        self.store = store
        self.runtime = runtime  # None: no recovery from bombs (their strays are not killed)
        # A live sandbox's default contexts by language, read from the store once for each set
        # of its kernels: a run goes to one, and the store's read is ~50 us of every run after
        # an idle (issue 19). Weakly keyed: a sandbox resumed, restored or killed has new
        # kernels, and the old entry goes with the old kernels.
        self._defaults: weakref.WeakKeyDictionary[SandboxKernels, dict[str, ContextRecord]] = (
            weakref.WeakKeyDictionary()
        )

    def kernels_of(
        self, sandbox_id: str, process: SandboxProcess, fresh: bool = False, prepared: bool = False
    ) -> SandboxKernels:
        """The sandbox's kernels, knowing its stored contexts. ``fresh``: its processes are new
        (booted on kept files), so no stored kernel runs any more: each starts on first use.
        ``prepared``: each running kernel has its context's cwd (restored from a checkpoint made
        while connected); else it is set again at the next run."""

        def remember(context: KernelContext) -> None:
            self.store.set_kernel_id(sandbox_id, context.id, context.kernel_id)

        guard = None if self.runtime is None else RuntimeGuard(self.runtime, process)
        sandbox = self.store.get_sandbox(sandbox_id)
        kernels = SandboxKernels(
            process.gateway_socket,
            on_kernel_started=remember,
            guard=guard,
            envs=sandbox.envs if sandbox is not None else None,
        )
        for record in self.store.list_contexts(sandbox_id):
            if fresh and record.kernel_id is not None:
                record.kernel_id = None
                self.store.put_context(record)
            context = kernels.add(
                languages.resolve(record.language), record.cwd, record.id, record.kernel_id
            )
            context.prepared = prepared and record.kernel_id is not None
        return kernels

    async def create(
        self,
        sandbox_id: str,
        kernels: SandboxKernels,
        language: str | None,
        cwd: str = DEFAULT_CWD,
        default: bool = False,
        start: bool = False,
    ) -> ContextRecord:
        """A new context; with ``start`` its kernel is started now (else on first use)."""
        if not cwd.startswith("/") or "\0" in cwd:
            raise InvalidRequestError(f"cwd must be an absolute path, got {cwd!r}")
        lang = languages.resolve(language)
        return await self.adopt(sandbox_id, kernels, kernels.add(lang, cwd), default, start)

    async def adopt(
        self,
        sandbox_id: str,
        kernels: SandboxKernels,
        context: KernelContext,
        default: bool = False,
        start: bool = False,
    ) -> ContextRecord:
        """Record a context the kernels know (e.g. one restored with its kernel running)."""
        record = ContextRecord(
            id=context.id,
            sandbox_id=sandbox_id,
            language=context.language.name,
            cwd=context.cwd,
            created_at=now(),
            is_default=default,
            kernel_id=context.kernel_id,
        )
        self.store.put_context(record)
        if start:
            try:
                await kernels.start(context)
            except BaseException:
                self.store.delete_context(sandbox_id, context.id)
                with contextlib.suppress(InterpreterError):
                    await kernels.delete_context(context.id)
                raise
        return record

    async def create_defaults(self, sandbox_id: str, kernels: SandboxKernels) -> None:
        """The default contexts E2B clients expect; only Python's kernel starts now."""
        await self.create(sandbox_id, kernels, "python", default=True, start=True)
        await self.create(sandbox_id, kernels, "javascript", default=True)

    async def start_default_python(self, sandbox_id: str, kernels: SandboxKernels) -> None:
        """As at create: the default Python kernel runs (a sandbox booted on kept files)."""
        for record in self.store.list_contexts(sandbox_id):
            if record.is_default and record.language == "python":
                await kernels.start(kernels.get(record.id))

    def list(self, sandbox_id: str) -> list[ContextRecord]:
        return self.store.list_contexts(sandbox_id)

    def get(self, sandbox_id: str, context_id: str) -> ContextRecord:
        for record in self.list(sandbox_id):
            if record.id == context_id:
                return record
        raise ContextNotFoundError(f"context {context_id!r} not found in sandbox {sandbox_id!r}")

    async def default_for(
        self, sandbox_id: str, kernels: SandboxKernels, language: str | None
    ) -> ContextRecord:
        """The language's default context, made on its first use."""
        lang = languages.resolve(language)
        known = self._defaults.setdefault(kernels, {})
        if (record := known.get(lang.name)) is not None:
            return record
        for record in self.list(sandbox_id):
            if record.is_default and record.language == lang.name:
                known[lang.name] = record
                return record
        record = await self.create(sandbox_id, kernels, lang.name, default=True)
        known[lang.name] = record
        return record

    # The caller checked the context with ``get`` (before resuming its sandbox for it).
    async def restart(self, sandbox_id: str, kernels: SandboxKernels, context_id: str) -> None:
        await kernels.restart_context(context_id)

    async def delete(self, sandbox_id: str, kernels: SandboxKernels, context_id: str) -> None:
        await kernels.delete_context(context_id)
        self.store.delete_context(sandbox_id, context_id)
        known = self._defaults.get(kernels, {})  # after: a run meanwhile may have cached it
        for language in [name for name, record in known.items() if record.id == context_id]:
            del known[language]
