"""Our JS/TS SDK (sdk/js, built into sdk/js/dist by scripts/setup.sh), run by node's test runner
against the real server: sdk/js/test/*.test.mjs, one suite per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RUN_ID, Server

JS = Path(__file__).resolve().parents[2] / "sdk" / "js"
NODE = Path(sys.executable).parent / "node"

pytestmark = pytest.mark.timeout(400)


@pytest.mark.skipif(not (JS / "dist" / "index.js").is_file(), reason="run scripts/setup.sh")
@pytest.mark.parametrize("suite", sorted(p.name for p in (JS / "test").glob("*.test.mjs")))
def test_js_sdk(server: Server, suite: str) -> None:
    env = {
        **os.environ,
        "INTERPRETER_API_URL": server.url,
        "INTERPRETER_API_KEY": server.api_key,
        "TEST_RUN": RUN_ID,
    }
    run = subprocess.run(
        [str(NODE), "--test", "--test-reporter=spec", f"test/{suite}"],
        cwd=JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
    )
    with server.client() as client:  # what a failed suite left behind
        ours = client.get("/v1/sandboxes", params={"metadata": f"test_run={RUN_ID}"}).json()
        for sandbox in ours:
            if sandbox["metadata"].get("suite"):
                client.delete(f"/v1/sandboxes/{sandbox['id']}")
        for template in client.get("/v1/templates").json():
            if template["name"].startswith("js-native-") and RUN_ID in template["name"]:
                client.delete(f"/v1/templates/{template['name']}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
