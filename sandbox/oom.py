"""Whom the OOM killer takes first when a sandbox reaches its memory limit: the user's work.

The kernel takes the process with the highest score: its memory plus oom_score_adj thousandths
of the limit. The supervisor and the agent stay at 0, so a bomb's or a hog's processes go first
and the agent lives to stream their end (taking it broke every call in flight). Lowering a score
needs CAP_SYS_RESOURCE, which no one here has (not even the host's root on every machine): the
rest go up, from the writable /proc the jail gets for it (interpreter/runtime/jail.py).
"""

from __future__ import annotations

COMMANDS = 800  # commands and what sudo runs: a fork bomb's copies are small, each must score
KERNELS = 300  # the gateway and its kernels (a kernel holds the user's variables: after commands)


def scored(argv: list[str], score: int) -> list[str]:
    """``argv``, started by a shell that raises its own score and then execs it (the same pid,
    and what it starts inherits the score). Not a ``preexec_fn``: the agent has threads, and a
    forked child of a threaded process must not run Python. After the exec the process is
    dumpable again, so /proc/self/oom_score_adj is its own whatever uid Popen gave it."""
    script = f'echo {int(score)} >/proc/self/oom_score_adj 2>/dev/null; exec "$@"'
    return ["/bin/sh", "-c", script, "sh", *argv]
