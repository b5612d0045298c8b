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
import stat

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
# Go's FileMode.String() letters, in its order (envd's `permissions` is that of the lstat mode):
# the file type's (S_IFMT) letters, then those of the setuid, setgid and sticky bits.
GO_TYPE_LETTERS = {
    stat.S_IFDIR: "d", stat.S_IFLNK: "L", stat.S_IFBLK: "D", stat.S_IFCHR: "Dc",
    stat.S_IFIFO: "p", stat.S_IFSOCK: "S",
}  # fmt: skip
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
    """``filesystem.EntryInfo`` of an entry, as envd builds it from ``lstat``: ``mode`` is the
    permission bits only, ``permissions`` Go's string of the whole mode. A symlink is reported
    the way current envd does: ``type`` and ``mode`` are those of what it points at,
    ``symlinkTarget`` its fully resolved path, ``isSymlink`` is set; a dangling or looping one
    has no type, mode 0 and its own path as target."""
    is_symlink = entry.type == "symlink"
    mode = entry.mode
    if is_symlink:
        mode = entry.target_mode if entry.target_mode is not None else 0
    info: Message = {"name": entry.name}
    if (kind := _file_type(entry, mode)) is not None:  # UNSPECIFIED is left out
        info["type"] = FILE_TYPES[kind]
    info["path"] = entry.path
    if entry.size:
        info["size"] = str(entry.size)  # int64 as a string
    if permission_bits := mode & 0o777:
        info["mode"] = permission_bits
    info["permissions"] = go_permissions(entry.mode)
    for name, value in (("owner", entry.owner), ("group", entry.group)):
        if value:
            info[name] = value
    info["modifiedTime"] = entry.modified_time.isoformat().replace("+00:00", "Z")
    if is_symlink:
        info["symlinkTarget"] = entry.resolved_target or entry.path
        info["isSymlink"] = True
    if entry.metadata:
        info["metadata"] = dict(entry.metadata)
    return info


def _file_type(entry: EntryInfo, mode: int) -> str | None:
    """envd's type: a regular file, a folder, or (a device, fifo, socket, a link to nothing)
    unspecified; a link's is its target's."""
    kind = entry.target_type if entry.type == "symlink" else entry.type
    if kind == "file" and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return None
    return kind


def go_permissions(mode: int) -> str:
    """Go's ``FileMode.String()`` of a Unix mode: "drwxr-xr-x", "Lrwxrwxrwx", "dtrwxrwxrwx"."""
    kind = GO_TYPE_LETTERS.get(stat.S_IFMT(mode), "")
    special = "".join(c for bit, c in ((stat.S_ISUID, "u"), (stat.S_ISGID, "g")) if mode & bit)
    # Go's order is d a l T L D p S u g c t: a char device's "c" comes after u and g.
    letters = kind[:1] + special + kind[1:] + ("t" if mode & stat.S_ISVTX else "") or "-"
    return letters + "".join(c if mode & (0o400 >> i) else "-" for i, c in enumerate("rwx" * 3))


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
