"""PID 1 of a sandbox: keeps the Jupyter Kernel Gateway alive and reaps orphans.

Runs inside the jail with the image's Python and the standard library only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
RUN = os.environ.get("INTERPRETER_RUN_DIR", "/run/sandbox")
GATEWAY = [sys.executable, "/opt/interpreter/gateway.py"]


def main() -> None:
    # nsjail sets a parent-death signal; a checkpointed-and-restored PID 1 would get it at once.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    # Our stdio must live inside the sandbox (not inherited host descriptors).
    log = os.open(f"{RUN}/supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backoff = 0.1
    while not stopping:
        started = time.monotonic()
        gateway = subprocess.Popen(GATEWAY, stdin=subprocess.DEVNULL, start_new_session=True)
        print(f"supervisor: gateway started, pid {gateway.pid}", flush=True)
        while not stopping:
            try:
                pid, status = os.wait()  # reaps orphans too: we are PID 1
            except InterruptedError:
                continue
            except ChildProcessError:
                break
            if pid == gateway.pid:
                print(f"supervisor: gateway exited ({status})", flush=True)
                break
        if stopping:
            gateway.terminate()
            break
        # A gateway that keeps dying is restarted ever more slowly, up to 5 s apart.
        backoff = 0.1 if time.monotonic() - started > 30 else min(backoff * 2, 5.0)
        time.sleep(backoff)


if __name__ == "__main__":
    main()
