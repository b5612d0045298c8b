"""What crosses the boundary between the host and a sandbox's agent, typed once.

The agent (``sandbox/agent/``) runs inside the sandbox and speaks plain JSON; everything it
answers is parsed into these models where it enters the host (``service/agent_client.py``), with
bounds on every string, number and collection: the sandbox is not trusted, and a malformed
answer is a ``GatewayError``, never a traceback. The service returns these models; the native
API serves them as they are (their JSON is the native wire format), envd translates them to
E2B's Connect JSON in one place (``api/e2b/envd/messages.py``), and the SDK mirrors the response
models with its own dataclasses (``tests/unit/test_protocol.py`` keeps the two in step).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from interpreter.core.errors import GatewayError, InvalidRequestError

MAX_PATH = 8192  # characters of a path (PATH_MAX is 4096 bytes; names are shown with U+FFFD)
MAX_NAME = 256  # owner, group, tag, a metadata key
MAX_ERROR = 4096  # an end event's error message
MAX_OUTPUT = 1 << 20  # characters of one output event (the agent sends 64 KiB chunks)
MAX_COMMAND = 1 << 20  # a command line, an argument, an environment value
MAX_ITEMS = 4096  # arguments, environment variables, metadata entries
MAX_ENTRIES = 1 << 20  # entries of one listing

Path = Annotated[str, StringConstraints(max_length=MAX_PATH)]
Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
Text = Annotated[str, StringConstraints(max_length=MAX_COMMAND)]
Int64 = Annotated[int, Field(ge=-(1 << 63), lt=1 << 63)]
# An aware time, written as Python's isoformat() ("2026-01-01T00:00:00+00:00") as it always was.
Timestamp = Annotated[
    AwareDatetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)
]
User = Literal["user", "root"]
FileType = Literal["file", "dir", "symlink"]
ProcessStatus = Literal["running", "completed", "failed", "cancelled"]
WatchEventType = Literal["start", "create", "write", "remove", "rename", "chmod", "overflow"]
WATCH_EVENT_TYPES = frozenset(get_args(WatchEventType))
Envs = Annotated[dict[Name, Text], Field(max_length=MAX_ITEMS)]


class Wire(BaseModel):
    """A message of the protocol: immutable; fields the host does not know are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# Host -> agent.


class TerminalSize(Wire):
    cols: int = Field(80, ge=1, le=1000)
    rows: int = Field(24, ge=1, le=1000)


class CommandSpec(Wire):
    """A process to start. Without ``args``, ``cmd`` is run by ``bash -c`` (with a ``pty``,
    ``bash`` is an interactive shell); with them, ``cmd`` is executed directly."""

    cmd: Text = Field(..., min_length=1)
    args: Annotated[list[Text], Field(max_length=MAX_ITEMS)] | None = None
    envs: Envs = Field(default_factory=dict)
    cwd: Path | None = None
    user: User = "user"
    stdin: bool = False
    tag: Name | None = None
    pty: TerminalSize | None = None
    timeout: float | None = Field(None, gt=0)

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> CommandSpec:
        """A spec from a client's request; InvalidRequestError naming what does not fit."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise InvalidRequestError(f"invalid command: {_problem(exc)}") from None

    def wire(self) -> dict[str, Any]:
        """The JSON body the agent reads (absent fields left out: ``args`` absent means a
        shell command line)."""
        return self.model_dump(mode="json", exclude_none=True)


# Agent -> host.


class EntryInfo(Wire):
    """A file, folder or symlink (``lstat``: a symlink is itself, ``target_type`` says what it
    points at, None when dangling; ``symlink_target`` is the link's text, ``resolved_target``
    the absolute path it finally reaches and ``target_mode`` that one's mode, None when
    dangling or looping). ``metadata``: the file's user metadata (extended attributes)."""

    name: Path
    path: Path
    type: FileType
    size: int = Field(ge=0, lt=1 << 63)
    mode: int = Field(ge=0, le=0xFFFFFFFF)
    permissions: Annotated[str, StringConstraints(max_length=16)]
    owner: Name
    group: Name
    modified_time: Timestamp
    symlink_target: Path | None = None
    target_type: Literal["file", "dir"] | None = None
    resolved_target: Path | None = None
    target_mode: int | None = Field(default=None, ge=0, le=0xFFFFFFFF)
    metadata: Annotated[
        dict[Name, Annotated[str, StringConstraints(max_length=1 << 16)]],
        Field(max_length=MAX_ITEMS),
    ] = Field(default_factory=dict)


class MadeDir(Wire):
    created: bool


class ProcessInfo(Wire):
    """A process started through the agent, running or finished. ``args`` is set when ``cmd``
    was executed directly (not through ``bash -c``); ``started_at`` is in unix seconds."""

    pid: int = Field(ge=0, lt=1 << 32)
    cmd: Text
    tag: Name | None = None
    user: User
    status: ProcessStatus
    exit_code: Int64 | None = None
    started_at: float
    pty: bool
    args: Annotated[list[Text], Field(max_length=MAX_ITEMS)] | None = None
    envs: Envs = Field(default_factory=dict)
    cwd: Path = ""


class ProcessStart(Wire):
    type: Literal["start"]
    pid: int = Field(ge=0, lt=1 << 32)


class ProcessOutput(Wire):
    """Output as text (the agent decodes UTF-8, undecodable bytes as U+FFFD); on a terminal
    everything is ``stdout``."""

    type: Literal["stdout", "stderr"]
    data: Annotated[str, StringConstraints(max_length=MAX_OUTPUT)]


class ProcessEnd(Wire):
    """The process ended: ``exit_code`` is negative when a signal killed it."""

    type: Literal["end"]
    exit_code: Int64
    error: Annotated[str, StringConstraints(max_length=MAX_ERROR)] | None = None
    timed_out: bool = False


ProcessEvent = Annotated[ProcessStart | ProcessOutput | ProcessEnd, Field(discriminator="type")]
PROCESS_EVENT_TYPES = frozenset({"start", "stdout", "stderr", "end"})


class WatchEvent(Wire):
    """An event in a watched folder: ``start`` once the watch is armed (``name``: the folder),
    then what happened to the path ``name``; ``overflow`` if events were lost. With
    ``include_entry``, create / write / chmod carry the entry's info."""

    type: WatchEventType
    name: Path
    entry: EntryInfo | None = None


# Parsing what the agent sent.

W = TypeVar("W", bound=Wire)
_ENTRIES = TypeAdapter[list[EntryInfo]](Annotated[list[EntryInfo], Field(max_length=MAX_ENTRIES)])
_PROCESSES = TypeAdapter[list[ProcessInfo]](
    Annotated[list[ProcessInfo], Field(max_length=MAX_ENTRIES)]
)
_EVENT = TypeAdapter[ProcessStart | ProcessOutput | ProcessEnd](ProcessEvent)


def parse(model: type[W], data: bytes | Mapping[str, Any]) -> W:
    """One answer of the agent (JSON text, or already decoded) as ``model``; GatewayError if it
    does not fit."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise _garbage(exc) from None


def parse_entries(data: bytes) -> list[EntryInfo]:
    try:
        return _ENTRIES.validate_json(data)
    except ValidationError as exc:
        raise _garbage(exc) from None


def parse_processes(data: bytes) -> list[ProcessInfo]:
    try:
        return _PROCESSES.validate_json(data)
    except ValidationError as exc:
        raise _garbage(exc) from None


def _line(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        raise GatewayError("the sandbox agent sent invalid JSON") from None
    return value if isinstance(value, dict) else None


def parse_process_event(line: bytes) -> ProcessStart | ProcessOutput | ProcessEnd | None:
    """One NDJSON line of a process stream; None for an event type the host does not know (a
    newer agent)."""
    event = _line(line)
    if event is None or event.get("type") not in PROCESS_EVENT_TYPES:
        return None
    try:
        return _EVENT.validate_python(event)
    except ValidationError as exc:
        raise _garbage(exc) from None


def parse_watch_event(line: bytes) -> WatchEvent | None:
    """One NDJSON line of a watch; None for an event type the host does not know."""
    event = _line(line)
    if event is None or event.get("type") not in WATCH_EVENT_TYPES:
        return None
    return parse(WatchEvent, event)


def _problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "the value"
    return f"{where}: {error['msg']}"[:300]


def _garbage(exc: ValidationError) -> GatewayError:
    return GatewayError(f"the sandbox agent sent garbage: {_problem(exc)}")
