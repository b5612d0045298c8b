"""The embedded runtime: each sandbox is an nsjail process tree on this host.

Namespaces: user, pid, mount, network (loopback only), ipc, uts. No cgroup namespace: CRIU cannot
restore one here (see kernels-and-jail.md). Every nsjail limit is set on purpose: its defaults
(32 open files, 600 s wall time, 1 MB files, 4 GB address space) kill Jupyter kernels.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

from interpreter.core.config import Settings
from interpreter.core.errors import SandboxStartError
from interpreter.core.files import read_tail
from interpreter.core.pressure import Pressure
from interpreter.core.sandbox_fs import open_dir, remove_tree
from interpreter.runtime import (
    boot,
    budgets,
    checkpoint,
    criu,
    disk,
    images,
    linux,
    network,
    snapshot,
    strays,
    usage,
    volumes,
)
from interpreter.runtime.base import (
    Egress,
    Image,
    Limits,
    ResourceUsage,
    Runtime,
    SandboxProcess,
    SandboxSpec,
)
from interpreter.runtime.images import ID_SHIFT

log = logging.getLogger(__name__)

SANDBOX_ENVS = "envs.json"  # in the run folder: see set_envs


class NsjailRuntime(Runtime):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        # Only root and the jails (group ID_SHIFT: root inside) pass into the sandboxes' folders:
        # what is in them (the tenants' files, envs.json, checkpoints) is no other host user's.
        sandboxes = settings.sandboxes_path
        sandboxes.mkdir(parents=True, exist_ok=True)
        os.chown(sandboxes, 0, ID_SHIFT, follow_symlinks=False)
        os.chmod(sandboxes, 0o710, follow_symlinks=False)
        budgets.raise_host_totals()
        if settings.ksm:
            linux.merge_memory()
        self.network_failure: str | None = None
        try:
            network.ensure_host()
        except OSError as exc:  # egress is refused then; loopback-only sandboxes still work
            self.network_failure = f"egress is not available on this host: {exc}"
            log.warning("%s", self.network_failure)

    def image(self, template: str) -> Image:
        return images.resolve(self.settings, template)

    def builtin_templates(self) -> list[str]:
        return images.template_names()

    def base_envs(self) -> dict[str, str]:
        return dict(boot.BASE_ENV)

    def built_image(self, base: Image, name: str, layers: list[str]) -> Image:
        return images.built(base, name, [images.step_layer(self.settings, k) for k in layers])

    def has_layer(self, key: str) -> bool:
        return images.step_layer_ready(self.settings, key)

    def capture_layer(self, process: SandboxProcess, key: str) -> None:
        images.capture_layer(self.settings, disk.layer_dirs(process.folder)[0], key)

    def remove_layers(self, keep: set[str]) -> list[str]:
        return images.remove_step_layers(self.settings, keep)

    def launch(self, spec: SandboxSpec) -> SandboxProcess:
        folder = self.folder(spec.sandbox_id)
        boot.prepare(self.settings, spec, folder)
        linux.ensure_cgroup_parents()
        with open(folder / "nsjail.out", "wb") as out:
            proc = subprocess.Popen(
                boot.argv(self.settings, spec, folder),
                env={**boot.BASE_ENV, **spec.envs},  # the values of argv()'s --env names
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives a restart of the front end
            )
        self._children[proc.pid] = proc
        process = SandboxProcess(spec.sandbox_id, folder, proc.pid, self._await_jail_pid(proc))
        self._confine(process, spec.limits.memory_mb)
        return process

    def _confine(self, process: SandboxProcess, memory_mb: int) -> None:
        """What nsjail does not set: the TCP buffers' limit and the per-sandbox kernel budgets.
        Nothing of the tenant's runs yet (the agent is not reachable before launch returns)."""
        memory = linux.sandbox_cgroups(process.jail_pid)[0]
        deadline = time.monotonic() + 5.0
        while not memory.is_dir():  # nsjail makes it right after the clone
            if time.monotonic() > deadline or not self.poll(process):
                raise SandboxStartError("nsjail did not make the sandbox's cgroups")
            time.sleep(0.001)
        tcp = "memory.kmem.tcp.limit_in_bytes"
        (memory / tcp).write_text(linux.memory_limits(memory_mb)[tcp])
        budgets.apply(process.jail_pid)

    def _await_jail_pid(self, proc: subprocess.Popen[bytes]) -> int:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and proc.poll() is None:
            kids = linux.children(proc.pid)
            if kids:
                return kids[0]
            time.sleep(0.001)
        raise SandboxStartError("nsjail did not start the sandbox")

    def poll(self, process: SandboxProcess) -> bool:
        child = self._children.get(process.pid)
        if child is not None:
            return child.poll() is None
        return linux.pid_alive(process.pid) and self._is_ours(process)

    def _is_ours(self, process: SandboxProcess) -> bool:
        if process.restored:
            # No nsjail: the tree CRIU restored is ours if its PID 1 is in the cgroups we made.
            try:
                cgroups = Path(f"/proc/{process.pid}/cgroup").read_text()
            except OSError:
                return False
            name = f"{linux.NSJAIL_CGROUP_PARENT}.{process.pid}"
            return f"/{linux.NSJAIL_CGROUP_PARENT}/{name}\n" in cgroups
        # After a restart the pid may have been reused: check it is our nsjail for this folder.
        try:
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return (
            bool(cmdline)
            and cmdline[0] == str(boot.NSJAIL).encode()
            and (str(process.folder / "root").encode() in cmdline)
        )

    def kill(self, process: SandboxProcess) -> None:
        jail_pid = process.jail_pid
        strays.forget(jail_pid)
        if self.poll(process) and self.frozen(process):
            # A frozen process dies only once it runs again: signalled first, then thawed.
            linux.kill_cgroup(linux.sandbox_cgroup(process.jail_pid, "freezer"))
        if self.poll(process):
            # Killing the jail's PID 1 ends its whole PID namespace; nsjail then removes the
            # cgroups it made and exits.
            _signal(jail_pid, signal.SIGKILL)
            _signal(process.pid, signal.SIGTERM)
            self._wait(process, timeout=5.0)
            if self.poll(process):
                _signal(process.pid, signal.SIGKILL)
                self._wait(process, timeout=5.0)
        # Whatever nsjail could not remove (it was killed too, or died with the host front end).
        for cgroup in linux.sandbox_cgroups(jail_pid):
            linux.kill_cgroup(cgroup)
        self._children.pop(process.pid, None)

    def _wait(self, process: SandboxProcess, timeout: float) -> None:
        child = self._children.get(process.pid)
        if child is not None:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            return
        deadline = time.monotonic() + timeout
        # Not our child (a restored tree, a front end restarted since): its pidfd is readable
        # once it has exited, so the kill returns then, not at the next of 10 ms polls.
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(process.pid)
            try:
                if self.poll(process):  # checked once it is pinned: not a reused pid
                    waiting = select.poll()  # not select(): a descriptor may be >= 1024
                    waiting.register(pidfd, select.POLLIN)
                    waiting.poll(timeout * 1000)
            finally:
                os.close(pidfd)
        while self.poll(process) and time.monotonic() < deadline:
            time.sleep(0.01)

    def cleanup(self, process: SandboxProcess) -> None:
        if not process.recorded:
            # The front end stopped while launching or restoring it: the tree, if any, is found
            # by its root (a scan of every sandbox's cgroups) and killed before its root goes.
            for cgroups in linux.cgroups_rooted_at(process.folder / "root"):
                for cgroup in cgroups:
                    linux.kill_cgroup(cgroup)
        network.detach(process.sandbox_id, process.folder)
        linux.unmount(process.folder / "root")
        disk.unmount(process.folder)
        remove_tree(process.folder)  # however deep the sandbox made it
        if process.folder.exists():
            raise SandboxStartError(f"could not remove {process.folder}")

    def set_envs(self, process: SandboxProcess, envs: dict[str, str]) -> None:
        # The agent and the gateway add this file to the environment of what they start.
        # run/ is the sandbox's: every step relative to a no-follow descriptor of it.
        tmp = SANDBOX_ENVS + ".new"
        run_fd = open_dir(process.folder, ("run",))
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=run_fd)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o644, dir_fd=run_fd)
            with os.fdopen(fd, "w") as file:
                os.fchown(fd, ID_SHIFT, ID_SHIFT)  # root inside owns it; `user` may read it
                json.dump(envs, file)
            os.replace(tmp, SANDBOX_ENVS, src_dir_fd=run_fd, dst_dir_fd=run_fd)
        finally:
            os.close(run_fd)

    def set_limits(self, process: SandboxProcess, cpu: float, memory_mb: int) -> None:
        # The same cgroup v1 values nsjail writes at launch (a 1 s CPU period).
        cgroups = dict(
            zip(linux.CGROUP_CONTROLLERS, linux.sandbox_cgroups(process.jail_pid), strict=True)
        )
        linux.set_memory_limits(cgroups["memory"], memory_mb)
        (cgroups["cpu"] / "cpu.cfs_quota_us").write_text(str(int(cpu * 1000) * 1000))

    def diagnostics(self, process: SandboxProcess) -> str:
        parts = [
            read_tail(process.folder / "nsjail.log", 2000),
            read_tail(process.folder / "run" / "supervisor.log", 2000, beneath=process.folder),
        ]
        return "\n".join(p.strip() for p in parts if p.strip())

    # -- network (see network.py) --------------------------------------------------------------
    def set_network(self, process: SandboxProcess, egress: Egress | None) -> None:
        if egress is None:
            network.detach(process.sandbox_id, process.folder)
            return
        if self.network_failure is not None:
            raise network.NetworkError(self.network_failure)
        if network.attached(process.folder) is not None and network.present(process.sandbox_id):
            network.update(process.sandbox_id, process.folder, egress)
            return
        host = network.attach(process.sandbox_id, process.folder, process.jail_pid, egress)
        try:
            _write_resolv_conf(process.folder, host)
        except OSError as exc:  # the sandbox's /etc is not a directory of its own (a link?)
            network.detach(process.sandbox_id, process.folder)
            raise network.NetworkError(
                f"cannot write the sandbox's /etc/resolv.conf: {exc}"
            ) from exc

    def network_bytes(self, process: SandboxProcess) -> tuple[int, int] | None:
        return network.counters(process.sandbox_id)

    # -- resource usage -----------------------------------------------------------------------
    def usage(self, process: SandboxProcess) -> ResourceUsage | None:
        memory = usage.memory(process.jail_pid)
        cpu = usage.cpu_seconds(process.jail_pid)
        if memory is None or cpu is None:
            return None
        return ResourceUsage(mem_used=memory[0], mem_cache=memory[1], cpu_seconds=cpu)

    def disk_used(self, process: SandboxProcess) -> int:
        if disk.exists(process.folder):
            return disk.used(process.folder)
        return usage.disk_used(disk.layer_dirs(process.folder)[0])  # made before disks

    def disk_total(self, process: SandboxProcess) -> int:
        if disk.exists(process.folder):
            return disk.total(process.folder)
        return usage.disk_total(process.folder)

    # -- bombs (see strays.py) --------------------------------------------------------------
    def pressure(self, process: SandboxProcess) -> Pressure | None:
        return strays.pressure(process.jail_pid)

    def reap_strays(self, process: SandboxProcess) -> int | None:
        return strays.reap(process.folder, process.jail_pid)

    def kill_tree(self, process: SandboxProcess, pid: int, at_least: int = 0) -> int:
        return strays.kill_tree(process.jail_pid, pid, at_least)

    # -- pause / resume (CRIU: see criu.py) ------------------------------------------------
    def checkpoint_support(self) -> str | None:
        try:
            criu.version(self.settings.criu)
        except criu.CriuError as exc:
            return str(exc)
        return None

    def has_checkpoint(self, sandbox_id: str) -> bool:
        return checkpoint.exists(self.folder(sandbox_id))

    def freeze(self, process: SandboxProcess) -> bool:
        # A connection from the host is a socket of the host's namespace inside the sandbox,
        # which CRIU cannot dump: its side must be closed before it stops running.
        criu.await_host_sockets_closed(process.jail_pid)
        memory = linux.sandbox_cgroup(process.jail_pid, "memory")
        return linux.freeze_tree(memory, linux.sandbox_cgroup(process.jail_pid, "freezer"))

    def thaw(self, process: SandboxProcess) -> None:
        linux.thaw(linux.sandbox_cgroup(process.jail_pid, "freezer"))

    def frozen(self, process: SandboxProcess) -> bool:
        return linux.is_frozen(linux.sandbox_cgroup(process.jail_pid, "freezer"))

    def pause(self, process: SandboxProcess, memory: bool) -> None:
        if not memory:
            # Files only: the processes end, the upper layer stays (a fresh boot resumes it),
            # the network goes (attached again at resume).
            network.detach(process.sandbox_id, process.folder)
            self.kill(process)
            linux.unmount(process.folder / "root")
            disk.unmount(process.folder)  # a loop device less while it is paused
            return
        # CRIU dumps no veth: the network goes first, and comes back if the dump fails (the
        # service attaches it again after a restore).
        egress = network.attached(process.folder)
        # Frozen first (if not already: a pause kept in memory, now written to disk), so that
        # CRIU finds the tree as it was and leaves it frozen, not dead, when it is done: a front
        # end killed during the dump loses nothing (the tree is killed once the images are in).
        was_frozen = self.frozen(process)
        froze = not was_frozen and self.freeze(process)
        frozen = was_frozen or froze
        network.detach(process.sandbox_id, process.folder)
        try:
            self._checkpoint(process, frozen)
        except BaseException:
            try:
                if egress is not None:
                    self.set_network(process, egress)
            finally:  # thawed even if its network cannot come back: it runs on, as it was
                if froze:
                    self.thaw(process)
            raise

    def _checkpoint(self, process: SandboxProcess, frozen: bool) -> None:
        checkpoint.write(self.settings, process, frozen)
        # The tree is gone (or, frozen, goes now): nsjail exits (and removes its cgroups); a
        # restored tree's are ours.
        if frozen:
            self.kill(process)
            return
        child = self._children.pop(process.pid, None)
        if child is not None:
            child.wait(5.0)
        strays.forget(process.jail_pid)
        for cgroup in linux.sandbox_cgroups(process.jail_pid):
            linux.kill_cgroup(cgroup)

    def restore(self, sandbox_id: str, limits: Limits) -> SandboxProcess:
        return checkpoint.restore(self.settings, self.folder(sandbox_id), sandbox_id, limits)

    def discard_checkpoint(self, sandbox_id: str) -> None:
        checkpoint.discard(self.folder(sandbox_id))

    # -- template snapshots (see snapshot.py) ------------------------------------------------
    def snapshot_info(self, image: Image) -> dict[str, str] | None:
        info = snapshot.read_info(snapshot.folder_for(self.settings, image))
        if info is None:
            return None
        return {key: value for key, value in info.items() if isinstance(value, str)}

    def take_snapshot(self, process: SandboxProcess, image: Image, info: dict[str, str]) -> None:
        folder = snapshot.folder_for(self.settings, image)
        snapshot.take(self.settings, process, image, folder, info)
        snapshot.discard_others(folder)

    def restore_snapshot(self, image: Image, sandbox_id: str, limits: Limits) -> SandboxProcess:
        folder = snapshot.folder_for(self.settings, image)
        return snapshot.restore(self.settings, folder, sandbox_id, self.folder(sandbox_id), limits)

    def discard_snapshot(self, image: Image) -> None:
        shutil.rmtree(snapshot.folder_for(self.settings, image), ignore_errors=True)

    # -- snapshots of running sandboxes ----------------------------------------------------
    def _sandbox_snapshot(self, snapshot_id: str) -> Path:
        return self.settings.home / "sandbox-snapshots" / snapshot_id

    def snapshot_sandbox(
        self, process: SandboxProcess, snapshot_id: str, info: dict[str, object]
    ) -> float:
        folder = self._sandbox_snapshot(snapshot_id)
        layers = [str(p) for p in linux.overlay_lower_layers(process.folder / "root")]
        # CRIU dumps no veth: detached for the dump, attached again at once.
        egress = network.attached(process.folder)
        network.detach(process.sandbox_id, process.folder)
        try:
            frozen = snapshot.take_running(
                self.settings, process, folder, {**info, "layers": layers}
            )
        finally:
            if egress is not None:
                self.set_network(process, egress)
        reference = snapshot.network_reference(self.settings)
        fresh = reference is not None and criu.same_network(folder / snapshot.IMAGES, reference)
        recorded = snapshot.read_info(folder) or {}
        (folder / snapshot.INFO).write_text(json.dumps({**recorded, "fresh_network": fresh}))
        return frozen

    def restore_sandbox_snapshot(
        self, snapshot_id: str, sandbox_id: str, limits: Limits
    ) -> SandboxProcess:
        folder = self._sandbox_snapshot(snapshot_id)
        return snapshot.restore(self.settings, folder, sandbox_id, self.folder(sandbox_id), limits)

    def sandbox_snapshot_info(self, snapshot_id: str) -> dict[str, object] | None:
        return snapshot.read_info(self._sandbox_snapshot(snapshot_id))

    def delete_sandbox_snapshot(self, snapshot_id: str) -> None:
        remove_tree(self._sandbox_snapshot(snapshot_id))

    # -- volumes (see volumes.py) ------------------------------------------------------------
    def create_volume(self, volume_id: str, size_mb: int) -> None:
        volumes.create(self.settings, volume_id, size_mb)

    def delete_volume(self, volume_id: str) -> None:
        volumes.delete(self.settings, volume_id)

    def volume_root(self, volume_id: str) -> Path:
        return volumes.data(self.settings, volume_id)

    def volume_usage(self, volume_id: str) -> tuple[int, int]:
        return volumes.usage(self.settings, volume_id)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _write_resolv_conf(folder: Path, nameserver: str) -> None:
    """Point the sandbox's resolver at its DNS server. /etc is the sandbox's: opened no-follow,
    step by step; whatever stands at resolv.conf (a link, a folder) is replaced."""
    etc = open_dir(folder, ("root", "etc"))
    try:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            os.unlink("resolv.conf", dir_fd=etc)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open("resolv.conf", flags, 0o644, dir_fd=etc)
        with os.fdopen(fd, "w") as file:
            os.fchown(fd, ID_SHIFT, ID_SHIFT)
            file.write(f"nameserver {nameserver}\noptions timeout:2 attempts:2\n")
    finally:
        os.close(etc)
