"""A sandbox's addresses are chosen one attach at a time on the host: another front end (another
process) choosing from the same addresses holds the choice until its own address is on."""

from __future__ import annotations

import os
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
    monkeypatch.setattr(network, "_host_lock", None)  # opened anew, on the test's path
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
    assert network._host_lock is not None
    os.close(network._host_lock)


def test_a_holder_that_never_lets_go_fails_the_attach_not_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "network.lock"
    monkeypatch.setattr(network, "ALLOCATE_LOCK", lock)
    monkeypatch.setattr(network, "_host_lock", None)
    monkeypatch.setattr(network, "ALLOCATE_WAIT", 0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(network.NetworkError, match="another front end"):
            with network.allocating():
                pass
    finally:
        holder.kill()
        holder.wait()
    with network.allocating():  # the thread's own lock was let go
        pass
    assert network._host_lock is not None
    os.close(network._host_lock)


def test_a_link_at_the_lock_path_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "network.lock").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setattr(network, "ALLOCATE_LOCK", tmp_path / "network.lock")
    monkeypatch.setattr(network, "_host_lock", None)
    with pytest.raises(network.NetworkError, match="cannot open"):
        with network.allocating():
            pass
