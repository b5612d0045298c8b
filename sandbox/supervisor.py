"""PID 1 of a sandbox (root inside the jail): keeps the file/process agent (as root) and the
Jupyter Kernel Gateway (as `user`) alive, and reaps orphans.

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

PR_SET_PDEATHSIG = 1
RUN = os.environ.get("INTERPRETER_RUN_DIR", "/run/sandbox")
USER_ID = 1000


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
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs
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
        Service("gateway", [sys.executable, "/opt/interpreter/gateway.py"], as_user=True),
    ]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
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
            if service.process is None and time.monotonic() >= service.restart_at:
                service.start()
        if pid == 0:
            time.sleep(0.05)
    for service in services:
        if service.process is not None:
            service.process.terminate()


if __name__ == "__main__":
    main()
