"""PID 1 of a sandbox (root inside the jail): keeps the file/process agent (as root), the
Jupyter Kernel Gateway and the stand-in of E2B's code-interpreter server (both as `user`)
alive, and reaps orphans.

Runs with the image's Python and the standard library only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from oom import KERNELS, scored

PR_SET_PDEATHSIG = 1
RUN = os.environ.get("INTERPRETER_RUN_DIR", "/run/sandbox")
USER_ID = 1000
# The host sends SIGUSR1 after a bomb (its cgroup hit the process or memory limit, or a kernel
# died): every process not of a service is killed, then REAPED says how many.
REAPED = f"{RUN}/reaped"
REAP_SECONDS = 3.0
# E2B's tests kill its Jupyter server and its code-interpreter server by their command lines
# (`pkill -f '[j]upyter-server'`, `pgrep -f 'jupyter server'`, `pkill -f '[u]vicorn main:app'`)
# and expect them back: ours carry those words (gateway.py ignores its arguments).
GATEWAY = [sys.executable, "/opt/interpreter/gateway.py",
           "--as", "jupyter-server", "jupyter server"]  # fmt: skip
# A kernel's command line names its connection file (every kernelspec's {connection_file}).
RUNTIME_DIR = os.environ.get("JUPYTER_RUNTIME_DIR", "/tmp/.jupyter-runtime")
KERNEL_FILE = os.path.join(RUNTIME_DIR, "kernel-").encode()
HEALTH = [sys.executable, "/opt/interpreter/health.py", "uvicorn", "main:app",
          "--host", "0.0.0.0", "--port", "49999"]  # fmt: skip


@dataclass
class Service:
    name: str
    argv: list[str]
    as_user: bool
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.1
    restart_at: float = field(default=0.0)

    def start(self) -> None:
        kwargs = {"user": USER_ID, "group": USER_ID, "extra_groups": []} if self.as_user else {}
        # The services run as `user` (the gateway with its kernels, the health server) are the
        # OOM killer's before the agent: sandbox/oom.py.
        argv = scored(self.argv, KERNELS) if self.as_user else self.argv
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs
        )
        self.started = time.monotonic()
        print(f"supervisor: {self.name} started, pid {self.process.pid}", flush=True)

    def exited(self, status: int) -> None:
        print(f"supervisor: {self.name} exited ({status})", flush=True)
        self.process = None
        # One that keeps dying is restarted ever more slowly, up to 5 s apart.
        lived = time.monotonic() - self.started
        self.backoff = 0.1 if lived > 30 else min(self.backoff * 2, 5.0)
        self.restart_at = time.monotonic() + self.backoff


def _parents() -> dict[int, int]:
    """Every process of the sandbox (our PID namespace) -> its parent."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                # The command name may hold spaces and parentheses: the fields follow the last ")".
                parents[int(name)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return parents


def strays(services: list[int]) -> list[int]:
    """Processes that descend from no service: orphans (reparented to us) and theirs.
    The agent's tree holds the commands; the gateway's the kernels, each with what it started."""
    parents = _parents()
    kept = set(services)
    found: list[int] = []
    for pid in parents:
        chain, seen = pid, set[int]()
        # Up to a service (kept), or to us: an orphan's line ends at PID 1.
        while chain not in kept and chain in parents and chain not in seen and chain != 1:
            seen.add(chain)
            chain = parents[chain]
        if chain not in kept and pid != 1:
            found.append(pid)
    return found


def reap_strays(services: list[int], seq: int) -> None:
    """SIGKILL the strays, again until none is left (a fork bomb forks between two passes)."""
    killed: set[int] = set()
    started = time.monotonic()
    deadline = started + REAP_SECONDS
    while time.monotonic() < deadline:
        # The killed ones stay listed as zombies until the main loop collects them.
        found = [pid for pid in strays(services) if pid not in killed or _alive(pid)]
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed.add(pid)
        time.sleep(0.01)
    tmp = REAPED + ".new"
    with open(tmp, "w") as file:
        file.write(f"{seq} {len(killed)}\n")
    os.replace(tmp, REAPED)
    took = time.monotonic() - started
    print(f"supervisor: killed {len(killed)} stray processes in {took:.2f} s", flush=True)


def kill_orphaned_kernels(services: list[int]) -> None:
    """The kernels a gateway left when it died: no later gateway reaches them (its own kernels
    are new), so they only hold memory. Killed; what they started lives on."""
    killed = 0
    for pid in strays(services):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                if KERNEL_FILE not in file.read():
                    continue
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            continue  # gone meanwhile
    if killed:
        print(f"supervisor: killed {killed} kernel processes the gateway left", flush=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main() -> None:
    # nsjail sets a parent-death signal; a checkpointed-and-restored PID 1 would get it at once.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    # Our stdio must live inside the sandbox (not inherited host descriptors).
    log = os.open(f"{RUN}/supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    services = [
        Service("agent", [sys.executable, "/opt/interpreter/agent/server.py"], as_user=False),
        Service("gateway", GATEWAY, as_user=True),
        Service("health", HEALTH, as_user=True),  # E2B's in-sandbox :49999/health
    ]
    if "--agent-only" in sys.argv[1:]:  # a template build's step: files and commands only
        services = services[:1]
    stopping = False
    reaps_asked = reaps_done = 0

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    def ask_reap(signum: int, frame: object) -> None:
        nonlocal reaps_asked
        reaps_asked += 1

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, ask_reap)
    for service in services:
        service.start()
    while not stopping:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)  # reaps orphans too: we are PID 1
        except ChildProcessError:
            pid, status = 0, 0
        for service in services:
            if service.process is not None and pid == service.process.pid:
                service.exited(status)
                if service.name == "gateway":
                    kill_orphaned_kernels([s.process.pid for s in services if s.process])
            if service.process is None and time.monotonic() >= service.restart_at:
                service.start()
        if reaps_done < reaps_asked:
            reaps_done = reaps_asked
            running = [s.process.pid for s in services if s.process is not None]
            reap_strays(running, reaps_done)
        if pid == 0:
            time.sleep(0.05)
    for service in services:
        if service.process is not None:
            service.process.terminate()


if __name__ == "__main__":
    main()
