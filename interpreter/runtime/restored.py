"""A sandbox's process tree restored by CRIU, from a paused sandbox's checkpoint or from a
snapshot, into cgroups with nsjail's limits, named as nsjail names its own: from then on the
restored tree is found, limited and killed as a launched one is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from interpreter.core.config import Settings
from interpreter.runtime import budgets, criu, linux
from interpreter.runtime.base import Limits


def restore_tree(
    settings: Settings,
    sandbox_id: str,
    images: Path,
    folder: Path,
    limits: Limits,
    *,
    fresh_network: bool,
    work_dir: Path | None = None,
    external_mounts: Sequence[tuple[str, Path]] = (),
) -> int:
    """Restore the tree in ``images`` on ``folder``'s root and run folder; its PID 1's host PID.
    On any failure nothing of it is left (its cgroups killed and removed)."""
    cgroups = linux.create_cgroups(
        f"restore.{sandbox_id}",
        {
            **linux.memory_limits(limits.memory_mb),
            "pids.max": str(settings.pids_max),
            "cpu.cfs_period_us": "1000000",
            # CRIU copies the pages in the restored tasks, inside these cgroups: not throttled...
            "cpu.cfs_quota_us": "-1",
        },
    )
    try:
        pid = criu.restore(
            settings.criu,
            images,
            folder / "root",
            folder / "run",
            cgroups,
            fresh_network=fresh_network,
            work_dir=work_dir,
            external_mounts=external_mounts,
        )
        cgroups = linux.rename_cgroups(cgroups, f"{linux.NSJAIL_CGROUP_PARENT}.{pid}")
        # ...then the sandbox's own quota.
        cpu = cgroups[linux.CGROUP_CONTROLLERS.index("cpu")]
        (cpu / "cpu.cfs_quota_us").write_text(str(int(limits.cpu * 1000) * 1000))
        budgets.apply(pid)
    except BaseException:
        for cgroup in cgroups:
            linux.kill_cgroup(cgroup)
        raise
    return pid
