"""Issue 19: CRIU's restore starts inside the sandbox's cgroups by a shell that joins them and
becomes CRIU (no preexec_fn, so the front end is not forked whole); a failure to join or a
missing binary is a CriuError naming it, never a run of CRIU outside its cgroups."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from interpreter.runtime import criu


def test_the_command_runs_in_the_processes_the_cgroups_name(tmp_path: Path) -> None:
    # Plain files stand in for cgroup.procs: what is written there is the PID that then runs.
    cgroups = [tmp_path / "memory", tmp_path / "pids"]
    for folder in cgroups:
        folder.mkdir()
    script = tmp_path / "fake-criu"
    script.write_text(f'#!/bin/sh\necho $$ > {tmp_path}/ran\n[ "$1" = restore ]\n')
    script.chmod(0o755)
    criu._run([str(script), "restore"], tmp_path / "log", "restore", 10, cgroups=cgroups)
    ran = (tmp_path / "ran").read_text().strip()
    assert [(folder / "cgroup.procs").read_text().strip() for folder in cgroups] == [ran, ran]


def test_a_cgroup_that_cannot_be_joined_stops_it(tmp_path: Path) -> None:
    script = tmp_path / "fake-criu"
    script.write_text(f"#!/bin/sh\ntouch {tmp_path}/ran\n")
    script.chmod(0o755)
    gone = tmp_path / "no-such-cgroup"
    with pytest.raises(criu.CriuError, match="could not start.*no-such-cgroup"):
        criu._run([str(script)], tmp_path / "log", "restore", 10, cgroups=[gone])
    assert not (tmp_path / "ran").exists()


def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "criu")
    with pytest.raises(criu.CriuError, match=f"CRIU not found at {missing}"):
        criu._run([missing, "restore"], tmp_path / "log", "restore", 10, cgroups=[tmp_path])
    assert os.listdir(tmp_path) == []
