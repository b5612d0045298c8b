"""E2B's Template SDK (PyPI `e2b`, unmodified) building through E2B's templates API here: file
uploads by hash, steps, streamed build logs, start and ready commands; a failed step raised as
E2B raises it, pointing at the builder call that made the step; exists, tags."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2b import BuildException, Template, wait_for_port
from e2b_code_interpreter import Sandbox

from tests.conftest import RUN_ID, Server

pytestmark = pytest.mark.timeout(600)
NAME = f"e2b-{RUN_ID}"


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory, server: Server) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("e2b-template")
    (folder / "app").mkdir()
    (folder / "app" / "note.txt").write_text("uploaded by E2B's SDK\n")
    (folder / "ca.pem").write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    yield folder
    with server.client() as client:
        for template in client.get("/v1/templates").json():
            if RUN_ID in template["name"]:
                client.delete(f"/v1/templates/{template['name']}")


def test_template_build_and_a_sandbox_of_it(context: Path, e2b_metadata: dict[str, str]) -> None:
    template = (
        Template(file_context_path=str(context))
        .from_template("code-interpreter")
        .copy("ca.pem", "/tmp/ca.pem")
        .set_envs({"PIP_CERT": "/tmp/ca.pem", "FROM_E2B": "yes-$HOME"})
        .pip_install("six==1.16.0")
        .copy("app", "/home/user/app")
        .make_dir("/home/user/made")
        .set_workdir("/home/user/app")
        .set_start_cmd("python3 -m http.server 8126", wait_for_port(8126))
    )
    logs: list[str] = []
    info = Template.build(template, NAME, on_build_logs=lambda entry: logs.append(entry.message))
    assert info.name == NAME and info.template_id == NAME
    assert any("Successfully installed six-1.16.0" in line for line in logs), logs
    assert any("snapshot taken" in line for line in logs)
    assert Template.exists(NAME) and not Template.exists(f"missing-{RUN_ID}")
    sbx = Sandbox.create(NAME, metadata=e2b_metadata)
    try:
        run = sbx.commands.run(
            "pwd; cat note.txt; echo $FROM_E2B; test -d /home/user/made && echo made; "
            "curl -s -o /dev/null -w '%{http_code}' localhost:8126"
        )
        assert run.stdout == "/home/user/app\nuploaded by E2B's SDK\nyes-/home/user\nmade\n200"
        assert sbx.run_code("import six; six.__version__").text == "1.16.0"
    finally:
        sbx.kill()
    # Built again: every step cached, nothing uploaded again.
    logs.clear()
    Template.build(template, NAME, on_build_logs=lambda entry: logs.append(entry.message))
    assert any("Skipping upload of 'app', already cached" in line for line in logs)
    assert not any("Successfully installed" in line for line in logs)
    assert sum("cached" in line for line in logs) >= 4


def test_a_failed_step_points_at_its_builder_call() -> None:
    template = Template().from_template("base").run_cmd("echo fine")
    template = template.run_cmd("echo oops >&2; exit 5")  # the failing step
    failing_line = traceback.extract_stack()[-1].lineno - 1
    with pytest.raises(BuildException) as failed:
        Template.build(template, f"{NAME}-fails")
    assert "step 2 failed: exit code 5" in str(failed.value) and "oops" in str(failed.value)
    lines = [frame.lineno for frame in traceback.extract_tb(failed.value.__traceback__)]
    assert failing_line in lines, (failing_line, lines)


def test_tags(context: Path) -> None:
    Template.build(Template().from_template("base").run_cmd("echo tagged"), f"{NAME}-tags:v1")
    assert {t.tag for t in Template.get_tags(f"{NAME}-tags")} == {"default", "v1"}
    Template.assign_tags(f"{NAME}-tags:v1", ["stable"])
    assert {t.tag for t in Template.get_tags(f"{NAME}-tags")} == {"default", "v1", "stable"}
    Template.remove_tags(f"{NAME}-tags", ["stable"])
    assert Template.exists(f"{NAME}-tags:v1") and not Template.exists(f"{NAME}-tags:stable")


def test_build_in_background_and_its_status() -> None:
    import time

    name = f"{NAME}-background"
    template = Template().from_template("base").run_cmd("echo in the background")
    info = Template.build_in_background(template, name)
    assert info.template_id == name
    deadline = time.monotonic() + 240
    while True:
        status = Template.get_build_status(info)
        if status.status.value in ("ready", "error") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status.status.value == "ready", status.reason
    assert Template.exists(name)
