"""Image (template) builds: a Debian root filesystem plus our kernel start-up layer.

An image is a stack of read-only layers mounted with overlayfs under each sandbox:

- ``base``: ``debootstrap`` of Debian bookworm, then ``images/<name>/setup.sh`` in a chroot
  (user ``user``, the Python environment from ``requirements.txt``). Slow (minutes): cached by a
  hash of the ``images/<name>/`` folder.
- ``kernels``: the repository's ``sandbox/`` folder (everything of ours that runs inside: the
  supervisor, the gateway launcher, kernelspecs, the agent) copied to ``/opt/interpreter``.
  Cheap: cached by its own hash, so editing start-up code does not re-run debootstrap.

Templates built from a Dockerfile (or E2B's Template SDK) add a layer per RUN or COPY step
between the two: ``HOME/layers/<key>``, the upper layer a build sandbox left, keyed by a hash of
its parent's key and the step (``service/builder.py``). They stay below ``kernels``: a change to our
start-up code does not invalidate any of them.

Every file is owned by an id shifted into the sandbox's user-namespace range (``ID_SHIFT``), as
rootless container engines do: root inside owns ``/usr``, ``user`` owns ``/home/user``, and no
file is owned by a real host user.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from interpreter.core.config import REPO_ROOT, Settings
from interpreter.core.errors import ImageBuildError, TemplateNotFoundError
from interpreter.core.sandbox_fs import remove_tree

log = logging.getLogger(__name__)

ID_SHIFT = 100_000  # inside id N is host id ID_SHIFT + N
IMAGES_SRC = REPO_ROOT / "images"
SANDBOX_SRC = REPO_ROOT / "sandbox"


@dataclass(frozen=True)
class Image:
    name: str
    layers: tuple[Path, ...]  # top first, as overlayfs lowerdir wants them


def tree_hash(*folders: Path) -> str:
    """A digest of the folders' files (names, modes, contents). Every create resolves its
    template's image by it: the digest is kept per listing of the files (inode, size, times),
    so a create stats ~20 files instead of reading and hashing them (~0.7 ms; issue 19), and
    an edited source still gets its own image."""
    files = []
    for folder in folders:
        found = []
        for top, dirs, names in os.walk(folder):  # as Path.rglob: no symlinked folder entered
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            found += [Path(top, name) for name in names]
        for path in sorted(found):
            try:
                info = path.stat()  # through a link, as read_bytes below
            except OSError:
                continue  # a dangling link, a loop of links: no file
            if stat.S_ISREG(info.st_mode):
                seen = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                files.append((folder, path, info.st_mode & 0o777, seen))
    listing = tuple((str(path), mode, *seen) for _, path, mode, seen in files)
    kept = _TREE_HASHES.get(folders)
    if kept is not None and kept[0] == listing:
        return kept[1]
    digest = hashlib.sha256()
    for folder, path, mode, _ in files:
        digest.update(str(path.relative_to(folder.parent)).encode())
        digest.update(oct(mode).encode())
        digest.update(path.read_bytes())
    _TREE_HASHES[folders] = (listing, digest.hexdigest()[:16])
    return _TREE_HASHES[folders][1]


# The folders' last listing and its digest (one entry per set of folders: an edit replaces it).
_TREE_HASHES: dict[tuple[Path, ...], tuple[tuple[object, ...], str]] = {}


def template_names() -> list[str]:
    return sorted(p.name for p in IMAGES_SRC.iterdir() if (p / "setup.sh").is_file())


def resolve(settings: Settings, name: str) -> Image:
    """The built image of a template; raises if it was never built."""
    src = IMAGES_SRC / name
    if not (src / "setup.sh").is_file():
        raise TemplateNotFoundError(f"unknown template {name!r}; known: {template_names()}")
    base = _layer_path(settings, name, "base", tree_hash(src))
    kernels = _layer_path(settings, name, "kernels", tree_hash(SANDBOX_SRC))
    for layer in (base, kernels):
        if not (layer / ".complete").exists():
            raise TemplateNotFoundError(
                f"template {name!r} is not built: run `interpreter template build {name}`"
            )
    return Image(name, (kernels / "rootfs", base / "rootfs"))


def build(settings: Settings, name: str, console: Console | None = None) -> Image:
    """Build (or reuse) every layer of a template, showing progress."""
    src = IMAGES_SRC / name
    if not (src / "setup.sh").is_file():
        raise TemplateNotFoundError(f"unknown template {name!r}; known: {template_names()}")
    console = console or Console(stderr=True)
    base = _layer_path(settings, name, "base", tree_hash(src))
    kernels = _layer_path(settings, name, "kernels", tree_hash(SANDBOX_SRC))
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        for layer, label, make in (
            (
                base,
                "base: debootstrap + setup.sh",
                lambda root: _build_base(settings, src, root, progress),
            ),
            (kernels, "kernels: start-up code", _build_kernels),
        ):
            if (layer / ".complete").exists():
                console.print(f"[green]✓[/] {name} {label} (cached: {layer.name})")
                continue
            task = progress.add_task(f"{name} {label}", total=None)
            started = time.monotonic()
            _build_layer(layer, make)
            progress.update(task, description=f"{name} {label} ✓", completed=1, total=1)
            console.print(f"[green]✓[/] {name} {label} built in {time.monotonic() - started:.0f} s")
    _prune(settings, name, keep={base.name, kernels.name})
    return resolve(settings, name)


def built(base: Image, name: str, layer_dirs: list[Path]) -> Image:
    """The image of a template built on ``base``: its step layers (bottom first) between the
    base's start-up layer and its file system."""
    top, *rest = base.layers
    return Image(name, (top, *[d / "rootfs" for d in reversed(layer_dirs)], *rest))


def step_layer(settings: Settings, key: str) -> Path:
    """Where a build step's layer is kept: in the state folder, with the records of the
    templates that use it (the images folder may be shared by several services)."""
    return settings.home / "layers" / key


def step_layer_ready(settings: Settings, key: str) -> bool:
    return (step_layer(settings, key) / ".complete").exists()


def capture_layer(settings: Settings, upper: Path, key: str) -> None:
    """Keep what a build step wrote (the upper layer of its stopped sandbox) as layer ``key``.
    ``cp -a`` copies links as links and keeps owners (already the sandbox's shifted ids),
    modes, xattrs (overlayfs' opaque marks) and whiteouts. What the sandbox's own start-up code
    left (byte code under /opt/interpreter) is not the step's."""
    layer = step_layer(settings, key)
    partial = layer.with_name(layer.name + ".partial")
    remove_tree(partial)
    partial.mkdir(parents=True)
    try:
        result = subprocess.run(
            ["cp", "-a", "--reflink=auto", "--", str(upper), str(partial / "rootfs")],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise ImageBuildError(f"could not keep the step's layer: {result.stderr[-500:]}")
        # Only through a real folder: the step may have made /opt a link (to a host path, as
        # the host resolves it), and the removal would follow it.
        opt = partial / "rootfs" / "opt"
        if not opt.is_symlink() and opt.is_dir():
            remove_tree(opt / "interpreter")
        (partial / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
        remove_tree(layer)  # a stale incomplete one
        partial.rename(layer)
    except BaseException:
        remove_tree(partial)
        raise


def remove_step_layers(settings: Settings, keep: set[str]) -> list[str]:
    """Remove the step layers not in ``keep`` and not mounted; their keys."""
    folder = settings.home / "layers"
    if not folder.is_dir():
        return []
    in_use, removed = _layers_in_use(), []
    for layer in folder.iterdir():
        if layer.name not in keep and f"{layer}/rootfs" not in in_use:
            remove_tree(layer)
            removed.append(layer.name)
    return removed


def _layer_path(settings: Settings, name: str, kind: str, digest: str) -> Path:
    return settings.images_path / name / f"{kind}-{digest}"


def _build_layer(layer: Path, make: Callable[[Path], None]) -> None:
    partial = layer.with_name(layer.name + ".partial")
    if partial.exists():
        _remove_tree(partial)
    (partial / "rootfs").mkdir(parents=True)
    try:
        make(partial / "rootfs")
        _shift_ownership(partial / "rootfs")
        (partial / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
        partial.rename(layer)
    except BaseException:
        _remove_tree(partial)
        raise


def _run(argv: list[str], progress: Progress, label: str) -> None:
    task = progress.add_task(f"  {label}", total=None)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line:
            tail = (tail + [line])[-20:]
            progress.update(task, description=f"  {label}: {line[:70]}")
    if proc.wait() != 0:
        raise ImageBuildError(f"{label} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    progress.update(task, visible=False)


def _build_base(settings: Settings, src: Path, root: Path, progress: Progress) -> None:
    packages = [
        line.strip()
        for line in (src / "packages.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    include = ["--include=" + ",".join(packages)] if packages else []
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            *include,
            "bookworm",
            str(root),
            settings.debian_mirror,
        ],
        progress,
        "debootstrap",
    )
    shutil.copytree(src, root / "tmp/image")
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # Wheels are fetched by the host's pip (its index and TLS settings), installed offline inside,
    # chosen for the image's Python version (Debian's), not the host's.
    version = subprocess.run(
        ["chroot", str(root), "python3", "-c", "import platform; print(platform.python_version())"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    _run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
         "--python-version", version,
         "-r", str(src / "requirements.txt"), "-d", str(root / "tmp/image/wheels")],
        progress,
        "pip download",
    )  # fmt: skip
    # A /dev of its own for setup.sh (a tmpfs with the usual nodes), never the host's: what the
    # script does to /dev (e.g. replacing /dev/ptmx) must not reach the host's.
    with (
        _mounted(root / "proc", "proc", "-t", "proc"),
        _mounted(root / "dev", "tmpfs", "-t", "tmpfs", "-o", "mode=0755,size=16m"),
    ):
        for name, (major, minor) in BUILD_DEVICES.items():
            os.mknod(root / "dev" / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        _run(["chroot", str(root), "/bin/sh", "/tmp/image/setup.sh"], progress, "setup.sh")
    _jail_dev(root / "dev")
    shutil.rmtree(root / "tmp/image")
    (root / "etc/resolv.conf").write_text("nameserver 127.0.0.1\n")


BUILD_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                 "urandom": (1, 9), "tty": (5, 0), "ptmx": (5, 2)}  # fmt: skip


def _jail_dev(dev: Path) -> None:
    """The image's /dev as the jail wants it: targets for the device nodes it bind-mounts
    from the host, and /dev/ptmx leading to the jail's own devpts instance."""
    for name in BUILD_DEVICES:
        if name != "ptmx" and not os.path.lexists(dev / name):
            (dev / name).touch()
    (dev / "pts").mkdir(exist_ok=True)
    if os.path.lexists(dev / "ptmx"):
        (dev / "ptmx").unlink()
    (dev / "ptmx").symlink_to("pts/ptmx")


def _build_kernels(root: Path) -> None:
    target = root / "opt/interpreter"
    target.parent.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(SANDBOX_SRC, target, ignore=ignore)
    for path in [target, *target.rglob("*")]:
        executable = path.is_dir() or path.parent.name == "bin"
        path.chmod(0o755 if executable else 0o644)
    # sudo asks the agent (no_new_privs: setuid sudo raises no one; sandbox/agent/sudo.py). On
    # top of every template: this layer is the overlay's uppermost lower layer.
    (root / "usr/bin").mkdir(parents=True)
    os.chmod(root / "usr", 0o755)
    os.chmod(root / "usr/bin", 0o755)
    (root / "usr/bin/sudo").symlink_to("/opt/interpreter/bin/sudo")


@contextmanager
def _mounted(target: Path, source: str, *options: str) -> Iterator[None]:
    subprocess.run(["mount", *options, source, str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def _shift_ownership(root: Path) -> None:
    """Move every owner into the sandbox's id range, keeping setuid/setgid bits."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            if st.st_uid >= ID_SHIFT:
                continue
            os.lchown(path, st.st_uid + ID_SHIFT, st.st_gid + ID_SHIFT)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode))


def _remove_tree(path: Path) -> None:
    for sub in ("proc", "dev"):
        subprocess.run(
            ["umount", "-l", str(path / "rootfs" / sub)], check=False, capture_output=True
        )
    shutil.rmtree(path, ignore_errors=True)


KEEP_RECENT_LAYERS = 6


def _prune(settings: Settings, name: str, keep: set[str]) -> None:
    """Drop layers of older definitions that no sandbox folder refers to any more."""
    folder = settings.images_path / name
    in_use = _layers_in_use()
    # The newest few stay too: another checkout (or a test run) may be about to mount them.
    by_age = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    keep = keep | {layer.name for layer in by_age[:KEEP_RECENT_LAYERS]}
    for layer in folder.iterdir():
        if layer.name not in keep and str(layer) not in in_use:
            log.info("removing stale image layer %s", layer)
            _remove_tree(layer)


def _layers_in_use() -> str:
    try:
        return Path("/proc/mounts").read_text()
    except OSError:
        return ""
