"""Templates: build one from a Dockerfile and a context folder, list, get, tag, delete.

    from interpreter_sdk import Templates
    info = Templates().build("my-app", "Dockerfile", context=".", on_log=print)
    Sandbox.create(template="my-app")

The context is sent as one tar (sorted, without owners: an unchanged context has the same hash
and is not uploaded again). Links inside it are sent as links; a
link that points out of it, ``..`` in a path, or anything but files, folders and links, is
refused here, before anything is sent. ``.dockerignore`` patterns (and ``.git``) are left out.
"""

from __future__ import annotations

import builtins
import fnmatch
import hashlib
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

from interpreter_sdk._base import ConnectionConfig, check
from interpreter_sdk._errors import ConnectionError, InvalidRequestError, TemplateBuildError


@dataclass(frozen=True)
class BuildLogEntry:
    timestamp: datetime
    level: str
    message: str
    step: str | None = None


@dataclass(frozen=True)
class BuildInfo:
    id: str
    template: str
    status: str  # waiting, building, ready, error
    created_at: datetime
    finished_at: datetime | None = None
    built_steps: int = 0
    cached_steps: int = 0
    error: str | None = None  # why it failed
    error_step: str | None = None  # where: "base", a step's number, "finalize"

    @classmethod
    def of(cls, data: dict[str, Any]) -> BuildInfo:
        reason = data.get("reason") or {}
        return cls(
            id=data["id"],
            template=data["template"],
            status=data["status"],
            created_at=datetime.fromisoformat(data["created_at"]),
            finished_at=datetime.fromisoformat(data["finished_at"])
            if data.get("finished_at")
            else None,
            built_steps=data.get("built_steps", 0),
            cached_steps=data.get("cached_steps", 0),
            error=reason.get("message"),
            error_step=reason.get("step"),
        )


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    builtin: bool
    build_id: str | None = None
    status: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, data: dict[str, Any]) -> TemplateInfo:
        return cls(
            data["name"], data["builtin"], data.get("build_id"), data.get("status"),
            data.get("tags") or {},
        )  # fmt: skip


class Templates:
    """The server's templates. ``api_url`` / ``api_key`` default to ``INTERPRETER_API_URL`` /
    ``INTERPRETER_API_KEY``."""

    def __init__(self, api_url: str | None = None, api_key: str | None = None) -> None:
        self._config = ConnectionConfig.resolve(api_url, api_key)
        self._http = httpx.Client(**self._config.client_options())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Templates:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(
        self,
        name: str,
        dockerfile: str | os.PathLike[str] = "Dockerfile",
        context: str | os.PathLike[str] | None = None,
        *,
        start_cmd: str | None = None,
        ready_cmd: str | None = None,
        ready_timeout: int | None = None,
        cpu: float | None = None,
        memory_mb: int | None = None,
        build_args: dict[str, str] | None = None,
        on_log: Callable[[BuildLogEntry], Any] | None = None,
        wait: bool = True,
    ) -> BuildInfo:
        """Build template ``name`` from a Dockerfile (a path, or its text if no such file)
        and the ``context`` folder its COPY instructions read (default: the Dockerfile's
        folder). Waits for the build and raises ``TemplateBuildError`` if it fails, unless
        ``wait=False``; ``on_log`` gets each log entry as it is written."""
        path = Path(dockerfile)
        text = path.read_text() if path.is_file() else str(dockerfile)
        folder = Path(context) if context is not None else (path.parent if path.is_file() else None)
        body: dict[str, Any] = {"name": name, "dockerfile": text}
        if folder is not None:
            body["files_hash"] = self.upload_context(folder)
        for key, value in (
            ("start_cmd", start_cmd), ("ready_cmd", ready_cmd), ("ready_timeout", ready_timeout),
            ("cpu", cpu), ("memory_mb", memory_mb), ("build_args", build_args),
        ):  # fmt: skip
            if value is not None:
                body[key] = value
        build = BuildInfo.of(check(self._http.post("/templates", json=body)))
        if not wait:
            return build
        for entry in self.follow(name, build.id):
            if on_log is not None:
                on_log(entry)
        build = self.build_status(name, build.id)
        if build.status != "ready":
            where = f" (step {build.error_step})" if build.error_step else ""
            raise TemplateBuildError(
                f"build of {name!r} failed{where}: {build.error}", build.error_step
            )
        return build

    def upload_context(self, folder: str | os.PathLike[str]) -> str:
        """Send a context folder (unless the server has it already); its hash."""
        with tempfile.TemporaryFile() as archive:
            digest = pack(Path(folder), archive)
            present = check(self._http.get(f"/templates/files/{digest}"))["present"]
            if not present:
                archive.seek(0)
                check(self._http.put(f"/templates/files/{digest}", content=_chunks(archive)))
        return digest

    def follow(self, name: str, build_id: str, offset: int = 0) -> Iterator[BuildLogEntry]:
        """A build's log entries as they are written, until it ends."""
        params: dict[str, str | int] = {"offset": offset, "follow": "true"}
        url = f"/templates/{name}/builds/{build_id}/logs"
        try:
            with self._http.stream("GET", url, params=params, timeout=None) as response:
                if not response.is_success:
                    response.read()
                    check(response)
                for line in response.iter_lines():
                    item = json.loads(line) if line.strip() else {}
                    if item.get("type") == "log":
                        yield BuildLogEntry(
                            datetime.fromisoformat(item["timestamp"]), item["level"],
                            item["message"], item.get("step"),
                        )  # fmt: skip
        except httpx.TransportError as exc:
            raise ConnectionError(f"the build's log stream broke: {exc}") from exc

    def build_status(self, name: str, build_id: str) -> BuildInfo:
        return BuildInfo.of(check(self._http.get(f"/templates/{name}/builds/{build_id}")))

    def list(self) -> builtins.list[TemplateInfo]:
        return [TemplateInfo.of(t) for t in check(self._http.get("/templates"))]

    def get(self, name: str) -> TemplateInfo:
        return TemplateInfo.of(check(self._http.get(f"/templates/{name}")))

    def delete(self, name: str) -> None:
        """Delete a template built here (ConflictError while it has sandboxes)."""
        check(self._http.delete(f"/templates/{name}"))

    def tag(self, name: str, tags: builtins.list[str], build_id: str | None = None) -> TemplateInfo:
        """Name a build (default: the ready one): ``Sandbox.create(template="name:tag")``."""
        body: dict[str, Any] = {"tags": tags}
        if build_id is not None:
            body["build_id"] = build_id
        return TemplateInfo.of(check(self._http.post(f"/templates/{name}/tags", json=body)))


def pack(folder: Path, out: IO[bytes]) -> str:
    """A deterministic tar of ``folder`` into ``out``; the sha256 of its bytes."""
    root = folder.resolve()
    ignore = _ignore_patterns(root)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk(root, ignore):
            relative = path.relative_to(root).as_posix()
            info = tar.gettarinfo(str(path), arcname=relative)
            if info.issym():
                target = (path.parent / os.readlink(path)).resolve()
                if target != root and root not in target.parents:
                    raise InvalidRequestError(f"{relative} links out of the build context")
            elif not (info.isfile() or info.isdir()):
                raise InvalidRequestError(f"{relative} is not a file, folder or link")
            info.uid = info.gid = 0  # the COPY's owner is the build's to say
            info.uname = info.gname = ""
            if info.isfile():
                with open(path, "rb") as file:
                    tar.addfile(info, file)
            else:
                tar.addfile(info)
    out.flush()
    out.seek(0)
    digest = hashlib.sha256()
    while chunk := out.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _walk(root: Path, ignore: list[str]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):  # links to folders are not followed
        here = Path(dirpath)
        dirnames.sort()
        for name in [*dirnames, *sorted(filenames)]:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if any(fnmatch.fnmatch(relative, p) or relative.startswith(p.rstrip("/") + "/")
                   for p in ignore):  # fmt: skip
                if name in dirnames:
                    dirnames.remove(name)
                continue
            yield path


def _ignore_patterns(root: Path) -> list[str]:
    patterns = [".git"]
    ignore_file = root / ".dockerignore"
    if ignore_file.is_file():
        for line in ignore_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line.lstrip("/"))
    return patterns


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(1 << 20):
        yield chunk
