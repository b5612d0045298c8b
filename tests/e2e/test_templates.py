"""Templates built from a Dockerfile through the real server: steps in build sandboxes (egress to
this machine's package index), cached layers, a start command serving HTTP made ready by its
port, and sandboxes restored from the template's snapshot with that server running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RUN_ID, Server

pytestmark = pytest.mark.timeout(600)

NAME = f"app-{RUN_ID}"
DOCKERFILE = """\
FROM code-interpreter
ARG SIX=1.16.0
# This machine's index is behind a TLS proxy whose CA the host trusts: pip is given it.
ENV PIP_CERT=/etc/host-ca.pem GREETING="hello from the template"
COPY host-ca.pem /etc/host-ca.pem
COPY app/ /srv/app/
RUN pip install --no-cache-dir six==$SIX
RUN echo "made by RUN" > /srv/app/made.txt && chown -R user /srv/app
WORKDIR /srv/app
USER user
CMD ["python3", "-m", "http.server", "8123"]
"""
READY = '[ -n "$(ss -Htuln sport = :8123)" ]'


def context(folder: Path, dockerfile: str = DOCKERFILE) -> Path:
    (folder / "app").mkdir(parents=True, exist_ok=True)
    (folder / "app" / "index.html").write_text("<h1>served by the template</h1>")
    (folder / "host-ca.pem").write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    (folder / "Dockerfile").write_text(dockerfile)
    return folder


@pytest.fixture(scope="module")
def built(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    from interpreter_sdk import Templates

    folder = context(tmp_path_factory.mktemp("template"))
    logs: list[str] = []
    with Templates() as templates:
        started = time.monotonic()
        first = templates.build(
            NAME,
            folder / "Dockerfile",
            folder,
            ready_cmd=READY,
            on_log=lambda e: logs.append(e.message),
        )
        cold = time.monotonic() - started
        yield {"build": first, "logs": logs, "folder": folder, "seconds": cold}
        for info in templates.list():
            if RUN_ID in info.name:
                templates.delete(info.name)


def test_a_sandbox_of_the_template_has_what_its_dockerfile_made(
    built: dict[str, object], sandbox_factory
) -> None:
    logs = built["logs"]
    assert any("Successfully installed six-1.16.0" in line for line in logs) or any(
        "cached" in line for line in logs
    )
    started = time.monotonic()
    sbx = sandbox_factory(template=NAME)
    took = time.monotonic() - started
    run = sbx.run_code(
        "import os, six\n"
        "print(six.__version__, os.environ['GREETING'], open('/srv/app/made.txt').read().strip())"
    )
    assert run.logs.stdout == ["1.16.0 hello from the template made by RUN\n"], run
    # The start command's server runs from the start (restored from the template's snapshot).
    served = sbx.commands.run("curl -s localhost:8123/index.html; echo; pwd; whoami")
    assert served.stdout == "<h1>served by the template</h1>\n/srv/app\nuser\n"
    assert any(c.cmd == "python3 -m http.server 8123" and c.status == "running"
               for c in sbx.commands.list())  # fmt: skip
    # Copied files: Docker's owner (root) without --chown; the RUN's chown holds.
    owners = sbx.commands.run("stat -c '%U %n' /etc/host-ca.pem /srv/app/index.html").stdout
    assert owners == "root /etc/host-ca.pem\nuser /srv/app/index.html\n"
    assert took < 30


def test_the_server_answers_through_the_front_end_at_create(
    built: dict[str, object], server: Server, sandbox_factory
) -> None:
    sbx = sandbox_factory(template=NAME)
    response = httpx.get(
        f"{server.url}/v1/sandboxes/{sbx.sandbox_id}/ports/8123/index.html",
        headers={"X-API-Key": server.api_key},
    )
    assert response.status_code == 200 and "served by the template" in response.text


def test_a_second_build_reuses_every_step(built: dict[str, object]) -> None:
    from interpreter_sdk import Templates

    folder = built["folder"]
    first = built["build"]
    with Templates() as templates:
        again = templates.build(NAME, folder / "Dockerfile", folder, ready_cmd=READY)
    assert again.built_steps == 0
    assert again.cached_steps == first.built_steps + first.cached_steps > 0  # type: ignore[attr-defined]


def test_cli_init_and_build(server: Server, tmp_path: Path) -> None:
    env = {"INTERPRETER_API_URL": server.url, "INTERPRETER_API_KEY": server.api_key}
    cli = [sys.executable, "-m", "interpreter.cli", "template"]
    init = subprocess.run([*cli, "init", "--path", str(tmp_path)], capture_output=True, text=True)
    assert init.returncode == 0 and (tmp_path / "Dockerfile").read_text().startswith("# A template")
    (tmp_path / "Dockerfile").write_text("FROM base\nRUN echo from-the-cli > /tmp/cli.txt\n")
    name = f"cli-{RUN_ID}"
    build = subprocess.run(
        [*cli, "build", "--name", name, "--path", str(tmp_path), "--cmd", "sleep infinity",
         "--ready-cmd", "pgrep sleep"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    assert build.stdout.strip() == name
    assert "[2/" in build.stderr and "RUN echo from-the-cli" in build.stderr
    listed = subprocess.run(
        [*cli, "list"], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert f"{name}\tready" in listed.stdout and "code-interpreter\tbuilt-in" in listed.stdout
    deleted = subprocess.run(
        [*cli, "delete", name], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert deleted.returncode == 0 and f"deleted {name}" in deleted.stdout


def test_the_base_template_has_the_everyday_tools(sandbox_factory) -> None:
    sbx = sandbox_factory(template="base")
    tools = "git --version && curl --version && wget --version && node --version && gcc --version"
    # sudo is configured as in E2B's (NOPASSWD for `user`), but the jail's no_new_privs keeps
    # it from raising anyone: run commands as root with user="root".
    result = sbx.commands.run(
        f"{tools} && ps -e && ss -V && test -f /etc/sudoers.d/user", check=False
    )
    assert result.exit_code == 0, result.stderr
    assert sbx.run_code("print(1 + 1)").logs.stdout == ["2\n"]
    # No pandas here: the kernel starts without it, its output bounds still set.
    assert sbx.run_code("import sys; 'pandas' in sys.modules").text == "False"


def test_a_template_built_on_a_built_one(built: dict[str, object], sandbox_factory) -> None:
    from interpreter_sdk import Templates

    name = f"child-{RUN_ID}"
    dockerfile = f"FROM {NAME}\nRUN echo child > /srv/app/child.txt\nWORKDIR /srv/app\n"
    with Templates() as templates:
        child = templates.build(name, dockerfile, ready_cmd=READY)
    assert child.built_steps >= 1
    sbx = sandbox_factory(template=name)
    # Its parent's layers, variables and start command (its server), and its own step.
    seen = sbx.commands.run(
        "cat child.txt made.txt; echo $GREETING; curl -s localhost:8123/index.html"
    )
    assert seen.stdout == (
        "child\nmade by RUN\nhello from the template\n<h1>served by the template</h1>"
    )


def test_a_snapshot_whose_set_up_cell_fails_gives_cold_sandboxes(
    server: Server, sandbox_factory
) -> None:
    """A restore's set-up cell (fresh seeds) runs while the bring-up goes on (issue 19); its
    failure still fails the restore: the sandbox is booted cold, not handed out unseeded."""
    from interpreter_sdk import Templates

    name = f"noseed-{RUN_ID}"
    startup = "/home/user/.ipython/profile_default/startup"
    dockerfile = (
        "FROM code-interpreter\n"
        f"RUN mkdir -p {startup} && echo 'import random; random.seed = None' > {startup}/00.py"
        " && chown -R user /home/user/.ipython\n"
    )
    with Templates() as templates:
        templates.build(name, dockerfile)
        try:
            sbx = sandbox_factory(template=name)
            run = sbx.run_code("import random; print(random.seed)")
            assert run.error is None and run.logs.stdout == ["None\n"], run
            log = server.log.read_text()
            assert f"sandbox {sbx.sandbox_id} restored from the " not in log
            failed = log.index(f"restore from the {name} snapshot failed: starting cold")
            why = log[failed:].split("\nINFO", 1)[0]  # its traceback
            assert "setup code failed in the kernel: TypeError" in why, why
            sbx.kill()
        finally:
            # The failed restore has the snapshot taken again (and failing again): let it end.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and any(
                s["template"] == name and s["snapshot"] == "pending"
                for s in httpx.get(
                    f"{server.url}/v1/pool", headers={"X-API-Key": server.api_key}
                ).json()
            ):
                time.sleep(0.2)
            templates.delete(name)
