"""A sandbox's addresses are chosen one attach at a time on the host: another front end (another
process) choosing from the same addresses holds the choice until its own address is on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
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


@pytest.fixture
def lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The host's lock at a path of the test's, opened anew (and closed after)."""
    path = tmp_path / "network.lock"
    monkeypatch.setattr(network, "ALLOCATE_LOCK", path)
    monkeypatch.setattr(network, "_host_lock", None)
    yield path
    if network._host_lock is not None:
        os.close(network._host_lock)


def hold(lock: Path) -> subprocess.Popen[str]:
    """Another process holding the host's lock (another front end choosing an address)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_another_process_choosing_addresses_is_waited_for(lock: Path) -> None:
    holder = hold(lock)
    try:
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


def test_a_holder_that_never_lets_go_fails_the_attach_not_the_thread(
    lock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(network, "ALLOCATE_WAIT", 0.2)
    holder = hold(lock)
    try:
        with pytest.raises(network.NetworkError, match="another front end"):
            with network.allocating():
                pass
    finally:
        holder.kill()
        holder.wait()
    with network.allocating():  # the thread's own lock was let go
        pass


def test_a_link_at_the_lock_path_is_not_followed(lock: Path) -> None:
    (lock.parent / "elsewhere").write_text("")
    lock.symlink_to(lock.parent / "elsewhere")
    with pytest.raises(network.NetworkError, match="cannot open"):
        with network.allocating():
            pass
