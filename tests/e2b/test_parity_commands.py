"""E2B's commands, as its own SDK tests expect them: output ending in a broken UTF-8 sequence,
a sandbox killed while a command runs, and passwordless sudo for `user` (with per-command
variables that sudo's reset environment does not pass on)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2b import Sandbox
from e2b.exceptions import TimeoutException

from tests.conftest import RUN_ID

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sbx = Sandbox.create(metadata={"test_run": RUN_ID})
    yield sbx
    sbx.kill()


def test_run_with_broken_utf8(sandbox: Sandbox) -> None:
    long_str = "a" * 8191 + "\\xe2"
    result = sandbox.commands.run(f'printf "{long_str}"')
    assert result.exit_code == 0
    assert result.stdout == "a" * 8191 + "\ufffd"


def test_sudo_as_in_e2b(sandbox: Sandbox) -> None:
    cmd = sandbox.commands.run("echo $FOO", envs={"FOO": "bar"})
    assert cmd.stdout.strip() == "bar"
    # The variable is the command's only: not the next one's, sudo or not.
    cmd2 = sandbox.commands.run('sudo echo "$FOO"')
    assert cmd2.exit_code == 0 and cmd2.stdout.strip() == ""
    who = sandbox.commands.run("sudo whoami; sudo -u user whoami; id -un")
    assert who.stdout == "root\nuser\nuser\n"
    # sudo resets the environment (env_reset), -E keeps it; the exit status is the command's.
    kept = sandbox.commands.run("sudo sh -c 'echo ${FOO:-unset}'; sudo -E sh -c 'echo $FOO'",
                                envs={"FOO": "bar"})  # fmt: skip
    assert kept.stdout == "unset\nbar\n"
    status = sandbox.commands.run("sudo sh -c 'exit 3'; echo $?", envs={})
    assert status.stdout.strip() == "3"
    piped = sandbox.commands.run("echo from-stdin | sudo cat")
    assert piped.stdout == "from-stdin\n"


def test_sandbox_killed_during_run() -> None:
    sandbox = Sandbox.create(metadata={"test_run": RUN_ID})
    cmd = sandbox.commands.run("sleep 60", background=True)
    sandbox.kill()
    with pytest.raises(TimeoutException) as killed:
        cmd.wait()
    assert "sandbox was killed or reached its end of life" in str(killed.value)
