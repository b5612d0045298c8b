"""ProtoJSON of the envd messages we send, built from what the service returns.

ProtoJSON rules the SDKs rely on: lowerCamelCase names, default values left out, int64 as a
string, bytes as base64, enums by name, Timestamps as RFC 3339.
"""

from __future__ import annotations

import base64
from typing import Any

from interpreter.api.e2b.envd.connect import Message

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


def _text(value: Any, limit: int = 4096) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def entry_info(entry: dict[str, Any]) -> Message:
    """``filesystem.EntryInfo`` from an entry of the sandbox agent (untrusted: checked here).

    A symlink is reported the way current envd does: ``type`` is what it points at and
    ``isSymlink`` is set (a dangling one keeps ``FILE_TYPE_SYMLINK``)."""
    kind = entry.get("type")
    is_symlink = kind == "symlink"
    if is_symlink and entry.get("target_type") in ("file", "dir"):
        kind = entry["target_type"]
    info: Message = {
        "name": _text(entry.get("name")),
        "type": FILE_TYPES.get(kind, "FILE_TYPE_UNSPECIFIED"),  # type: ignore[arg-type]
        "path": _text(entry.get("path")),
    }
    if size := _int(entry.get("size")):
        info["size"] = str(size)
    if mode := _int(entry.get("mode")) & 0o7777 | (0o20000000000 if kind == "dir" else 0):
        info["mode"] = mode
    for key, name in (("permissions", "permissions"), ("owner", "owner"), ("group", "group")):
        if value := _text(entry.get(key), 256):
            info[name] = value
    if modified := _text(entry.get("modified_time"), 64):
        info["modifiedTime"] = modified.replace("+00:00", "Z")
    if is_symlink:
        info["symlinkTarget"] = _text(entry.get("symlink_target"))
        info["isSymlink"] = True
    metadata = entry.get("metadata")
    if isinstance(metadata, dict) and metadata:
        info["metadata"] = {
            _text(k, 256): _text(v) for k, v in list(metadata.items())[:256] if isinstance(v, str)
        }
    return info


def write_info(entry: dict[str, Any]) -> Message:
    """An item of the ``POST /files`` answer."""
    info: Message = {
        "name": _text(entry.get("name")),
        "type": HTTP_FILE_TYPES.get(entry.get("type"), "file"),  # type: ignore[arg-type]
        "path": _text(entry.get("path")),
    }
    if metadata := entry_info(entry).get("metadata"):
        info["metadata"] = metadata
    return info


def b64(data: str) -> str:
    """Process output (the service hands it over as text) as ProtoJSON bytes."""
    return base64.b64encode(data.encode("utf-8", "surrogateescape")).decode()
