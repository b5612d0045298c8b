"""Clones share nothing secret (issue 11, item 6): sandboxes restored from one template snapshot
start from the same process memory, so each restore renews what a process keeps that must
differ: OpenSSL's DRBG, Python's and NumPy's generators, tempfile's name sequence. What cannot be
renewed in a running process (the str hash seed) is the same in every clone: asserted here so
the test notices if that ever changes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from interpreter.core.config import Settings
from interpreter.execution import languages
from interpreter_sdk import Sandbox

from ..conftest import Server

SandboxFactory = Callable[..., Sandbox]

PROBE = """\
import json as _json, random as _random, sys as _sys, tempfile as _tempfile, uuid as _uuid
_ssl_before = "_ssl" in _sys.modules
import ssl as _ssl
import numpy as _np
print(_json.dumps({
    "random": _random.random(),
    "numpy_legacy": float(_np.random.rand()),
    "numpy_default_rng": float(_np.random.default_rng().random()),
    "ssl_rand_bytes": _ssl.RAND_bytes(16).hex(),
    "mktemp": [_tempfile.mktemp() for _ in range(3)],
    "uuid4": str(_uuid.uuid4()),
    "hash_seed": hash("clones share nothing secret"),
    "ssl_imported_before": _ssl_before,
}))
"""
FRESH = ("random", "numpy_legacy", "numpy_default_rng", "ssl_rand_bytes", "mktemp", "uuid4")


def snapshot_ready(server: Server, timeout: float = 180.0) -> None:
    """Wait until the pool is full and its template's snapshot taken (tests/e2e/test_pool.py)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with server.client() as client:
            state = client.get("/v1/pool").raise_for_status().json()
        if all(s["ready"] == s["size"] and s["snapshot"] != "pending" for s in state):
            assert all(s["snapshot"] == "ready" for s in state), state
            return
        time.sleep(0.1)
    raise AssertionError("the pool did not fill")


def restored(server: Server, sandbox_id: str) -> bool:
    # Restored straight into the sandbox, or into the pool it was then handed out from.
    return f"sandbox {sandbox_id} restored from the " in server.log.read_text()


def test_clones_of_one_snapshot_get_fresh_secrets(
    server: Server, sandbox_factory: SandboxFactory
) -> None:
    snapshot_ready(server)
    # The pool's sandbox, then (the pool waits a second before refilling) restores.
    sandboxes = [sandbox_factory() for _ in range(3)]
    clones = [sbx for sbx in sandboxes if restored(server, sbx.sandbox_id)]
    assert len(clones) >= 2, [sbx.sandbox_id for sbx in sandboxes]
    draws = []
    for sbx in clones:
        execution = sbx.run_code(PROBE)
        assert execution.error is None, execution.error
        draws.append(json.loads("".join(execution.logs.stdout)))
    print(json.dumps(draws, indent=1))
    for key in FRESH:
        values = [json.dumps(d[key]) for d in draws]
        assert len(set(values)) == len(values), (key, values)
    # Fixed when the interpreter started (PYTHONHASHSEED): the snapshot's, in every clone.
    assert len({d["hash_seed"] for d in draws}) == 1, draws


BASE_PROBE = """\
import json as _json, random as _random, ssl as _ssl, sys as _sys, tempfile as _tempfile
print(_json.dumps({
    "random": _random.random(),
    "ssl_rand_bytes": _ssl.RAND_bytes(16).hex(),
    "mktemp": [_tempfile.mktemp() for _ in range(3)],
    "numpy_imported": "numpy" in _sys.modules,
}))
"""


def test_clones_of_an_image_without_numpy_get_fresh_secrets(
    server: Server, sandbox_factory: SandboxFactory
) -> None:
    """The base image has no NumPy: its restores keep their reseed cell (it once failed there,
    unnoticed, at its NumPy import: now that would make the create boot cold, which
    ``restored`` catches) and their clones draw apart (the base kernel uses none of these
    generators before its checkpoint, so they would be fresh even without the cell)."""
    snapshot_ready(server)
    clones = [sandbox_factory(template="base") for _ in range(2)]
    assert all(restored(server, sbx.sandbox_id) for sbx in clones), server.log.read_text()[-3000:]
    draws = []
    for sbx in clones:
        execution = sbx.run_code(BASE_PROBE)
        assert execution.error is None, execution.error
        draws.append(json.loads("".join(execution.logs.stdout)))
    for key in ("random", "ssl_rand_bytes", "mktemp"):
        values = [json.dumps(d[key]) for d in draws]
        assert len(set(values)) == len(values), (key, values)
    assert not any(d["numpy_imported"] for d in draws), draws


# A process that used every generator before its checkpoint; restored, it draws on SIGUSR1 as
# it is, and on SIGUSR2 after running the service's reseed cell.
CLONE = """\
import json, os, random, signal, ssl, sys, tempfile, time
import numpy
folder, reseed = sys.argv[1], sys.argv[2]
ssl.RAND_bytes(16), tempfile.mktemp(), random.random(), numpy.random.rand()

def draw(kind):
    if kind == "reseeded":
        started = time.perf_counter()
        exec(reseed, {})
        took = time.perf_counter() - started
    values = {"ssl": ssl.RAND_bytes(16).hex(), "mktemp": tempfile.mktemp(),
              "random": random.random(), "numpy": float(numpy.random.rand())}
    if kind == "reseeded":
        values["seconds"] = took
    name = f"{kind}-{time.time_ns()}"
    with open(os.path.join(folder, "." + name), "w") as f:  # the test waits for the name:
        json.dump(values, f)
    os.rename(os.path.join(folder, "." + name), os.path.join(folder, name))  # once written

signal.signal(signal.SIGUSR1, lambda *_: draw("plain"))
signal.signal(signal.SIGUSR2, lambda *_: draw("reseeded"))
open(os.path.join(folder, "ready"), "w").close()
while True:
    time.sleep(0.01)
"""


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_reseed_cell_renews_what_a_restored_process_repeats(tmp_path: Path) -> None:
    """The mechanism itself, on the host: one CRIU checkpoint of a process that had used its
    generators, restored twice. As it is, each clone draws the same OpenSSL bytes, temporary
    names and random numbers (the pid is restored too, so no fork check fires); after the
    service's reseed cell, they differ."""
    criu = str(Settings().criu)
    images, out = tmp_path / "images", tmp_path / "out"
    images.mkdir()
    out.mkdir()
    reseed = languages.resolve("python").reseed
    assert reseed is not None
    process = subprocess.Popen(
        [sys.executable, "-c", CLONE, str(out), reseed],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for((out / "ready").exists)
        subprocess.run(
            [criu, "dump", "-t", str(process.pid), "-D", str(images), "--shell-job",
             "-o", "dump.log"],
            check=True, capture_output=True,
        )  # fmt: skip
    finally:
        process.kill()
        process.wait()
    for clone in range(2):
        subprocess.run(
            [criu, "restore", "-D", str(images), "--shell-job", "-d", "-o", f"restore{clone}.log"],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            for sig, kind in ((signal.SIGUSR1, "plain"), (signal.SIGUSR2, "reseeded")):
                os.kill(process.pid, sig)
                wait_for(lambda k=kind, n=clone: len(list(out.glob(f"{k}-*"))) > n)
        finally:
            os.kill(process.pid, signal.SIGKILL)
            wait_for(lambda: not Path(f"/proc/{process.pid}").exists())
    draws = {
        kind: [json.loads(p.read_text()) for p in sorted(out.glob(f"{kind}-*"))]
        for kind in ("plain", "reseeded")
    }
    print(json.dumps(draws, indent=1))
    first, second = draws["plain"]
    assert first == second  # every generator repeats in a clone...
    first, second = draws["reseeded"]
    for key in ("ssl", "mktemp", "random", "numpy"):
        assert first[key] != second[key], key  # ...unless reseeded
