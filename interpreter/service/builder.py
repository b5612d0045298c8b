"""A template's file system, step by step: each RUN, COPY or WORKDIR runs in a build sandbox of
its own (the same jail as every sandbox, the agent only, egress on) on the layers the steps
before made, and what it wrote is kept as a layer, keyed by a hash of its parent's key, the step
and what it runs with (variables, workdir, user, the content it copies). A step whose key has a
layer is not run again (unless ``force``); ENV and USER change what later steps run with.

What a build sandbox writes is the tenant's, as in any sandbox: its layer is copied without
following a link (``runtime.capture_layer``), and it is only ever mounted as a read-only lower
layer of the template's sandboxes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
import re
import shlex
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from interpreter.core.errors import BuildStepError, InterpreterError
from interpreter.core.network import Network
from interpreter.core.options import CreateRequest
from interpreter.core.protocol import CommandSpec, User
from interpreter.core.templates import StartSpec, Step
from interpreter.runtime.base import Image
from interpreter.service import template_start
from interpreter.service.bring_up import BringUp, BuildBoot
from interpreter.service.build_files import BuildFiles, owner_of
from interpreter.service.live import LiveSandbox

COPY_ARCHIVE = "/run/sandbox/copy.tar"  # the run folder: not part of the layer
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class BuildState:
    """What the next step runs with, and the layers so far (keys, bottom first)."""

    parent: str  # the key the next step's key is hashed from
    start: StartSpec
    layers: list[str] = field(default_factory=list)
    workdir_made: bool = True  # the last WORKDIR's folder exists (made by a step)
    built: int = 0
    cached: int = 0


Log = Callable[[str, str, str | None], None]  # (level, message, step)


class Builder:
    def __init__(self, bring_up: BringUp, files: BuildFiles) -> None:
        self.bring_up, self.files = bring_up, files
        self.settings, self.runtime = bring_up.settings, bring_up.runtime

    async def run(
        self,
        steps: list[Step],
        base: Image,
        state: BuildState,
        limits: tuple[float, int],
        log: Log,
    ) -> BuildState:
        """Run ``steps`` on ``base`` (with ``state.layers`` on it already)."""
        total = len(steps)
        for index, step in enumerate(steps):
            number = str(index + 1)
            log("info", f"[{number}/{total}] {_shown(step)}", number)
            try:
                await self._step(step, index, base, state, limits, log)
            except BuildStepError:
                raise
            except InterpreterError as exc:
                raise BuildStepError(
                    f"step {number} ({step.type}) failed: {exc}", index + 1
                ) from exc
        if not state.workdir_made:  # the last WORKDIR's folder, for the template's sandboxes
            make = Step(type="RUN", args=["true", "root"])
            try:
                await self._step(make, max(total - 1, 0), base, state, limits, log)
            except InterpreterError as exc:
                raise BuildStepError(f"making the WORKDIR failed: {exc}", total) from exc
        return state

    async def _step(
        self,
        step: Step,
        index: int,
        base: Image,
        state: BuildState,
        limits: tuple[float, int],
        log: Log,
    ) -> None:
        start, number = state.start, str(index + 1)
        if step.type == "ENV":
            pairs = [_expand(arg, {**self.runtime.base_envs(), **start.envs}) for arg in step.args]
            start.envs = {**start.envs, **dict(zip(pairs[::2], pairs[1::2], strict=True))}
            return
        if step.type == "USER":
            start.user = step.args[0]
            return
        if step.type == "WORKDIR":
            # Made (if missing, owned by the step's user) by the next step that runs, or at the
            # end: a WORKDIR alone costs no sandbox.
            start.workdir = posixpath.normpath(posixpath.join(start.workdir, step.args[0]))
            state.workdir_made = False
            return
        with tempfile.TemporaryDirectory(prefix="interpreter-copy-") as tmp:
            selection, content = None, ""
            user: User = "root"
            if step.type == "COPY":
                selection = Path(tmp) / "copy.tar"
                content, command = await asyncio.to_thread(self._select, step, start, selection)
            else:
                as_user = step.args[1] if len(step.args) > 1 and step.args[1] else start.user
                user, command = template_start.as_user(as_user, step.args[0])
            if not state.workdir_made:  # as root, before the step (as E2B's builder does)
                if user != "root":
                    user, command = template_start.as_user(user, command)
                    user = "root"
                command = f"{_make_workdir(start.workdir, start.user)} && {command}"
                state.workdir_made = True
            key = _key(state.parent, step, start, content)
            if not step.force and await asyncio.to_thread(self.runtime.has_layer, key):
                log("info", f"[{number}] cached", number)
                state.cached += 1
            else:
                image = self.runtime.built_image(base, base.name, state.layers)
                spec = CommandSpec(cmd=command, user=user, cwd="/", envs=start.envs)
                await self._run_in_sandbox(image, spec, selection, key, limits, log, index)
                state.built += 1
        state.layers.append(key)
        state.parent = key

    def _select(self, step: Step, start: StartSpec, out: Path) -> tuple[str, str]:
        src, dest, *rest = step.args
        chown = rest[0] if rest and rest[0] else f"{start.user}:{start.user}"
        mode = int(rest[1], 8) if len(rest) > 1 and rest[1] else None
        if not dest.startswith("/"):
            dest = posixpath.join(start.workdir, dest)
        assert step.files_hash is not None  # Step.check
        content, into = self.files.select(step.files_hash, src, dest, out, owner_of(chown), mode)
        into = shlex.quote(into)
        return content, f"mkdir -p -- {into} && tar -xpf {COPY_ARCHIVE} -C {into}"

    async def _run_in_sandbox(
        self,
        image: Image,
        spec: CommandSpec,
        selection: Path | None,
        key: str,
        limits: tuple[float, int],
        log: Log,
        index: int,
    ) -> None:
        request = CreateRequest.defaults(self.settings, image.name)
        record = request.new_record("pooled")  # no client sees it; killed if left
        record.cpu, record.memory_mb = limits
        record.network = Network(enabled=self.settings.egress)
        live = await self.bring_up.run(record, BuildBoot(image))
        try:
            if selection is not None:
                await live.files.write(COPY_ARCHIVE, _chunks(selection), user="root")
            output = template_start.Output(lambda level, line: log(level, line, str(index + 1)))
            end = await template_start.run(live.commands, spec, output)
            if end.exit_code != 0:
                tail = "\n".join(output.tail[-20:])
                raise BuildStepError(
                    f"step {index + 1} failed: exit code {end.exit_code}"
                    + (f" ({end.error})" if end.error else "")
                    + (f"\n{tail}" if tail else ""),
                    index + 1,
                )
            await self._keep_layer(record.id, live, key)
        finally:
            await self.bring_up.tear_down(record)

    async def _keep_layer(self, sandbox_id: str, live: LiveSandbox, key: str) -> None:
        """Stop the build sandbox (nothing writes any more) and keep its upper layer."""
        self.bring_up.live.pop(sandbox_id)
        await live.close()
        await asyncio.to_thread(self.runtime.kill, live.process)
        await asyncio.to_thread(self.runtime.capture_layer, live.process, key)


def _shown(step: Step) -> str:
    """A step as the log shows it: a RUN's command as written."""
    if step.type == "RUN":
        user = f"  (as {step.args[1]})" if len(step.args) > 1 and step.args[1] else ""
        return f"RUN {step.args[0]}{user}"
    return f"{step.type} {shlex.join(a for a in step.args if a)}"


def _key(parent: str, step: Step, start: StartSpec, content: str) -> str:
    what = [parent, step.type, step.args, sorted(start.envs.items()), start.workdir, start.user]
    return hashlib.sha256(json.dumps([*what, content]).encode()).hexdigest()[:32]


def _expand(value: str, envs: dict[str, str]) -> str:
    """``$VAR`` and ``${VAR}`` in an ENV value, from the variables so far (E2B's builder has a
    shell expand them; unknown ones become empty, as there)."""
    return VARIABLE.sub(lambda m: envs.get(m.group(1) or m.group(2), ""), value)


def _make_workdir(workdir: str, user: str) -> str:
    path = shlex.quote(workdir)
    owner = "" if user == "root" else f" && chown -- {shlex.quote(user)} {path}"
    return f"[ -d {path} ] || {{ mkdir -p -- {path}{owner}; }}"


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as file:
        while chunk := await asyncio.to_thread(file.read, 1 << 20):
            yield chunk
