"""The kernel's per-user budgets, made per sandbox.

Every sandbox runs as the same host ids (images' files belong to them), so what Linux counts
per user is shared by all sandboxes unless something else bounds it. Two kinds:

* Counted in user namespaces (inotify instances and watches, fanotify groups and marks): each
  sandbox's count is checked against its own user namespace's limit and then, at the host level,
  against a total that every sandbox (and host root, their namespaces' owner) shares. Each
  sandbox gets its own limit, written into its namespace by host root (``nsenter``: root inside
  lacks CAP_SYS_RESOURCE, so it cannot raise it), and the host totals are raised to cover a
  thousand sandboxes at theirs: one sandbox at its limit leaves the others' ``watch_dir`` alone.
* Memory kept per host uid (pipe buffers: ``fs.pipe-user-pages-soft``; epoll watches): the
  pages and objects are charged to the sandbox's memory cgroup anyway, which bounds each sandbox;
  the per-uid caps are lifted, or one sandbox's pipes would leave every other's with one page.

Keys (keyctl, add_key) are denied by the seccomp policy; processes, pending signals and message
queues are counted per user namespace against the sandbox's own rlimits (and pids.max).
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

# Each sandbox's, in its user namespace (/proc/sys/user/ inside).
PER_SANDBOX = {
    "max_inotify_instances": 128,  # Linux's default per user
    "max_inotify_watches": 65536,
    "max_fanotify_groups": 128,
    "max_fanotify_marks": 65536,
}
SANDBOXES_COVERED = 1024
# The host's, set when the runtime starts (only ever raised): the same values as the initial
# namespace's /proc/sys/user/ ones, under names host root may write without CAP_SYS_RESOURCE.
HOST = {
    "/proc/sys/fs/inotify/max_user_instances": "max_inotify_instances",
    "/proc/sys/fs/inotify/max_user_watches": "max_inotify_watches",
    "/proc/sys/fs/fanotify/max_user_groups": "max_fanotify_groups",
    "/proc/sys/fs/fanotify/max_user_marks": "max_fanotify_marks",
}
EPOLL_WATCHES = Path("/proc/sys/fs/epoll/max_user_watches")
PIPE_USER_PAGES_SOFT = Path("/proc/sys/fs/pipe-user-pages-soft")  # 0: no per-user cap


def raise_host_totals() -> None:
    totals = {Path(p): PER_SANDBOX[k] * SANDBOXES_COVERED for p, k in HOST.items()}
    for path, value in {**totals, EPOLL_WATCHES: 2**31 - 1}.items():
        try:
            if int(path.read_text()) < value:
                path.write_text(str(value))
        except (OSError, ValueError) as exc:
            log.warning("could not raise %s to %d: %s", path, value, exc)
    try:
        if PIPE_USER_PAGES_SOFT.read_text().strip() != "0":
            PIPE_USER_PAGES_SOFT.write_text("0")
    except OSError as exc:
        log.warning("could not lift %s: %s", PIPE_USER_PAGES_SOFT, exc)


def apply(jail_pid: int) -> None:
    """Set the per-sandbox limits in the user namespace of the jail's PID 1 (after every launch
    or restore: a restored namespace is a new one)."""
    # As root of the sandbox's namespace (an unprivileged id on the host): nsenter becomes it,
    # so the shell it runs keeps the namespace's capabilities. Its id maps come first.
    deadline = time.monotonic() + 5.0
    while not _mapped(jail_pid):
        if time.monotonic() > deadline:
            raise OSError("the sandbox's user namespace got no id maps")
        time.sleep(0.001)
    script = "".join(f"echo {v} > /proc/sys/user/{k}\n" for k, v in PER_SANDBOX.items())
    result = subprocess.run(
        ["nsenter", "--user", "--target", str(jail_pid), "--", "/bin/sh", "-ec", script],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise OSError(f"could not set the sandbox's kernel budgets: {result.stderr.strip()}")


def _mapped(pid: int) -> bool:
    try:
        return all(Path(f"/proc/{pid}/{m}").read_text().strip() for m in ("uid_map", "gid_map"))
    except FileNotFoundError:
        raise OSError(f"the sandbox's first process {pid} is gone") from None
