"""Egress (issue 12): off by default, on when asked, with allow and deny lists enforced in the
host's namespace, against test servers in a network namespace this module makes (never a
public address; the package index is the one this machine reaches)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from interpreter_sdk import Sandbox

from ..conftest import PORT, PRIVATE, PUBLIC, Hosts, Server

SandboxFactory = Callable[..., Sandbox]
# From inside: "ok" if a TCP connection opens within 3 s, else the error's name.
PROBE = """
import socket
def probe(host, port={port}):
    try:
        socket.create_connection((host, port), 3).close()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
"""


def probes(sandbox: Sandbox, *hosts: str, user: str | None = None) -> list[str]:
    code = PROBE.format(port=PORT) + f"print([probe(h) for h in {list(hosts)!r}])"
    if user == "root":
        sandbox.files.write("/tmp/probe.py", code)
        result = sandbox.commands.run("python3 /tmp/probe.py", user="root", timeout=60)
        return list(eval(result.stdout))  # noqa: S307 - our own probe's repr of a list
    execution = sandbox.run_code(code, timeout=60)
    assert execution.error is None, execution.error
    return list(eval("".join(execution.logs.stdout)))  # noqa: S307


def test_no_egress_by_default(sandbox_factory: SandboxFactory, test_hosts: Hosts) -> None:
    sandbox = sandbox_factory()
    assert sandbox.get_info().network == {
        "enabled": False,
        "allow_out": [],
        "deny_out": [],
        "public": True,
    }
    assert probes(sandbox, *PUBLIC, PRIVATE) == ["OSError"] * 3  # no route: loopback only
    assert "eth0" not in sandbox.commands.run("cat /proc/net/dev").stdout


def test_egress_reaches_public_addresses_not_private_ones_nor_the_host(
    sandbox_factory: SandboxFactory, test_hosts: Hosts
) -> None:
    sandbox = sandbox_factory(network={"enabled": True})
    host_dns = Path("/etc/resolv.conf").read_text().split()[1]  # the host's resolver: private
    assert probes(sandbox, *PUBLIC, PRIVATE, host_dns) == [
        "ok",
        "ok",
        "TimeoutError",
        "TimeoutError",
    ]
    # A service of the host's, listening on every address: not reachable on the veth's host end
    # (the sandbox's DNS server, the one thing it may reach there).
    nameserver = sandbox.commands.run("cat /etc/resolv.conf").stdout.split()[1]
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = PROBE.format(port=port) + f"print(probe({nameserver!r}))"
        assert "".join(sandbox.run_code(code).logs.stdout).strip() == "TimeoutError"


def test_deny_and_allow_lists(sandbox_factory: SandboxFactory, test_hosts: Hosts) -> None:
    denied = sandbox_factory(network={"enabled": True, "deny_out": [PUBLIC[0]]})
    assert probes(denied, *PUBLIC) == ["TimeoutError", "ok"]
    only = sandbox_factory(
        network={"enabled": True, "deny_out": ["0.0.0.0/0"], "allow_out": [PUBLIC[1], PRIVATE]}
    )
    assert probes(only, *PUBLIC, PRIVATE) == ["TimeoutError", "ok", "ok"]  # named: reachable
    # Root inside (CAP_NET_ADMIN in its own namespace) reaches no more: the rules are the host's.
    assert probes(only, *PUBLIC, user="root") == ["TimeoutError", "ok"]
    netfilter = "import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)"
    result = only.commands.run(f"python3 -c '{netfilter}' 2>&1 || true", user="root")
    assert "PermissionError" in result.stdout
    # Changed on the running sandbox.
    only.update_network({"enabled": True, "allow_out": [PUBLIC[0]], "deny_out": ["0.0.0.0/0"]})
    assert probes(only, *PUBLIC, PRIVATE) == ["ok", "TimeoutError", "TimeoutError"]
    only.update_network({"enabled": False})
    assert probes(only, PUBLIC[0]) == ["OSError"]


def test_a_domain_allows_what_it_resolves_to(
    sandbox_factory: SandboxFactory, test_hosts: Hosts
) -> None:
    sandbox = sandbox_factory(
        network={"enabled": True, "deny_out": ["0.0.0.0/0"], "allow_out": ["pypi.org"]}
    )
    code = PROBE.format(port=443) + "print(probe('pypi.org'), probe('198.51.100.2', 8000))"
    assert "".join(sandbox.run_code(code, timeout=60).logs.stdout).split() == [
        "ok", "TimeoutError"
    ]  # fmt: skip


def test_pip_download_from_the_package_index_and_its_bytes_in_the_metrics(
    sandbox_factory: SandboxFactory, server: Server
) -> None:
    sandbox = sandbox_factory(network={"enabled": True})
    # This machine's index is behind a TLS proxy whose CA the host trusts: give it to pip.
    sandbox.files.write("/tmp/host-ca.pem", Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    result = sandbox.commands.run(
        "pip download --no-deps --cert /tmp/host-ca.pem -d /tmp/wheels six==1.16.0",
        timeout=120,
    )
    assert result.exit_code == 0, result.stderr
    assert "six-1.16.0" in sandbox.commands.run("ls /tmp/wheels").stdout
    with server.client() as http:
        now = http.get(f"/v1/sandboxes/{sandbox.sandbox_id}/metrics").raise_for_status().json()
    assert now[-1]["net_rx_bytes"] > 10_000 and now[-1]["net_tx_bytes"] > 1_000, now[-1]


def test_rules_survive_pause_and_resume(sandbox_factory: SandboxFactory, test_hosts: Hosts) -> None:
    sandbox = sandbox_factory(network={"enabled": True, "deny_out": [PUBLIC[0]]})
    sandbox.run_code("kept = 1")
    sandbox.pause()
    sandbox.resume()
    assert sandbox.run_code("kept").text == "1"
    assert probes(sandbox, *PUBLIC) == ["TimeoutError", "ok"]
    sandbox.pause(memory=False)  # files only: a fresh boot on them, the same rules
    sandbox.resume()
    assert probes(sandbox, *PUBLIC) == ["TimeoutError", "ok"]


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"enabled": True, "allow_out": ["10.0.0.0/33"]}, "'10.0.0.0/33' is not"),
        ({"enabled": True, "deny_out": ["example.com"]}, "IPv4 address or CIDR"),
        ({"enabled": True, "allow_out": ["bad_name!"]}, "'bad_name!' is not"),
        ({"enabled": True, "deny_out": ["::1"]}, "IPv6 is not routed"),
        ({"enabled": True, "allow_out": ["1.1.1.1"] * 101}, "allow_out"),
    ],
)
def test_bad_rules_are_refused(server: Server, network: dict[str, object], message: str) -> None:
    with server.client() as http:
        response = http.post("/v1/sandboxes", json={"network": network})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
