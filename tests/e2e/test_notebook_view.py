"""The notebook view's API (issue 16): every run, from any client, is a cell; cells stream live
(server-sent events), export as a valid .ipynb with their charts, survive a restart of the
front end, and an .ipynb imports to run."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from e2b_code_interpreter import Sandbox as E2BSandbox

from interpreter_sdk import Sandbox
from tests.conftest import Server

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "data_analysis.ipynb"
CHART = (
    "import matplotlib.pyplot as plt, pandas as pd\n"
    "df = pd.DataFrame({'city': ['a', 'b'], 'n': [3, 5]})\n"
    "plt.bar(df.city, df.n); plt.title('n by city'); plt.show()\n"
    "df"
)


def api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/v1", headers={"X-API-Key": server.api_key})


def follow(server: Server, sandbox_id: str, until: int, got: list[dict[str, Any]]) -> None:
    """Read the view's events until ``until`` of them came."""
    with (
        api(server) as client,
        client.stream("GET", f"/sandboxes/{sandbox_id}/notebook/events", timeout=60) as events,
    ):
        assert events.headers["content-type"].startswith("text/event-stream")
        for line in events.iter_lines():
            if line.startswith("data: "):
                got.append(json.loads(line[6:]))
                if len(got) >= until:
                    return


def test_runs_from_every_client_are_cells_live_and_exported(
    server: Server, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    got: list[dict[str, Any]] = []
    # cells, then the run's cell, count, stdout, result(s), end
    viewer = threading.Thread(target=follow, args=(server, sandbox.sandbox_id, 6, got))
    viewer.start()
    while not got:  # subscribed
        threading.Event().wait(0.05)
    sandbox.run_code("print('hello')\n6 * 7")
    viewer.join(30)
    kinds = [message["type"] for message in got]
    assert kinds == ["cells", "cell", "count", "output", "output", "end"], got
    assert got[3]["output"] == {"output_type": "stream", "name": "stdout", "text": "hello\n"}
    assert got[4]["output"]["data"]["text/plain"] == "42"
    assert got[5]["cell"]["status"] == "ok" and got[5]["cell"]["execution_count"] == 1

    sandbox.run_code(CHART)
    sandbox.run_code("1 / 0")
    for name in ("E2B_API_URL", "E2B_SANDBOX_URL"):
        monkeypatch.setenv(name, server.url)
    e2b = E2BSandbox.connect(sandbox.sandbox_id, api_key=server.api_key)
    e2b.run_code("from_e2b = 'yes'")

    with api(server) as client:
        cells = client.get(f"/sandboxes/{sandbox.sandbox_id}/cells").json()
        assert [c["status"] for c in cells] == ["ok", "ok", "error", "ok"]
        assert cells[3]["code"] == "from_e2b = 'yes'"  # an E2B SDK's run is a cell too
        assert [o["output_type"] for o in cells[2]["outputs"]] == ["error"]
        assert cells[2]["outputs"][0]["ename"] == "ZeroDivisionError"

        answer = client.get(f"/sandboxes/{sandbox.sandbox_id}/notebook")
        assert answer.headers["content-type"] == "application/x-ipynb+json"
        notebook = nbformat.reads(answer.text, as_version=4)
        nbformat.validate(notebook)
        chart_cell = notebook.cells[1]
        assert chart_cell.source == CHART and chart_cell.execution_count == 2
        png = next(o for o in chart_cell.outputs if "image/png" in o.get("data", {}))
        assert base64.b64decode(png.data["image/png"]).startswith(b"\x89PNG")
        table = next(o for o in chart_cell.outputs if o.output_type == "execute_result")
        assert "<table" in table.data["text/html"]


def test_an_ipynb_imports_and_runs_and_bad_ones_are_refused(
    server: Server, sandbox: Sandbox
) -> None:
    with api(server) as client:
        answer = client.post(
            f"/sandboxes/{sandbox.sandbox_id}/notebook", content=NOTEBOOK.read_bytes(), timeout=180
        )
        assert answer.status_code == 200, answer.text
        ran = nbformat.reads(answer.text, as_version=4)
        nbformat.validate(ran)
        assert len(ran.cells) == 5
        assert ran.cells[0].outputs[0].text == "rows written: 18\n"
        # Its variables are the sandbox's now.
        assert sandbox.run_code("len(pd.read_csv('/home/user/sales.csv'))").text == "18"

        bad = client.post(f"/sandboxes/{sandbox.sandbox_id}/notebook", content=b"{not json")
        assert bad.status_code == 400 and "not a Jupyter notebook" in bad.json()["error"]["message"]
        invalid = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{}]})
        bad = client.post(f"/sandboxes/{sandbox.sandbox_id}/notebook", content=invalid)
        assert bad.status_code == 400, bad.text
        assert client.get("/sandboxes/no-such-sandbox/cells").status_code == 404
        assert client.get("/sandboxes/no-such-sandbox/notebook").status_code == 404


def test_cells_survive_a_restart_of_the_front_end_and_go_with_the_sandbox(
    tmp_path: Path,
) -> None:
    from tests.conftest import start_server, stop_server

    home = tmp_path
    first = start_server(home, api_key="e2b_" + "1" * 40, INTERPRETER_POOL_SIZE="0")
    try:
        sandbox = Sandbox.create(api_url=first.url, api_key=first.api_key)
        sandbox.run_code("kept = 1")
        sandbox.run_code("print('x' * (3 << 20))")  # past the kept 1 MiB: truncated, marked
    finally:
        stop_server(first)
    port = int(first.url.rsplit(":", 1)[1])
    second = start_server(home, api_key=first.api_key, port=port, INTERPRETER_POOL_SIZE="0")
    try:
        with api(second) as client:
            cells = client.get(f"/sandboxes/{sandbox.sandbox_id}/cells").json()
            assert [c["code"] for c in cells][0] == "kept = 1"
            big = cells[1]
            assert big["truncated_bytes"] > 2 << 20
            assert "output truncated" in big["outputs"][-1]["text"]
            assert len(json.dumps(big)) < 2 << 20
            whole = client.get(f"/sandboxes/{sandbox.sandbox_id}/cells/{big['id']}/output")
            assert whole.status_code == 200 and whole.text == "x" * (3 << 20) + "\n"
            first = cells[0]["id"]  # not truncated: nothing more to download
            assert (
                client.get(f"/sandboxes/{sandbox.sandbox_id}/cells/{first}/output").status_code
                == 404
            )
            sandbox.kill()
            assert client.get(f"/sandboxes/{sandbox.sandbox_id}/cells").status_code == 404
        assert not (home / "notebooks" / f"{sandbox.sandbox_id}.jsonl").exists()
    finally:
        stop_server(second)
