"""CRIU checkpoint/restore of a sandbox's jailed process tree: pause/resume, template snapshots.

Two verbs, both blocking (call them from a thread):

- ``dump(criu, jail_pid, images)``: checkpoint the whole tree under the jail's PID 1 (supervisor,
  agent, gateway, kernels, user processes) into the folder ``images``. By default the tree is
  gone afterwards (``leave_running=True`` keeps it running, e.g. for a template snapshot). On
  failure CRIU resumes the tree: it keeps running and ``CriuError`` carries CRIU's log tail.
- ``restore(criu, images, root, run_folder, cgroups)``: recreate that tree, detached (its parent
  becomes the host's init; nsjail no longer supervises it), with ``root`` as its filesystem root
  (the merged overlay of a sandbox, mounted) and ``run_folder`` bound at /run/sandbox (where the
  gateway's and agent's sockets are). Every restored task starts inside ``cgroups`` (CRIU
  is started in them, ``JOIN_CGROUPS``). Returns the host PID of the restored PID 1.

What it takes on this host (each learned from a failure, see kernels-and-jail.md): CRIU >= 4.2.1;
dump the jail's PID 1, not nsjail; a user namespace mapping root and a range; no cgroup
namespace, and ``--manage-cgroups=ignore`` at restore; ``--root`` at restore; host connections
into the sandbox (kernel websockets, agent HTTP) closed before the dump, reconnected after: a
connection from the host is a socket of the host's network namespace, which CRIU cannot dump,
so ``dump`` first waits (up to 3 s) until the sandbox has closed its side of them.

Speed (BENCHMARKS.md): CRIU copies pages inside the sandbox's own tasks, so a CPU quota on their
cgroups throttles dump and restore: lift it (``cpu.cfs_quota_us`` = -1) for the dump and create
the restore's cgroups without it, then set the sandbox's quota once ``restore`` returned (see
NsjailRuntime.pause/restore).

Reuse for a template snapshot (one checkpoint, many sandboxes):

    dump(settings.criu, process.jail_pid, snapshot / "images", leave_running=False)
    # and keep a copy of that sandbox's upper layer next to it; then per new sandbox:
    #   copy the upper layer, mount its overlay at <folder>/root, make <folder>/run, then
    pid = restore(settings.criu, snapshot / "images", folder / "root", folder / "run", cgroups,
                  work_dir=folder)   # logs in the sandbox's folder, images stay read-only

The run-folder bind mount is recorded under the key ``RUN_MOUNT_KEY`` (not by its host path), so
the images restore into any sandbox folder. Images are not modified by a restore and may be
restored several times, concurrently (each with its own root, run folder and work_dir).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from interpreter.core.errors import CheckpointError
from interpreter.core.files import read_tail

RUN_DIR_INSIDE = "/run/sandbox"
# Where our CRIU build (scripts/build-criu.sh: RUNDIR) caches its kernel probe; it keeps the cache
# only on a tmpfs, and it saves 50-100 ms per dump and per restore.
KDAT_DIR = Path("/run/interpreter-criu")
RUN_MOUNT_KEY = "sandbox-run"
# A process may hold open files that were deleted: CRIU copies them into the images up to this.
GHOST_LIMIT = str(256 << 20)
LOG_TAIL = 2500


class CriuError(CheckpointError):
    """CRIU failed; the message ends with the tail of its log."""


@dataclass(frozen=True)
class Dumped:
    seconds: float
    image_bytes: int


def dump(
    criu: Path,
    jail_pid: int,
    images: Path,
    *,
    leave_running: bool = False,
    work_dir: Path | None = None,
    timeout: float = 300.0,
    action_script: Path | None = None,
    external_mounts: Sequence[tuple[str, str]] = (),
    freeze_cgroup: Path | None = None,
) -> Dumped:
    """Checkpoint the tree whose root is ``jail_pid`` (host PID of the jail's PID 1) into the
    empty or missing folder ``images``; its log is ``dump.log`` in ``work_dir`` (default: the
    images folder). ``external_mounts``: more bind mounts from the host (volumes), each as
    (its path inside, the key ``restore`` is given its host folder under)."""
    images.mkdir(parents=True, exist_ok=True)
    work = work_dir or images
    _ensure_kdat_dir()
    if freeze_cgroup is None:  # a frozen tree's were closed before it was frozen
        await_host_sockets_closed(jail_pid)
    argv = [
        str(criu), "dump",
        "--tree", str(jail_pid),
        "--images-dir", str(images),
        "--work-dir", str(work),
        "--log-file", "dump.log",
        *_common_options(),
        # The run folder is a bind mount from the host: name it, so restore can rebind any folder.
        "--external", f"mnt[{RUN_DIR_INSIDE}]:{RUN_MOUNT_KEY}",
        "--ghost-limit", GHOST_LIMIT,
        # No iptables/nftables lock around the dump (~2 process starts each way): the sandbox's
        # network namespace has only loopback, and both ends of each connection are frozen.
        "--network-lock", "skip",
    ]  # fmt: skip
    for inside, key in external_mounts:
        argv += ["--external", f"mnt[{inside}]:{key}"]
    if leave_running:
        argv.append("--leave-running")
    if freeze_cgroup is not None:
        # The tree's freezer cgroup, frozen already: CRIU seizes its tasks as they are, and
        # leaves it frozen again when done (with leave_running; else the tasks are killed).
        argv += ["--freeze-cgroup", str(freeze_cgroup)]
    if action_script is not None:  # run at each stage; "post-dump": the tree is still frozen
        argv += ["--action-script", str(action_script)]
    started = time.monotonic()
    _run(argv, work / "dump.log", "checkpoint", timeout)
    seconds = time.monotonic() - started
    size = sum(f.stat().st_size for f in images.iterdir() if f.is_file())
    return Dumped(seconds, size)


def restore(
    criu: Path,
    images: Path,
    root: Path,
    run_folder: Path,
    cgroups: Sequence[Path] = (),
    *,
    fresh_network: bool = False,
    work_dir: Path | None = None,
    timeout: float = 300.0,
    external_mounts: Sequence[tuple[str, Path]] = (),
) -> int:
    """Restore the tree in ``images`` with ``root`` as its root filesystem and ``run_folder``
    bound at /run/sandbox; returns the host PID of its PID 1. ``cgroups``: cgroup v1 folders
    (one per controller) the tree is restored into. Logs go to ``work_dir`` (default: images).

    ``fresh_network``: give the tree a new network namespace with loopback up instead of the
    dumped one's addresses, routes and rules (our CRIU patch; ~25 ms less). Only for a tree
    dumped in such a namespace, e.g. a template snapshot: code in a paused sandbox may have
    configured its own. ``external_mounts``: (key, host folder) of the bind mounts ``dump``
    was told of."""
    if not (images / "inventory.img").is_file():
        raise CriuError(f"no checkpoint in {images} (inventory.img is missing)")
    work = work_dir or images
    work.mkdir(parents=True, exist_ok=True)
    pidfile = work / "restored.pid"
    pidfile.unlink(missing_ok=True)
    _ensure_kdat_dir()
    argv = [
        str(criu), "restore",
        "--restore-detached",
        "--images-dir", str(images),
        "--work-dir", str(work),
        "--log-file", "restore.log",
        "--root", str(root),
        *_common_options(),
        "--external", f"mnt[{RUN_MOUNT_KEY}]:{run_folder}",
        "--manage-cgroups=ignore",
        "--pidfile", str(pidfile),
    ]  # fmt: skip
    for key, host in external_mounts:  # (key given at dump, host folder bound there)
        argv += ["--external", f"mnt[{key}]:{host}"]
    if fresh_network:
        argv += ["--empty-ns", "net", "--network-lock", "skip"]
    _run(argv, work / "restore.log", "restore", timeout, cgroups=cgroups)
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError) as exc:
        raise CriuError(f"CRIU restored the sandbox but wrote no pid file: {exc}") from exc


def same_network(images: Path, reference: Path) -> bool:
    """Whether the network namespace dumped in ``images`` is the one dumped in ``reference``
    (e.g. a fresh sandbox's): same files, same links and sysctls, same addresses, routes and
    rules, no firewall rules. Then ``restore(..., fresh_network=True)`` gives it back exactly.

    Addresses and rules are ``ip ... save`` dumps (a 4-byte magic, then netlink messages); they
    are compared without what differs between two dumps of one state (sequence numbers, sender
    ports, address lifetimes)."""
    try:
        mine, theirs = _network_images(images), _network_images(reference)
        if mine is None or theirs is None or mine.keys() != theirs.keys():
            return False
        for kind, path in mine.items():
            a, b = path.read_bytes(), theirs[kind].read_bytes()
            if kind in ("ifaddr", "rule"):
                state = _netlink_state(a)
                if state is None or state != _netlink_state(b):
                    return False
            elif a != b:
                return False
    except OSError:  # e.g. the reference was replaced by a newer snapshot meanwhile
        return False
    return True


# The images CRIU 4.2 writes for a network namespace, "<kind>-<namespace id>.img".
NETWORK_IMAGES = ("netns", "netdev", "ifaddr", "route", "route6", "rule", "iptables",
                  "ip6tables", "nftables", "netns-ct", "netns-exp")  # fmt: skip


def _network_images(images: Path) -> dict[str, Path] | None:
    """The images of the tree's one network namespace by kind (``ifaddr``, ``rule``, ...)."""
    netns = [p for p in images.glob("netns-*.img") if p.name.removeprefix("netns-")[:-4].isdigit()]
    if len(netns) != 1:
        return None  # none, or several namespaces: not a sandbox's plain one
    suffix = netns[0].name.removeprefix("netns")  # "-<namespace id>.img"
    found = {kind: images / f"{kind}{suffix}" for kind in NETWORK_IMAGES}
    return {kind: path for kind, path in found.items() if path.exists()}


IFA_CACHEINFO = 6  # an address's lifetimes and timestamps


def _netlink_state(dump: bytes) -> list[bytes] | None:
    messages, offset = [], 4  # after iproute2's magic
    while offset + 16 <= len(dump):
        length, kind, flags = struct.unpack_from("=IHH", dump, offset)
        if length < 16 or offset + length > len(dump):
            return None
        body = dump[offset + 16 : offset + length]  # without seq and pid
        if kind == 20:  # RTM_NEWADDR: an 8-byte ifaddrmsg, then attributes
            body = body[:8] + b"".join(
                attr for attr_kind, attr in _attributes(body[8:]) if attr_kind != IFA_CACHEINFO
            )
        messages.append(struct.pack("=HH", kind, flags) + body)
        offset += (length + 3) & ~3
    return messages if offset == len(dump) else None


def _attributes(data: bytes) -> list[tuple[int, bytes]]:
    attributes, offset = [], 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        attributes.append((kind, data[offset : offset + ((length + 3) & ~3)]))
        offset += (length + 3) & ~3
    return attributes


def version(criu: Path) -> str:
    """CRIU's version, or CriuError if it is missing or broken."""
    try:
        out = subprocess.run(
            [str(criu), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise CriuError(
            f"CRIU is not usable at {criu} ({exc}): run scripts/setup.sh (it builds CRIU >= "
            "4.2.1) or set INTERPRETER_CRIU"
        ) from exc
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return out.strip()


def await_host_sockets_closed(jail_pid: int, timeout: float = 3.0) -> None:
    """Wait until no process of the tree holds a unix socket of the host's network namespace.

    A connection from the host (kernel websocket, agent HTTP) is accepted inside the sandbox as a
    socket of the *host's* namespace, which CRIU cannot dump ("Unix socket ... not found"). The
    caller closed its end; this waits for the sandbox's side to notice and close its own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            host = {line.split()[6] for line in Path("/proc/net/unix").read_text().splitlines()[1:]}
        except (OSError, IndexError):
            return
        if not any(inode in host for inode in _socket_inodes(_tree(jail_pid))):
            return
        time.sleep(0.005)


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                todo += map(int, Path(f"/proc/{current}/task/{task}/children").read_text().split())
            except OSError:
                pass
    return pids


def _socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _ensure_kdat_dir() -> None:
    if os.path.ismount(KDAT_DIR):
        return
    try:
        KDAT_DIR.mkdir(mode=0o700, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "interpreter-criu", str(KDAT_DIR)],
            capture_output=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        pass  # CRIU then probes the kernel on every run: slower, not wrong


def _common_options() -> list[str]:
    return [
        # Bind mounts from the host (/dev/null, ...) come back from the same host paths.
        "--ext-mount-map", "auto",
        "--enable-external-masters",
        # Kernels talk ZMQ over TCP on the sandbox's own loopback: keep those connections.
        "--tcp-established",
        "--skip-in-flight",
        "--file-locks",
        "-v2",
    ]  # fmt: skip


# Joins the cgroup.procs files named by its arguments (their count first), then becomes the rest
# of its arguments (exec keeps the PID): CRIU and every task it forks start in those cgroups.
# Not a preexec_fn: with one, subprocess fork()s the whole front end instead of vfork()ing it,
# ~20 ms of page-table copies at a few hundred MiB of RSS on every restore (BENCHMARKS.md).
JOIN_CGROUPS = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; n=$((n - 1)); shift; done; '
    'exec "$@"'
)
JOIN_FAILED, NOT_RUN = 125, (126, 127)  # 126, 127: the shell's own, when exec fails


def _run(
    argv: list[str], log: Path, what: str, timeout: float, cgroups: Sequence[Path] = ()
) -> None:
    """Run CRIU (``argv``), started inside ``cgroups`` if any are given."""
    if shutil.which(argv[0]) is None:
        raise CriuError(
            f"CRIU not found at {argv[0]}: run scripts/setup.sh (it builds CRIU >= 4.2.1) "
            "or set INTERPRETER_CRIU"
        )
    if cgroups:
        procs = [str(folder / "cgroup.procs") for folder in cgroups]
        argv = ["/bin/sh", "-c", JOIN_CGROUPS, "sh", str(len(procs)), *procs, *argv]
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise CriuError(f"CRIU {what} took more than {timeout:g} s") from exc
    if cgroups and result.returncode in (JOIN_FAILED, *NOT_RUN):
        why = result.stderr.decode(errors="replace").strip()[-LOG_TAIL:]
        raise CriuError(f"CRIU {what} could not start: {why}")
    if result.returncode != 0:
        tail = (
            read_tail(log, LOG_TAIL).strip() or result.stderr.decode(errors="replace")[-LOG_TAIL:]
        )
        raise CriuError(f"CRIU {what} failed (exit {result.returncode}); its log ends:\n{tail}")
