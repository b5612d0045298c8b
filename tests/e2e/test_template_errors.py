"""Template builds that fail, and bad requests: each a clear error naming the problem (the
line of the Dockerfile, the failed step with its exit code and output), nothing half-made."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import RUN_ID, Server

pytestmark = pytest.mark.timeout(300)


def build(server: Server, **body: object) -> httpx.Response:
    with server.client() as client:
        return client.post("/v1/templates", json={"name": f"bad-{RUN_ID}", **body})


def wait(server: Server, name: str, build_id: str) -> dict[str, object]:
    with server.client() as client:
        for _ in range(600):
            answer: dict[str, object] = client.get(f"/v1/templates/{name}/builds/{build_id}").json()
            if answer["status"] in ("ready", "error"):
                return answer
            time.sleep(0.2)
    raise AssertionError("the build did not end")


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (
            "FROM code-interpreter\nRUN true\nFROBNICATE now\n",
            "line 3 (FROBNICATE): unknown instruction",
        ),
        ("RUN true\n", "line 1 (RUN): the Dockerfile must start with FROM"),
        ("FROM code-interpreter\nCOPY ../secret /x\n", "'../secret' is outside the build context"),
        (
            "FROM code-interpreter\nCOPY /etc/passwd /x\n",
            "'/etc/passwd' is outside the build context",
        ),
        (
            "FROM code-interpreter\nFROM base\n",
            "line 2 (FROM): multi-stage builds are not supported",
        ),
        (
            "FROM code-interpreter\nCOPY --from=x a b\n",
            "COPY --from (multi-stage) is not supported",
        ),
        ("FROM python:3.12\n", "FROM 'python:3.12': not a template of this service"),
    ],
)
def test_a_dockerfile_it_cannot_build_is_a_400_naming_the_line(
    server: Server, dockerfile: str, message: str
) -> None:
    response = build(server, dockerfile=dockerfile, files_hash="0" * 64)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    if "python:3.12" in dockerfile:  # the bases there are
        assert "'code-interpreter'" in response.json()["error"]["message"]


@pytest.mark.parametrize("name", ["Upper", "a/b", "x" * 64, "-lead", "spa ce", "code-interpreter"])
def test_template_names_are_checked(server: Server, name: str) -> None:
    with server.client() as client:
        response = client.post("/v1/templates", json={"name": name, "dockerfile": "FROM base\n"})
    assert response.status_code == 400, response.text


def test_a_failing_run_gives_its_step_exit_code_and_output(server: Server) -> None:
    from interpreter_sdk import TemplateBuildError, Templates

    dockerfile = "FROM base\nRUN echo first\nRUN echo to-stderr >&2; echo last words; exit 7\n"
    with Templates() as templates, pytest.raises(TemplateBuildError) as failed:
        templates.build(f"fails-{RUN_ID}", dockerfile)
    # Steps: USER root, WORKDIR / (as Docker's), then the Dockerfile's: the RUN is step 4.
    assert failed.value.step == "4"
    assert "step 4 failed: exit code 7" in str(failed.value)
    assert "to-stderr" in str(failed.value) and "last words" in str(failed.value)
    with Templates() as templates:
        assert templates.get(f"fails-{RUN_ID}").build_id is None  # nothing ready to create
        templates.delete(f"fails-{RUN_ID}")


def test_a_start_command_that_fails_or_a_ready_command_that_never_succeeds(
    server: Server,
) -> None:
    name = f"start-{RUN_ID}"
    started = build(
        server, name=name, dockerfile="FROM base\n", start_cmd="echo starting; exit 3",
        ready_cmd="false",
    ).json()  # fmt: skip
    failed = wait(server, name, str(started["id"]))
    reason = failed["reason"]
    assert isinstance(reason, dict) and reason["step"] == "finalize"
    assert "the start command ended (exit code 3)" in reason["message"]
    assert "starting" in reason["message"]
    timed = build(server, name=name, dockerfile="FROM base\n", ready_cmd="false", ready_timeout=3)
    failed = wait(server, name, str(timed.json()["id"]))
    assert "did not succeed within 3 s" in failed["reason"]["message"]  # type: ignore[index]
    with server.client() as client:
        assert client.delete(f"/v1/templates/{name}").status_code == 204


def test_one_build_of_a_template_at_a_time_and_no_delete_in_use(
    server: Server, sandbox_factory
) -> None:
    name = f"busy-{RUN_ID}"
    first = build(server, name=name, dockerfile="FROM base\nRUN sleep 3\n", ready_cmd="true")
    assert first.status_code == 202, first.text
    second = build(server, name=name, dockerfile="FROM base\n")
    assert second.status_code == 409 and "one build of a template at a time" in second.text
    done = wait(server, name, first.json()["id"])
    assert done["status"] == "ready" and done["layers"]
    assert all((Path(server.home) / "layers" / k / "rootfs").is_dir() for k in done["layers"])
    sbx = sandbox_factory(template=name)
    with server.client() as client:
        refused = client.delete(f"/v1/templates/{name}")
        assert refused.status_code == 409 and sbx.sandbox_id in refused.text
        sbx.kill()
        assert client.delete(f"/v1/templates/{name}").status_code == 204
        assert client.get(f"/v1/templates/{name}").status_code == 404
    assert not any((Path(server.home) / "layers" / k).exists() for k in done["layers"])


def test_uploaded_files_with_a_way_out_are_refused(server: Server, tmp_path: Path) -> None:
    import io
    import tarfile

    for name, kind in (
        ("../escape", tarfile.REGTYPE),
        ("/abs", tarfile.REGTYPE),
        ("dev", tarfile.CHRTYPE),
    ):
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.type = kind
            tar.addfile(info, io.BytesIO(b""))
        with server.client() as client:
            response = client.put(f"/v1/templates/files/{'1' * 64}", content=data.getvalue())
        assert response.status_code == 400, response.text
    with server.client() as client:
        assert client.get(f"/v1/templates/files/{'1' * 64}").json() == {"present": False}
        assert client.put("/v1/templates/files/not-a-hash", content=b"x").status_code == 422


def test_the_sdk_refuses_a_context_link_that_points_out(tmp_path: Path, server: Server) -> None:
    from interpreter_sdk import InvalidRequestError, Templates

    (tmp_path / "out").symlink_to("/etc")
    with Templates() as templates, pytest.raises(InvalidRequestError, match="links out"):
        templates.upload_context(tmp_path)
