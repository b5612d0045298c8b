"""A sandbox's network, as a create or an update asks for it: egress on or off, and the
addresses and domains it may or may not reach. Declared once here, checked here (every entry
is the caller's: a bad one is a 400 naming it), translated into by every surface (E2B's
``allow_internet_access`` and ``network``), enforced by the runtime (runtime/network.py)."""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field

from interpreter.core.errors import InvalidRequestError

MAX_ENTRIES = 100  # per list
ALL_TRAFFIC = "0.0.0.0/0"  # E2B's selector for every address
# A host name as DNS has it (labels of letters, digits and hyphens), optionally "*." first.
_DOMAIN = re.compile(r"^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class Network(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Egress (outbound traffic); off: loopback only.")
    allow_out: list[str] = Field(
        default_factory=list,
        description=f"At most {MAX_ENTRIES} IPv4 addresses, CIDRs and domain names the "
        "sandbox may reach even when deny_out covers them (e.g. deny_out ['0.0.0.0/0'] with "
        "allow_out ['pypi.org'] is an allow list). A domain allows what it resolves to "
        "through the sandbox's DNS. Private ranges and the host's networks are reachable "
        "only when an entry here names them.",
    )
    public: bool = Field(
        True,
        description="Its ports answer E2B's {port}-{id}.{domain} hosts without the sandbox's "
        "traffic token (E2B's allowPublicTraffic); the native ports route always takes the key.",
    )
    deny_out: list[str] = Field(
        default_factory=list,
        description=f"At most {MAX_ENTRIES} IPv4 addresses and CIDRs the sandbox may not "
        "reach ('0.0.0.0/0': all).",
    )


def checked(network: Network) -> Network:
    """The same rules with every entry checked and normalized (CIDRs in network form, domains
    in lower case); raises InvalidRequestError naming a bad one."""
    for field, entries in (("allow_out", network.allow_out), ("deny_out", network.deny_out)):
        if len(entries) > MAX_ENTRIES:
            raise InvalidRequestError(
                f"network.{field}: {len(entries)} entries, at most {MAX_ENTRIES}"
            )
    allow = [_entry(entry, "allow_out", domains=True) for entry in network.allow_out]
    deny = [_entry(entry, "deny_out", domains=False) for entry in network.deny_out]
    return Network(enabled=network.enabled, allow_out=allow, deny_out=deny, public=network.public)


def is_domain(entry: str) -> bool:
    return _DOMAIN.match(entry) is not None


def _entry(entry: str, field: str, domains: bool) -> str:
    text = entry.strip().lower()
    try:
        address = ipaddress.ip_network(text, strict=False)
    except ValueError:
        if domains and is_domain(text):
            return text.removeprefix("*.")  # dnsmasq's /domain/ covers its subdomains
        kind = "an IPv4 address, a CIDR or a domain name" if domains else "an IPv4 address or CIDR"
        raise InvalidRequestError(f"network.{field}: {entry!r} is not {kind}") from None
    if address.version != 4:
        raise InvalidRequestError(f"network.{field}: {entry!r}: IPv6 is not routed to sandboxes")
    return str(address)
