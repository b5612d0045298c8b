"""Template builds are tenant code too: what a build step writes (links, whiteouts, our own
start-up folder replaced) and what an uploaded context holds (links out, climbing names) never
makes the host read or write outside the sandbox. Each attack against the real front end."""

from __future__ import annotations

import io
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RUN_ID, Server

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """A host folder with a file the attacks aim at."""
    folder = tmp_path / "host-target"
    folder.mkdir()
    (folder / "keep.txt").write_text("host data")
    yield folder
    assert (folder / "keep.txt").read_text() == "host data"


def build(server: Server, name: str, **body: object) -> dict[str, object]:
    with server.client() as client:
        started = client.post("/v1/templates", json={"name": name, **body})
        assert started.status_code == 202, started.text
        for _ in range(900):
            build = client.get(f"/v1/templates/{name}/builds/{started.json()['id']}").json()
            if build["status"] in ("ready", "error"):
                assert isinstance(build, dict)
                return build
            time.sleep(0.2)
    raise AssertionError("the build did not end")


def test_a_step_that_plants_links_and_replaces_our_start_up_code(
    server: Server, marker: Path, sandbox_factory
) -> None:
    """The step's layer is copied without following its links; /opt/interpreter (ours, on top
    of every template) cannot be swapped for a link to the host; links stay the sandbox's."""
    name = f"links-{RUN_ID}"
    steps = [
        f"ln -s {marker} /home/user/to-host",
        f"ln -s {marker}/keep.txt /etc/keep-link",
        f"rm -rf /opt/interpreter && ln -s {marker} /opt/interpreter",
        "mkdir -p /deep && cd /deep && for i in $(seq 300); do mkdir d && cd d; done && touch end",
    ]
    dockerfile = "FROM base\n" + "".join(f"RUN {step}\n" for step in steps)
    built = build(server, name, dockerfile=dockerfile, ready_cmd="true")
    assert built["status"] == "ready", built
    sbx = sandbox_factory(template=name)
    # Our start-up code is the kernels layer's (on top): the sandbox booted and runs code.
    assert sbx.run_code("print('ok')").logs.stdout == ["ok\n"]
    seen = sbx.commands.run(
        "readlink /home/user/to-host; cat /etc/keep-link 2>&1; ls /opt/interpreter/agent",
        check=False,
    )
    assert seen.stdout.splitlines()[0] == str(marker)  # a link, resolved inside the sandbox:
    assert "host data" not in seen.stdout  # the host's file is not there
    assert "server.py" in seen.stdout
    # The layers hold the links as links (never what they point at), and no /opt/interpreter.
    layers = [Path(server.home) / "layers" / str(k) / "rootfs" for k in built["layers"]]  # type: ignore[attr-defined]
    links = [
        layer / "home/user/to-host"
        for layer in layers
        if (layer / "home/user/to-host").is_symlink()
    ]
    assert [os.readlink(link) for link in links] == [str(marker)]
    assert not any(os.path.lexists(layer / "opt/interpreter") for layer in layers)
    sbx.kill()
    with server.client() as client:
        assert client.delete(f"/v1/templates/{name}").status_code == 204


def test_a_step_that_makes_opt_a_link_to_the_host(server: Server, marker: Path) -> None:
    """The host strips our start-up folder (/opt/interpreter) from a step's layer: never
    through a link the step made of /opt itself."""
    (marker / "interpreter").mkdir()
    (marker / "interpreter" / "ours.txt").write_text("host data")
    name = f"optlink-{RUN_ID}"
    build(
        server, name, dockerfile=f"FROM base\nRUN rm -rf /opt && ln -s {marker} /opt\n",
        ready_cmd="true", ready_timeout=30,
    )  # fmt: skip
    assert (marker / "interpreter" / "ours.txt").read_text() == "host data"
    with server.client() as client:
        client.delete(f"/v1/templates/{name}")


def test_an_uploaded_context_whose_links_lead_out(
    server: Server, marker: Path, sandbox_factory
) -> None:
    """A link member and a file under it: unpacked by the build sandbox's tar, inside the jail:
    the host folder the link names is not written."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        link = tarfile.TarInfo("ctx/out")
        link.type, link.linkname = tarfile.SYMTYPE, str(marker)
        tar.addfile(link)
        payload = b"written through the link"
        member = tarfile.TarInfo("ctx/out/pwned.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    files_hash = "ab" * 32
    with server.client() as client:
        uploaded = client.put(f"/v1/templates/files/{files_hash}", content=archive.getvalue())
        assert uploaded.status_code == 201, uploaded.text
    name = f"ctxlinks-{RUN_ID}"
    built = build(
        server, name, dockerfile="FROM base\nCOPY ctx /dest/\n", files_hash=files_hash,
        ready_cmd="true",
    )  # fmt: skip
    assert not (marker / "pwned.txt").exists()
    with server.client() as client:
        client.delete(f"/v1/templates/{name}")
    assert built["status"] in ("ready", "error")
