"""The official E2B SDKs, unmodified, pointed at the real server of the top-level conftest.

Users set three variables and nothing else; so do these tests (session-wide, before any SDK object
is made, since the SDKs read them when a sandbox or client is created).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import RUN_ID, Server


@pytest.fixture(scope="session", autouse=True)
def e2b_env(server: Server) -> Iterator[Server]:
    assert server.api_key.startswith("e2b_"), "the E2B SDKs need an e2b_<hex> key"
    saved = {k: os.environ.get(k) for k in ("E2B_API_URL", "E2B_SANDBOX_URL", "E2B_API_KEY")}
    os.environ.update(
        E2B_API_URL=server.url, E2B_SANDBOX_URL=server.url, E2B_API_KEY=server.api_key
    )
    yield server
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def e2b_metadata() -> dict[str, str]:
    """Tag every sandbox a test makes, so a failed run's leftovers can be found and killed."""
    return {"test_run": RUN_ID}
