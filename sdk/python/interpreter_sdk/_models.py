"""What the SDK returns: executions, results, sandboxes and contexts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

# Result fields in the order formats() lists them.
FORMATS = (
    "text", "html", "markdown", "svg", "png", "jpeg", "pdf", "latex", "json", "javascript",
    "data", "chart",
)  # fmt: skip


@dataclass
class Result:
    """One displayed value: a field per format the kernel produced."""

    text: str | None = None
    html: str | None = None
    markdown: str | None = None
    svg: str | None = None
    png: str | None = None  # base64
    jpeg: str | None = None  # base64
    pdf: str | None = None  # base64
    latex: str | None = None
    json: Any = None
    javascript: str | None = None
    data: Any = None
    chart: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    is_main_result: bool = False  # the cell's value (execute_result), not a display() call

    def formats(self) -> list[str]:
        """The formats this result has, e.g. ``["text", "html"]``."""
        return [f for f in FORMATS if getattr(self, f) is not None] + list(self.extra)


@dataclass
class OutputMessage:
    text: str
    timestamp: datetime | None
    error: bool = False  # stderr

    def __str__(self) -> str:
        return self.text


@dataclass
class Logs:
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)


@dataclass
class CellError:
    """The error raised by the user's code (not an SDK exception)."""

    name: str
    value: str
    traceback: str


@dataclass
class Execution:
    results: list[Result] = field(default_factory=list)
    logs: Logs = field(default_factory=Logs)
    error: CellError | None = None
    execution_count: int | None = None

    @property
    def text(self) -> str | None:
        """The text of the main result (the cell's value), if any."""
        for result in self.results:
            if result.is_main_result:
                return result.text
        return None


@dataclass
class RunResult:
    """A one-shot run's outcome (``Sandbox.run``); the sandbox it ran in is gone."""

    sandbox_id: str
    execution: Execution | None = None  # a run of code
    command: CommandResult | None = None  # a run of a command
    files: dict[str, bytes] = field(default_factory=dict)  # those asked for that existed


@dataclass
class SandboxInfo:
    id: str
    template: str
    state: str
    created_at: datetime
    expires_at: datetime
    cpu: float
    memory_mb: int
    metadata: dict[str, str]
    disk_mb: int = 0  # the sandbox's disk limit (0: a server without disk limits)
    network: dict[str, Any] = field(default_factory=dict)  # enabled, allow_out, deny_out


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot of a running sandbox: create sandboxes of it with ``template=id``."""

    id: str
    name: str | None
    sandbox_id: str  # its source
    template: str  # the source's
    memory: bool  # processes and kernels kept (False: only the files)
    created_at: datetime
    frozen_seconds: float = 0.0  # how long the source was paused for it


@dataclass(frozen=True)
class VolumeInfo:
    """A volume: named persistent storage, mounted with ``Sandbox.create(volume_mounts=
    {path: name})``."""

    id: str
    name: str
    size_mb: int
    created_at: datetime


class Network(TypedDict, total=False):
    """A sandbox's network: ``enabled`` (egress; default off), ``allow_out`` (IPv4 addresses,
    CIDRs, domains reachable even when denied), ``deny_out`` (addresses and CIDRs;
    ``"0.0.0.0/0"``: everything)."""

    enabled: bool
    allow_out: list[str]
    deny_out: list[str]


@dataclass
class Context:
    id: str
    language: str
    cwd: str


# The models below mirror the server's protocol (interpreter/core/protocol.py), field for field
# (tests/unit/test_protocol.py checks it); the SDK does not import the server.


@dataclass
class EntryInfo:
    """A file, folder or symlink inside a sandbox."""

    name: str
    path: str
    type: str  # "file", "dir" or "symlink"
    size: int
    mode: int
    permissions: str  # like "-rw-r--r--"
    owner: str
    group: str
    modified_time: datetime
    symlink_target: str | None = None
    target_type: str | None = None  # a symlink's: "file", "dir", or None when dangling
    resolved_target: str | None = None  # a symlink's absolute, fully resolved target
    target_mode: int | None = None  # the mode of what a symlink points at
    metadata: dict[str, str] = field(default_factory=dict)  # kept with the file (xattrs)


@dataclass
class CommandResult:
    """A finished command."""

    stdout: str
    stderr: str
    exit_code: int
    error: str | None = None  # e.g. "timed out after 5 s: killed"


@dataclass
class CommandInfo:
    pid: int
    cmd: str
    tag: str | None
    user: str
    status: str  # running / completed / failed / cancelled
    exit_code: int | None
    started_at: datetime
    pty: bool
    args: list[str] | None = None  # set when cmd was executed directly, not through bash -c
    envs: dict[str, str] = field(default_factory=dict)
    cwd: str = ""


@dataclass
class FilesystemEvent:
    type: str  # create / write / remove / rename / chmod / overflow
    name: str  # the path it happened to
    entry: EntryInfo | None = None  # the entry's info, when the server sends it
