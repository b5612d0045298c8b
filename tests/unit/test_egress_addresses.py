"""A sandbox's addresses are chosen one attach at a time on the host: another front end (another
process) choosing from the same addresses holds the choice until its own address is on."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from interpreter.runtime import network

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()  # until the test lets go
"""


def test_another_process_choosing_addresses_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "network.lock"
    monkeypatch.setattr(network, "ALLOCATE_LOCK", lock)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        entered = threading.Event()

        def choose() -> None:
            with network.allocating():
                entered.set()

        chooser = threading.Thread(target=choose, daemon=True)
        chooser.start()
        time.sleep(0.3)
        assert not entered.is_set()  # the other process still chooses
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
        assert entered.wait(10)
        chooser.join(10)
    finally:
        holder.kill()
        holder.wait()
    with network.allocating():  # let go: taken at once again
        pass
