"""The files of template builds: archives uploaded by clients (our CLI and SDK, E2B's Template
SDK), kept by the hash the client names them by, and the part of one a COPY step takes.

An archive is a tar (gzip or not) of paths relative to the build context. It is never unpacked
on the host: a COPY step's sources are read from it member by member (files, folders, links as
links; a member whose name is absolute or climbs with ``..``, or a device, is refused) into a
new tar that the build sandbox unpacks with its own ``tar``, inside the jail, where every path
resolves in the sandbox's own file system.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import re
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

from interpreter.core.errors import BuildFilesNotFoundError, InvalidRequestError

HASH = re.compile(r"^[0-9a-f]{64}$")
# Who owns what a COPY unpacks: names (looked up in the sandbox's /etc/passwd by its tar) and the
# ids used when a name is empty or unknown there.
Owner = tuple[str, str, int, int]


def owner_of(chown: str) -> Owner:
    """``user``, ``user:group``, ``uid:gid`` (Docker's --chown) as tar's owner fields."""
    user, _, group = chown.partition(":")
    group = group or user
    for part in (user, group):
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}|[0-9]{1,9}", part):
            raise InvalidRequestError(f"COPY: {chown!r} is not an owner (user[:group])")
    uid, gid = (int(p) if p.isdigit() else 0 for p in (user, group))
    return ("" if user.isdigit() else user, "" if group.isdigit() else group, uid, gid)


class BuildFiles:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def path(self, files_hash: str) -> Path:
        if not HASH.match(files_hash):
            raise InvalidRequestError(f"{files_hash!r} is not a files hash (64 hex digits)")
        return self.folder / f"{files_hash}.tar"

    def has(self, files_hash: str) -> bool:
        return self.path(files_hash).is_file()

    async def put(self, files_hash: str, chunks: AsyncIterator[bytes]) -> int:
        """Keep an uploaded archive (written aside, then renamed: a broken upload leaves
        nothing); its size."""
        target = self.path(files_hash)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.{id(chunks)}.partial")
        size = 0
        try:
            with open(partial, "xb") as file:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise InvalidRequestError(
                            f"the build files are larger than {self.max_bytes >> 20} MiB"
                        )
                    file.write(chunk)
            _check_archive(partial)
            partial.rename(target)
        finally:
            partial.unlink(missing_ok=True)
        return size

    def select(
        self, files_hash: str, src: str, dest: str, out: Path, owner: Owner, mode: int | None
    ) -> tuple[str, str]:
        """Write to ``out`` a tar of the archive's ``src`` (a file, a folder's contents, or a
        glob's matches), named as they land in the folder returned with the hash of what was
        selected (names, modes, contents, link targets): Docker's COPY rules (a file to a
        ``dest`` not ending in / is renamed to it)."""
        archive = self.path(files_hash)
        if not archive.is_file():
            raise BuildFilesNotFoundError(
                f"the files {files_hash} of a COPY step were not uploaded"
            )
        src = posixpath.normpath(src)
        digest = hashlib.sha256()
        found = 0
        with tarfile.open(archive, "r:*") as tar, tarfile.open(out, "w") as selected:
            members = [m for m in tar.getmembers() if _name(m) is not None]
            is_glob = any(c in src for c in "*?[")
            is_dir = (
                src == "."
                or any(_name(m) == src and m.isdir() for m in members)
                or any((_name(m) or "").startswith(src + "/") for m in members)
            )
            for member in members:
                name = _name(member)
                assert name is not None
                if is_glob:
                    if not fnmatch.fnmatchcase(name, src) and not any(
                        fnmatch.fnmatchcase(p, src) for p in _parents(name)
                    ):
                        continue
                    top = next(p for p in [*_parents(name), name] if fnmatch.fnmatchcase(p, src))
                    landed = posixpath.join(posixpath.basename(top), posixpath.relpath(name, top))
                elif is_dir:
                    if src == ".":
                        landed = name
                    elif name == src:
                        continue  # the folder itself: its contents land in dest
                    elif name.startswith(src + "/"):
                        landed = name[len(src) + 1 :]
                    else:
                        continue
                elif name == src:
                    landed = (
                        posixpath.basename(dest.rstrip("/"))
                        if not dest.endswith("/")
                        else (posixpath.basename(name))
                    )
                else:
                    continue
                landed = posixpath.normpath(landed)
                if landed == ".":
                    continue
                found += 1
                copy = tarfile.TarInfo(landed)
                copy.type, copy.mode, copy.size = member.type, member.mode & 0o7777, member.size
                copy.linkname, copy.mtime = member.linkname, member.mtime
                if member.islnk():  # a hard link to another member: copied as a file
                    copy.type, copy.linkname = tarfile.REGTYPE, ""
                    try:
                        copy.size = tar.getmember(member.linkname).size
                    except KeyError:
                        raise InvalidRequestError(f"COPY: {name!r} links to no file") from None
                copy.uname, copy.gname, copy.uid, copy.gid = owner
                if mode is not None and not copy.issym():
                    copy.mode = mode
                digest.update(f"{landed}\0{copy.type!r}\0{copy.mode}\0{copy.linkname}\0".encode())
                content = tar.extractfile(member) if member.isfile() or member.islnk() else None
                if content is not None:
                    selected.addfile(copy, _Hashing(content, digest))
                else:
                    selected.addfile(copy)
        if not found:
            raise InvalidRequestError(f"COPY: {src!r} is not in the uploaded build files")
        single_file = not is_glob and not is_dir
        into = posixpath.dirname(dest) or "/" if single_file and not dest.endswith("/") else dest
        return digest.hexdigest(), into


def _name(member: tarfile.TarInfo) -> str | None:
    """A member's name inside the context, or None if it is not one we copy."""
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return None
    # Only a "./" prefix goes: lstrip("./") would also eat a dot-file's own dot (.env).
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    name = posixpath.normpath(name or ".")
    if member.name.startswith("/") or name == ".." or name.startswith("../") or name == ".":
        return None
    return name


def _parents(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _check_archive(path: Path) -> None:
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = member.name
                if name.startswith("/") or ".." in name.split("/"):
                    raise InvalidRequestError(f"the build files hold {name!r}: outside the context")
                if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                    raise InvalidRequestError(f"the build files hold {name!r}: not a file")
    except tarfile.TarError as exc:
        raise InvalidRequestError(f"the build files are not a tar archive: {exc}") from None


class _Hashing:
    """A member's content as tarfile reads it, hashed on the way."""

    def __init__(self, file: object, digest: hashlib._Hash) -> None:
        self.file, self.digest = file, digest

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.file.read(size)  # type: ignore[attr-defined]
        self.digest.update(data)
        return data
