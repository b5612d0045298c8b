"""Egress: a sandbox's way out, and the rules it cannot change.

A sandbox has its own network namespace (loopback only). With egress, the host adds a veth pair:
``eth0`` inside (10.77.N.2/30, default route to the host end) and ``sbx<id>`` on the host
(10.77.N.1), routed and masqueraded by the host's kernel. Every rule is in the host's namespace,
in nftables table ``inet interpreter``, keyed by the host end's name: root inside a sandbox has
CAP_NET_ADMIN in its own namespace only, so it can change its addresses and routes but not one
rule. Its DNS server is a dnsmasq of its own on the host end, forwarding to the host's resolvers;
what an allowed domain resolves through it is added to the sandbox's allowed addresses (dnsmasq's
nftset), so a domain entry allows what its name resolves to, for any protocol.

Per sandbox, in order: addresses allowed by an entry (IP, CIDR, or resolved domain) pass; then
private, loopback, link-local, multicast ranges and the host's own networks are dropped; then
denied entries; the rest passes (E2B's semantics: ``allow_out`` wins over ``deny_out``, and
``0.0.0.0/0`` in ``deny_out`` with names in ``allow_out`` is an allow list). IPv6 is not routed.
Nothing from outside reaches a sandbox through it (ports go through the front end), the host's
services are closed to it but for its DNS server, and other sandboxes are dropped as private.

Why veth + nftables and not pasta/slirp4netns: the kernel routes (full TCP throughput, no
user-mode copy), nftables filters where the sandbox cannot reach, and dnsmasq (Debian's) fills
the allow sets from DNS; the rules survive a restart of the front end. CRIU dumps a sandbox
without its veth (detached before the dump, attached again after the restore: a connection open
across a pause is lost, its rules are not).

Blocking functions: call them from a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpreter.core.network import ALL_TRAFFIC

log = logging.getLogger(__name__)

SUBNET = ipaddress.ip_network("10.77.0.0/16")  # a /30 per sandbox: 16 384 at once
TABLE = "interpreter"
STATE = "network.json"  # in the sandbox's folder (the host's): what attach made
ATTACHING = "network.attaching"  # beside it, from an attach's first step until STATE is written
DNSMASQ_PID = "dnsmasq.pid"
# Never reached unless an entry names them (beside the host's own networks, read at start).
BLOCKED = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",
)  # fmt: skip
DNS_PORTS = "meta l4proto { tcp, udp } th dport 53"
# An address is taken from when it is chosen until it is on its veth: one attach at a time, in
# this process (threads) and on this host (another front end chooses from the same addresses).
_allocate = threading.Lock()
ALLOCATE_LOCK = Path("/run/interpreter-network.lock")  # the host's: no sandbox reaches /run
ALLOCATE_WAIT = 30.0  # seconds another front end may hold the choice before an attach fails
_host_lock: int | None = None  # ALLOCATE_LOCK, opened once (by ensure_host)


@dataclass(frozen=True)
class Egress:
    """The rules of a sandbox with egress: addresses (IPs, CIDRs) and domains."""

    allow: tuple[str, ...] = ()
    allow_domains: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


class NetworkError(OSError):
    pass


def interface(sandbox_id: str) -> str:
    return "sbx" + sandbox_id[:12]  # at most 15 characters (IFNAMSIZ)


def ensure_host() -> None:
    """The host's part, made once and kept (idempotent): forwarding on, the table, its chains,
    the NAT of the sandboxes' subnet."""
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
    _open_host_lock()  # a host where it cannot be made has no egress, said at start
    blocked = ", ".join([*BLOCKED, *_host_networks()])
    _nft(
        f"""
        add table inet {TABLE}
        add set inet {TABLE} blocked {{ type ipv4_addr; flags interval; auto-merge; }}
        flush set inet {TABLE} blocked
        add element inet {TABLE} blocked {{ {blocked} }}
        add map inet {TABLE} egress {{ type ifname : verdict; }}
        add set inet {TABLE} dns {{ type ifname . ipv4_addr; }}
        add chain inet {TABLE} forward {{ type filter hook forward priority filter; }}
        flush chain inet {TABLE} forward
        add rule inet {TABLE} forward iifname "sbx*" meta nfproto ipv6 drop
        add rule inet {TABLE} forward iifname vmap @egress
        add rule inet {TABLE} forward iifname "sbx*" drop
        add rule inet {TABLE} forward oifname "sbx*" ct state established,related accept
        add rule inet {TABLE} forward oifname "sbx*" drop
        add chain inet {TABLE} input {{ type filter hook input priority filter; }}
        flush chain inet {TABLE} input
        add rule inet {TABLE} input iifname . ip daddr @dns {DNS_PORTS} accept
        add rule inet {TABLE} input iifname "sbx*" drop
        add chain inet {TABLE} postrouting {{ type nat hook postrouting priority srcnat; }}
        flush chain inet {TABLE} postrouting
        add rule inet {TABLE} postrouting ip saddr {SUBNET} oifname != "sbx*" masquerade
        """
    )
    prune()


def prune() -> int:
    """Remove the rules of sandboxes whose veth is gone (a detach cut short, a front end
    killed meanwhile): a paused sandbox has none either, and gets them again at resume."""
    try:
        listed = json.loads(_run("nft", "-j", "list", "map", "inet", TABLE, "egress"))
    except (NetworkError, ValueError):
        return 0
    names = [
        element[0]
        for item in listed.get("nftables", [])
        for element in (item.get("map", {}).get("elem") or [])
        if isinstance(element, list) and element and isinstance(element[0], str)
    ]
    stale = [n for n in names if n.startswith("sbx") and not Path(f"/sys/class/net/{n}").exists()]
    for name in stale:
        _forget(name.removeprefix("sbx"), name, None)
    return len(stale)


def attach(sandbox_id: str, folder: Path, jail_pid: int, egress: Egress) -> str:
    """Give the sandbox (its namespace is the jail PID 1's) its way out with these rules; the
    address of its DNS server (the host end)."""
    if _state(folder) is not None or present(sandbox_id):
        detach(sandbox_id, folder)  # what an earlier attach left
    name = interface(sandbox_id)
    (folder / ATTACHING).touch()  # before anything exists: a detach then looks for all of it
    try:
        with allocating():  # until its address is on: the next attach's _free_pair sees it
            host, inside = _free_pair()
            # The pair and the host's end in one process (each costs a fork and an exec: ~2 ms).
            _run("ip", "-batch", "-", stdin=(
                f"link add {name} type veth peer name eth0 netns {jail_pid}\n"
                f"addr add {host}/30 dev {name}\nlink set {name} up\n"
            ))  # fmt: skip
        inside_up = (
            f"addr add {inside}/30 dev eth0\nlink set eth0 up\nroute add default via {host}\n"
        )
        # The inside, the rules and the DNS server at once (~3 ms each, mostly a process's
        # start): until the rules are in, the host's chains drop what the veth brings and what
        # it asks the DNS server (ensure_host), and the rules come in one nft transaction, so
        # the set the DNS server fills exists before a question can reach it.
        inside_ns = ("nsenter", "--net", "--target", str(jail_pid), "--")
        _at_once(
            lambda: _run(*inside_ns, "ip", "-batch", "-", stdin=inside_up),
            lambda: _rules(sandbox_id, name, str(host), egress),
            lambda: _start_dns(sandbox_id, folder, str(host), egress),
        )
        state: dict[str, Any] = {"interface": name, "host": str(host), "inside": str(inside)}
        state["egress"] = _saved(egress)
        (folder / STATE).write_text(json.dumps(state))
        (folder / ATTACHING).unlink()
    except BaseException:
        detach(sandbox_id, folder)
        raise
    return str(host)


def update(sandbox_id: str, folder: Path, egress: Egress) -> None:
    """New rules for an attached sandbox: every packet meets them, open connections too."""
    state = _state(folder)
    if state is None:
        raise NetworkError(f"sandbox {sandbox_id} has no network attached")
    _rules(sandbox_id, state["interface"], state["host"], egress)
    _stop_dns(folder)
    _start_dns(sandbox_id, folder, state["host"], egress)
    state["egress"] = _saved(egress)
    (folder / STATE).write_text(json.dumps(state))


def detach(sandbox_id: str, folder: Path) -> None:
    """Remove the sandbox's veth, rules and DNS server, whatever part of them exists."""
    _stop_dns(folder)
    name = interface(sandbox_id)
    state, veth = _state(folder), present(sandbox_id)
    if state is None and not veth and not (folder / ATTACHING).exists():
        # Never attached (a loopback-only sandbox: most): no rule to look for. That search is
        # ~8 nft runs, ~120 ms of every kill (BENCHMARKS.md, issue 19); a front end killed
        # mid-attach leaves ATTACHING, and its start prunes rules whose veth is gone.
        return
    if veth:
        # Both ends; the pair also goes by itself when the sandbox's namespace ends (a kill).
        # (Not at once with _forget: measured no faster, 36.6 vs 38.8 ms.)
        with contextlib.suppress(NetworkError):
            _ip("link", "del", name)
    _forget(sandbox_id[:12], name, None if state is None else state["host"])
    for done in (STATE, ATTACHING):
        with contextlib.suppress(FileNotFoundError):
            (folder / done).unlink()


def _forget(key: str, name: str, host: str | None) -> None:
    script = [f'delete element inet {TABLE} egress {{ "{name}" }}']
    if host is not None:
        script.append(f'delete element inet {TABLE} dns {{ "{name}" . {host} }}')
    else:  # whichever address it had
        script += [f'delete element inet {TABLE} dns {{ "{name}" . {b[1]} }}'
                   for b in _dns_entries(name)]  # fmt: skip
    script += [f"delete chain inet {TABLE} out_{key}"]
    script += [f"delete set inet {TABLE} {s}_{key}" for s in ("allow", "resolved", "deny")]
    try:
        _nft("\n".join(script))  # one transaction: each costs ~15 ms
    except NetworkError:
        for line in script:  # some were gone already: the others one by one
            with contextlib.suppress(NetworkError):
                _nft(line)


def _dns_entries(name: str) -> list[tuple[str, str]]:
    try:
        listed = json.loads(_run("nft", "-j", "list", "set", "inet", TABLE, "dns"))
    except (NetworkError, ValueError):
        return []
    found = []
    for item in listed.get("nftables", []):
        for element in item.get("set", {}).get("elem") or []:
            parts = element.get("concat") if isinstance(element, dict) else None
            if isinstance(parts, list) and len(parts) == 2 and parts[0] == name:
                found.append((str(parts[0]), str(parts[1])))
    return found


def attached(folder: Path) -> Egress | None:
    """The rules of the sandbox's attached network, or None."""
    state = _state(folder)
    if state is None:
        return None
    allow, domains, deny = (tuple(str(v) for v in part) for part in state["egress"])
    return Egress(allow, domains, deny)


def present(sandbox_id: str) -> bool:
    """Whether the sandbox's veth is there (it goes with the sandbox's namespace)."""
    return Path(f"/sys/class/net/{interface(sandbox_id)}").exists()


def counters(sandbox_id: str) -> tuple[int, int] | None:
    """Bytes (received, sent) by the sandbox so far on its current veth, or None."""
    stats = Path(f"/sys/class/net/{interface(sandbox_id)}/statistics")
    try:  # the host end's transmit is what the sandbox receives
        return int((stats / "tx_bytes").read_text()), int((stats / "rx_bytes").read_text())
    except (OSError, ValueError):
        return None


def _rules(sandbox_id: str, name: str, host: str, egress: Egress) -> None:
    key = sandbox_id[:12]
    chain, allow, resolved, deny = (f"{p}_{key}" for p in ("out", "allow", "resolved", "deny"))
    lines = [
        f"add set inet {TABLE} {allow} {{ type ipv4_addr; flags interval; auto-merge; }}",
        f"add set inet {TABLE} {resolved} {{ type ipv4_addr; }}",
        f"add set inet {TABLE} {deny} {{ type ipv4_addr; flags interval; auto-merge; }}",
        f"flush set inet {TABLE} {allow}",
        f"flush set inet {TABLE} {resolved}",
        f"flush set inet {TABLE} {deny}",
        f"add chain inet {TABLE} {chain}",
        f"flush chain inet {TABLE} {chain}",
        f"add rule inet {TABLE} {chain} ip daddr @{allow} accept",
        f"add rule inet {TABLE} {chain} ip daddr @{resolved} accept",
        f"add rule inet {TABLE} {chain} ip daddr @blocked drop",
        f"add rule inet {TABLE} {chain} ip daddr @{deny} drop",
        f"add rule inet {TABLE} {chain} accept",
        f'add element inet {TABLE} egress {{ "{name}" : jump {chain} }}',
        f'add element inet {TABLE} dns {{ "{name}" . {host} }}',
    ]
    named = [a for a in egress.allow if a != ALL_TRAFFIC]  # all traffic names no private range
    if named:
        lines.append(f"add element inet {TABLE} {allow} {{ {', '.join(named)} }}")
    if egress.deny:
        lines.append(f"add element inet {TABLE} {deny} {{ {', '.join(egress.deny)} }}")
    _nft("\n".join(lines))


DNS_START_SECONDS = 10.0


def _start_dns(sandbox_id: str, folder: Path, host: str, egress: Egress) -> None:
    resolved = f"4#inet#{TABLE}#resolved_{sandbox_id[:12]}"
    argv = [
        "dnsmasq",
        "--keep-in-foreground",  # its PID is the one we started
        "--conf-file=/dev/null",
        "--no-hosts",
        f"--listen-address={host}",
        "--bind-interfaces",
        "--except-interface=lo",
        f"--pid-file={folder / DNSMASQ_PID}",
        "--user=nobody",  # what it parses comes from the sandbox; it keeps CAP_NET_ADMIN
        "--cache-size=1000",
        *[f"--nftset=/{domain}/{resolved}" for domain in egress.allow_domains],
    ]
    with open(folder / "dnsmasq.log", "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    (folder / DNSMASQ_PID).write_text(str(proc.pid))
    # It answers once bound: a lookup right after the sandbox is ready must not fail. A loaded
    # 2-core host was seen to take more than 0.4 s to start it.
    deadline = time.monotonic() + DNS_START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NetworkError(f"dnsmasq failed: {(folder / 'dnsmasq.log').read_text()[-500:]}")
        if _listening(host):
            return
        threading.Event().wait(0.002)
    raise NetworkError(f"dnsmasq did not start listening within {DNS_START_SECONDS:g} s")


def _stop_dns(folder: Path) -> None:
    try:
        pid = int((folder / DNSMASQ_PID).read_text())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if cmdline.startswith(b"dnsmasq\0") and str(folder).encode() in cmdline:  # ours, not reused
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    with contextlib.suppress(FileNotFoundError):
        (folder / DNSMASQ_PID).unlink()


def _listening(host: str) -> bool:
    needle = "".join(f"{int(part):02X}" for part in reversed(host.split("."))) + ":0035"
    with open("/proc/net/udp") as udp:
        return any(needle in line for line in udp)


@contextlib.contextmanager
def allocating() -> Iterator[None]:
    """Hold the choice of a sandbox's addresses (see ``_allocate``); NetworkError if another
    front end holds it for more than ``ALLOCATE_WAIT``."""
    with _allocate:
        fd = _open_host_lock()
        deadline = time.monotonic() + ALLOCATE_WAIT
        while True:  # polled, not blocking: a stuck holder fails an attach, not this thread
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NetworkError(
                        f"another front end on this host has held {ALLOCATE_LOCK} for over "
                        f"{ALLOCATE_WAIT:g} s: no address could be chosen"
                    ) from None
                time.sleep(0.005)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _open_host_lock() -> int:
    global _host_lock
    if _host_lock is None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            _host_lock = os.open(ALLOCATE_LOCK, flags, 0o600)
        except OSError as exc:
            raise NetworkError(f"cannot open {ALLOCATE_LOCK}: {exc.strerror}") from exc
    return _host_lock


def _free_pair() -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    used = set(_ip("-o", "-4", "addr", "show").split())
    for block in SUBNET.subnets(new_prefix=30):
        host, inside = block[1], block[2]
        if f"{host}/30" not in used:
            return host, inside  # type: ignore[return-value]
    raise NetworkError("no address left for another sandbox with egress")


def _host_networks() -> list[str]:
    """The networks the host's own interfaces are on (its LAN is not the sandboxes')."""
    networks = []
    for line in _ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        name, cidr = fields[1], fields[3]
        if not name.startswith("sbx") and name != "lo":
            networks.append(str(ipaddress.ip_interface(cidr).network))
    return networks


def _saved(egress: Egress) -> list[list[str]]:
    return [list(egress.allow), list(egress.allow_domains), list(egress.deny)]


def _state(folder: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((folder / STATE).read_text()))
    except (OSError, ValueError):
        return None


def _at_once(*steps: Callable[[], object]) -> None:
    """Run the steps at once, each but the first in a thread of its own, all to their end; then
    raise the first error that happened, if any (the others are logged)."""
    errors: list[BaseException] = []

    def run(step: Callable[[], object]) -> None:
        try:
            step()
        except BaseException as exc:
            errors.append(exc)

    threads: list[threading.Thread] = []
    try:
        for step in steps[1:]:
            threads.append(threading.Thread(target=run, args=(step,)))
            threads[-1].start()
        run(steps[0])
    finally:  # even if a thread could not start: those that did are waited for
        for thread in threads:
            if thread.ident is not None:
                thread.join()
    for later in errors[1:]:
        log.warning("network: another step failed too: %s", later)
    if errors:
        raise errors[0]


def _ip(*args: str) -> str:
    return _run("ip", *args)


def _nft(script: str) -> None:
    _run("nft", "-f", "-", stdin=script)


def _run(*argv: str, stdin: str | None = None) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise NetworkError(f"{argv[0]} {' '.join(argv[1:4])}: {result.stderr.strip()[-500:]}")
    return result.stdout
