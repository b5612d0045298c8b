"""`interpreter sandbox cp`: files and folders between here and a sandbox, streamed both ways
(memory stays bounded whatever their size). ``ID:/path`` names a path in a sandbox, as scp and
docker cp do: a ``:`` with no ``/`` before it."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from interpreter.core.errors import InterpreterError
from interpreter_sdk import Sandbox

MAX_DEPTH = 32  # the files API's deepest listing
Copied = list[tuple[str, str]]


def remote_of(spec: str) -> tuple[str, str] | None:
    """(sandbox id, path) of ``ID:/path``; None for a local path."""
    head, sep, path = spec.partition(":")
    if not sep or not head or "/" in head:
        return None
    return head, path or "/home/user"


def upload(sandbox: Sandbox, source: Path, target: str) -> Copied:
    if not source.exists():
        raise InterpreterError(f"{source}: no such file or folder")
    if target.endswith("/") or _is_dir(sandbox, target):
        target = posixpath.join(target, source.name)
    if source.is_file():
        with source.open("rb") as file:
            sandbox.files.write(target, file)
        return [(str(source), target)]
    copied: Copied = []
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.is_symlink():
            remote = posixpath.join(target, *path.relative_to(source).parts)
            with path.open("rb") as file:
                sandbox.files.write(remote, file)
            copied.append((str(path), remote))
    if not copied:
        sandbox.files.make_dir(target)
    return copied


def download(sandbox: Sandbox, source: str, target: Path) -> Copied:
    info = sandbox.files.get_info(source)  # NotFoundError: one line from main
    if info.type == "file":
        if target.is_dir():
            target = target / posixpath.basename(info.path)
        _fetch(sandbox, info.path, target)
        return [(info.path, str(target))]
    if target.exists():
        target = target / posixpath.basename(info.path.rstrip("/"))
    target.mkdir(parents=True, exist_ok=True)
    copied: Copied = []
    for entry in sandbox.files.list(info.path, depth=MAX_DEPTH):
        local = _local_path(target, info.path, entry.path)
        if entry.type == "dir":
            local.mkdir(parents=True, exist_ok=True)
        elif entry.type == "file":
            _fetch(sandbox, entry.path, local)
            copied.append((entry.path, str(local)))
    return copied


def _is_dir(sandbox: Sandbox, path: str) -> bool:
    return sandbox.files.exists(path) and sandbox.files.get_info(path).type == "dir"


def _local_path(target: Path, root: str, path: str) -> Path:
    """Where a listed entry goes: under ``target`` and nowhere else, whatever path the
    sandbox's listing gives (its agent is the sandbox's, and may lie)."""
    relative = posixpath.relpath(path, root)
    parts = relative.split("/")
    if posixpath.isabs(relative) or ".." in parts or not path.startswith(root.rstrip("/") + "/"):
        raise InterpreterError(f"the sandbox listed {path!r} outside {root!r}: not copied")
    return target.joinpath(*parts)


def _fetch(sandbox: Sandbox, path: str, local: Path) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    # Never through a link already there (or one the copy itself made): a new file or the old.
    fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as file:
        for chunk in sandbox.files.read_stream(path):
            file.write(chunk)
