"""Whom the OOM killer takes first when a sandbox reaches its memory limit: the user's work.

The kernel takes the process with the highest score: its memory plus oom_score_adj thousandths
of the limit. The supervisor and the agent stay at 0, so a bomb's or a hog's processes go first
and the agent lives to stream their end (taking it broke every call in flight). Lowering a score
needs CAP_SYS_RESOURCE, which no one here has (not even the host's root on every machine): the
rest go up, from the writable /proc the jail gets for it (interpreter/runtime/jail.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

COMMANDS = 800  # commands and what sudo runs: a fork bomb's copies are small, each must score
KERNELS = 300  # the gateway and its kernels (a kernel holds the user's variables: after commands)


def child_setup(
    score: int, uid: int = 0, gid: int = 0, groups: list[int] | None = None
) -> Callable[[], None]:
    """A ``preexec_fn`` (in place of Popen's user/group/extra_groups): the child and what it
    starts score ``score`` more, then it becomes ``uid``. In this order: a process that changed
    its uid is not dumpable until it execs, and its /proc/self/oom_score_adj is then not its own."""

    def apply() -> None:
        with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as adj:
            adj.write(str(score))  # (a /proc that is not writable: the scores stay as they are)
        if uid != 0:
            os.setgroups(groups or [])
            os.setgid(gid)
            os.setuid(uid)

    return apply
