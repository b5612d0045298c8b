"""The official JS SDKs (npm `e2b`, `@e2b/code-interpreter`), run by node's test runner against
the same server: tests/e2b/js/*.test.mjs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RUN_ID, Server

JS = Path(__file__).parent / "js"
NODE = Path(sys.executable).parent / "node"


@pytest.mark.skipif(not (JS / "node_modules").is_dir(), reason="run scripts/setup.sh (npm ci)")
@pytest.mark.parametrize("suite", sorted(p.name for p in JS.glob("*.test.mjs")))
def test_js_sdk(server: Server, suite: str) -> None:
    env = {
        **os.environ,
        "E2B_API_URL": server.url,
        "E2B_SANDBOX_URL": server.url,
        "E2B_API_KEY": server.api_key,
        "TEST_RUN": RUN_ID,
    }
    run = subprocess.run(
        [str(NODE), "--test", "--test-reporter=spec", suite],
        cwd=JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    with server.client() as client:  # what template.test.mjs built
        for template in client.get("/v1/templates").json():
            if RUN_ID in template["name"]:
                client.delete(f"/v1/templates/{template['name']}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
