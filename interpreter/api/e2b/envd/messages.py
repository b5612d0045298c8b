"""ProtoJSON of the envd messages we send, built from what the service returns (the typed
messages of ``interpreter.core.protocol``, checked where they left the sandbox): the one place
where they become E2B's shapes.

ProtoJSON rules the SDKs rely on: lowerCamelCase names, default values left out, int64 as a
string, bytes as base64, enums by name, Timestamps as RFC 3339.
"""

from __future__ import annotations

import base64
import os
import signal

from interpreter.api.e2b.envd.connect import Message
from interpreter.core.protocol import (
    EntryInfo,
    ProcessEnd,
    ProcessInfo,
    ProcessOutput,
    ProcessStart,
    WatchEvent,
)

FILE_TYPES = {
    "file": "FILE_TYPE_FILE",
    "dir": "FILE_TYPE_DIRECTORY",
    "symlink": "FILE_TYPE_SYMLINK",
}
EVENT_TYPES = {
    "create": "EVENT_TYPE_CREATE",
    "write": "EVENT_TYPE_WRITE",
    "remove": "EVENT_TYPE_REMOVE",
    "rename": "EVENT_TYPE_RENAME",
    "chmod": "EVENT_TYPE_CHMOD",
}
# What the plain HTTP /files answers call the types.
HTTP_FILE_TYPES = {"file": "file", "dir": "dir", "symlink": "file"}
DIRECTORY_MODE = 0o20000000000  # Go's os.ModeDir, which envd's mode carries
# Go's names for signals, as envd's `status` shows them ("signal: killed").
SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup",
    signal.SIGPIPE: "broken pipe",
    signal.SIGQUIT: "quit",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
}


def entry_info(entry: EntryInfo) -> Message:
    """``filesystem.EntryInfo`` of an entry.

    A symlink is reported the way current envd does: ``type`` is what it points at and
    ``isSymlink`` is set (a dangling one keeps ``FILE_TYPE_SYMLINK``)."""
    kind: str = entry.type
    is_symlink = kind == "symlink"
    if is_symlink and entry.target_type is not None:
        kind = entry.target_type
    info: Message = {"name": entry.name, "type": FILE_TYPES[kind], "path": entry.path}
    if entry.size:
        info["size"] = str(entry.size)  # int64 as a string
    if mode := entry.mode & 0o7777 | (DIRECTORY_MODE if kind == "dir" else 0):
        info["mode"] = mode
    for name, value in (
        ("permissions", entry.permissions),
        ("owner", entry.owner),
        ("group", entry.group),
    ):
        if value:
            info[name] = value
    info["modifiedTime"] = entry.modified_time.isoformat().replace("+00:00", "Z")
    if is_symlink:
        info["symlinkTarget"] = entry.symlink_target or ""
        info["isSymlink"] = True
    if entry.metadata:
        info["metadata"] = dict(entry.metadata)
    return info


def write_info(entry: EntryInfo) -> Message:
    """An item of the ``POST /files`` answer."""
    info: Message = {"name": entry.name, "type": HTTP_FILE_TYPES[entry.type], "path": entry.path}
    if entry.metadata:
        info["metadata"] = dict(entry.metadata)
    return info


def filesystem_event(event: WatchEvent, root: str) -> Message | None:
    """``filesystem.FilesystemEvent``, named relative to the watched folder ``root``; None for
    what envd has no word for (``start``, ``overflow``)."""
    kind = EVENT_TYPES.get(event.type)
    if kind is None:
        return None
    name = event.name
    if name == root or name.startswith(root.rstrip("/") + "/"):
        name = os.path.relpath(name, root)
    out: Message = {"name": name, "type": kind}
    if event.entry is not None:
        out["entry"] = entry_info(event.entry)
    return out


def process_info(process: ProcessInfo) -> Message:
    """``process.ProcessInfo``: its config as envd would have started it."""
    if process.args is not None:
        config: Message = {"cmd": process.cmd, "args": list(process.args)}
    else:  # started as a shell command line (native API)
        config = {"cmd": "/bin/bash", "args": ["-c", process.cmd]}
    if process.envs:
        config["envs"] = dict(process.envs)
    if process.cwd:
        config["cwd"] = process.cwd
    info: Message = {"config": config, "pid": process.pid}
    if process.tag is not None:
        info["tag"] = process.tag
    return info


def process_event(event: ProcessStart | ProcessOutput, pty: bool) -> Message | None:
    """``process.ProcessEvent`` of a start or some output (None for empty output); on a
    terminal, output is ``pty``."""
    if isinstance(event, ProcessStart):
        return {"event": {"start": {"pid": event.pid}}}
    if not event.data:
        return None
    return {"event": {"data": {"pty" if pty else event.type: b64(event.data)}}}


def process_end(event: ProcessEnd) -> Message:
    """``process.ProcessEvent`` of the end: a process a signal killed has exit code -1 and
    ``status`` "signal: killed", as Go reports it."""
    code = event.exit_code
    end: Message = {}
    if code < 0:
        end["exitCode"] = -1
        end["status"] = f"signal: {_signal_name(-code)}"
    else:
        if code:
            end["exitCode"] = code
        end["exited"] = True
        end["status"] = f"exit status {code}"
    if event.error:
        end["error"] = event.error
    return {"event": {"end": end}}


def _signal_name(number: int) -> str:
    try:
        return SIGNAL_NAMES.get(signal.Signals(number), f"signal {number}")
    except ValueError:
        return f"signal {number}"


def b64(data: str) -> str:
    """Process output (the service hands it over as text) as ProtoJSON bytes."""
    return base64.b64encode(data.encode("utf-8", "surrogateescape")).decode()
