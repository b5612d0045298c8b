"""What confines a sandbox's processes besides its namespaces and cgroups: a seccomp policy and
a short list of capabilities for root inside (nsjail applies both; CRIU dumps and restores them
with each process).

Root inside (the supervisor, the agent, commands run as root) keeps only what its work needs,
within the sandbox's user namespace: to become `user` (setuid/setgid/setgroups, the agent's
per-request fsuid/fsgid), to act on `user`'s files as root does (read, write, chown, chmod them
whatever their mode), to signal `user`'s processes (the agent's kill, the supervisor's reaping
of a bomb's strays), to bind ports below 1024 (a server run as root) and to configure its own
network namespace (addresses and routes on its loopback: the pause tests do; netfilter's netlink
sockets are denied by the seccomp policy). Not CAP_SYS_ADMIN (mounts, namespaces' settings),
CAP_NET_RAW (raw and packet sockets), CAP_SYS_PTRACE (other users' processes), CAP_MKNOD,
CAP_SETPCAP, CAP_SETFCAP, CAP_SYS_CHROOT, nor any other. `user` has none (setuid clears them),
and nsjail sets no_new_privs: no setuid binary or file capability gives any back.

/proc is mounted writable: the supervisor and the agent raise the OOM scores of what they start
(sandbox/oom.py). What that gives root inside is its own processes' files and the sysctls of its
own namespaces (network: it has CAP_NET_ADMIN there anyway); every other sysctl, the per-user
budgets the host sets in its user namespace (no CAP_SYS_RESOURCE) and /proc/sysrq-trigger stay
the host's: the kernel checks them against the host's root (tests/security/test_syscalls.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SECCOMP_POLICY = Path(__file__).with_name("seccomp.policy")
CAPABILITIES = (
    "CAP_SETUID", "CAP_SETGID",
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN",
)  # fmt: skip


def nsjail_args() -> list[str]:
    return [
        "--seccomp_policy",
        str(SECCOMP_POLICY),
        *[a for c in CAPABILITIES for a in ("--cap", c)],
        "--proc_rw",
    ]


def fingerprint() -> str:
    """Changes with the policy or the capabilities: a template snapshot taken under other ones
    is not restored (its processes would come back with the old confinement)."""
    digest = hashlib.sha256(SECCOMP_POLICY.read_bytes())
    digest.update("\0".join((*CAPABILITIES, "proc_rw")).encode())
    return digest.hexdigest()[:16]
