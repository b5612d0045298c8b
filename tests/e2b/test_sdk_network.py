"""The official E2B SDK's network options (issue 12): ``allow_internet_access`` and ``network``
as its documentation has them, against the test servers of tests/conftest.py."""

from __future__ import annotations

from e2b import ALL_TRAFFIC
from e2b_code_interpreter import Sandbox

from tests.conftest import PORT, PUBLIC, Hosts

PROBE = f"""
import socket
def probe(host):
    try:
        socket.create_connection((host, {PORT}), 3).close()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
print(*[probe(h) for h in {list(PUBLIC)!r}])
"""


def probes(sandbox: Sandbox) -> list[str]:
    return "".join(sandbox.run_code(PROBE, timeout=60).logs.stdout).split()


def test_internet_access_is_on_by_default_and_off_when_asked(
    e2b_metadata: dict[str, str], test_hosts: Hosts
) -> None:
    default = Sandbox.create(metadata=e2b_metadata)
    closed = Sandbox.create(metadata=e2b_metadata, allow_internet_access=False)
    try:
        assert probes(default) == ["ok", "ok"]
        assert "ok" not in probes(closed)  # no egress at all: nothing names an exception
    finally:
        default.kill()
        closed.kill()


def test_network_allow_and_deny_lists_and_their_update(
    e2b_metadata: dict[str, str], test_hosts: Hosts
) -> None:
    sandbox = Sandbox.create(
        metadata=e2b_metadata,
        network={"allow_out": [PUBLIC[1]], "deny_out": [ALL_TRAFFIC]},
    )
    try:
        assert probes(sandbox) == ["TimeoutError", "ok"]
        sandbox.update_network({"deny_out": [PUBLIC[1]]})  # replaces: allow_out is cleared
        assert probes(sandbox) == ["ok", "TimeoutError"]
    finally:
        sandbox.kill()
