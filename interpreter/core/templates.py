"""Templates as the service knows them: what a build asks for (a base and steps, declared once:
a Dockerfile and E2B's Template SDK both translate into it), the build's record and the
template's record.

A step is one of E2B's build steps, field for field (``type``, ``args``, ``files_hash``,
``force``): RUN ``[command, user?]``, COPY ``[src, dest, user?, mode?]`` (the sources are in the
uploaded archive ``files_hash`` names), ENV ``[key, value, key, value...]``, WORKDIR ``[path]``,
USER ``[name]``. RUN and COPY make a file-system layer each; the others change what later steps
and the template's sandboxes run with.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from interpreter.core.errors import InvalidRequestError
from interpreter.core.models import now

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
StepType = Literal["RUN", "COPY", "ENV", "WORKDIR", "USER"]
BuildStatus = Literal["waiting", "building", "ready", "error"]
LogLevel = Literal["debug", "info", "warn", "error"]
MAX_STEPS = 200
MAX_ARG = 1 << 16  # characters of one step argument (a RUN's script)
# The ready command is run until it exits 0, this often (E2B: 2 s), for at most the build's ready
# timeout (E2B's: 10 minutes). A start command without one waits as E2B's default does.
READY_INTERVAL = 1.0
DEFAULT_READY_TIMEOUT = 600
DEFAULT_READY_CMD = "sleep 20"


def checked_name(name: str) -> str:
    """A template name: what ``Sandbox.create(template=...)`` takes. Names are folder names
    on the host too, hence the alphabet."""
    if not NAME.match(name):
        raise InvalidRequestError(
            f"template name {name!r} is not valid: use 1-63 characters of [a-z0-9._-], "
            "starting with a letter or digit"
        )
    return name


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: StepType
    args: list[str] = Field(default_factory=list, max_length=1024)
    files_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    force: bool = False  # run again even if a layer of it is cached (E2B's skip_cache)

    def check(self, index: int) -> Step:
        where = f"step {index + 1} ({self.type})"
        if any(len(arg) > MAX_ARG for arg in self.args):
            raise InvalidRequestError(f"{where}: an argument is longer than {MAX_ARG} characters")
        if any("\0" in arg for arg in self.args):
            raise InvalidRequestError(f"{where}: an argument holds a NUL character")
        counts = {"RUN": (1, 2), "COPY": (2, 4), "WORKDIR": (1, 1), "USER": (1, 1)}
        low, high = counts.get(self.type, (2, 1024))
        if not low <= len(self.args) <= high:
            raise InvalidRequestError(f"{where}: takes {low} to {high} arguments")
        if self.type == "ENV" and len(self.args) % 2:
            raise InvalidRequestError(f"{where}: takes key, value pairs")
        if self.type == "COPY" and self.files_hash is None:
            raise InvalidRequestError(f"{where}: needs the files_hash of its uploaded sources")
        if self.type in ("RUN", "WORKDIR", "USER") and not self.args[0].strip():
            raise InvalidRequestError(f"{where}: is empty")
        return self


class TemplateSpec(BaseModel):
    """What a build makes: the base's file system, the steps on it, and how its sandboxes
    start (a start command run in the background, ready when the ready command exits 0)."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field(description="The template it starts from (code-interpreter, base, ...).")
    steps: list[Step] = Field(default_factory=list)
    start_cmd: str | None = None
    ready_cmd: str | None = None

    def checked(self) -> TemplateSpec:
        if len(self.steps) > MAX_STEPS:
            raise InvalidRequestError(f"a template has at most {MAX_STEPS} steps")
        for index, step in enumerate(self.steps):
            step.check(index)
        for label, cmd in (("start_cmd", self.start_cmd), ("ready_cmd", self.ready_cmd)):
            if cmd is not None and (len(cmd) > MAX_ARG or "\0" in cmd):
                raise InvalidRequestError(f"{label} is too long or holds a NUL character")
        return self


class StartSpec(BaseModel):
    """How a template's sandboxes start, from its build's ENV, WORKDIR, USER and commands."""

    envs: dict[str, str] = Field(default_factory=dict)
    # E2B's defaults: steps, the start command and the sandboxes' commands run as `user` in its
    # home unless USER / WORKDIR say otherwise (a Dockerfile's start as root in /: dockerfile.py).
    workdir: str = "/home/user"
    user: str = "user"
    start_cmd: str | None = None
    ready_cmd: str | None = None
    ready_timeout: int = DEFAULT_READY_TIMEOUT


class LogEntry(BaseModel):
    timestamp: datetime
    level: LogLevel
    message: str
    step: str | None = None  # "base", a step's number (1-based), "start" or "finalize"


class BuildReason(BaseModel):
    """Why a build failed: the message, the step it failed in, the log's last lines."""

    message: str
    step: str | None = None
    log_tail: list[LogEntry] = Field(default_factory=list)


class BuildRecord(BaseModel):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))  # E2B's SDK reads a UUID
    template: str
    status: BuildStatus = "waiting"
    spec: TemplateSpec | None = None  # set when the build is started
    cpu: float
    memory_mb: int
    ready_timeout: int = DEFAULT_READY_TIMEOUT
    created_at: datetime = Field(default_factory=now)
    finished_at: datetime | None = None
    reason: BuildReason | None = None
    # What it made: the layers (their keys, bottom first) on the base, and how sandboxes start.
    base: str | None = None
    layers: list[str] = Field(default_factory=list)
    start: StartSpec | None = None
    cached_steps: int = 0
    built_steps: int = 0
    tags: list[str] = Field(default_factory=list)  # given to it once it is ready


class TemplateRecord(BaseModel):
    name: str
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)
    build_id: str | None = None  # its ready build (None until one is)
    tags: dict[str, str] = Field(default_factory=dict)  # tag -> build id
