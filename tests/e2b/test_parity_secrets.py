"""E2B's secrets API through its SDK (`e2b.Secret`): values are write-only, versions count up,
names are unique; a create's variable ``Secret.fill(name)`` gets the value in the sandbox."""

from __future__ import annotations

import pytest
from e2b import Secret
from e2b.exceptions import SecretException, SecretNotFoundException
from e2b_code_interpreter import Sandbox

from tests.conftest import RUN_ID, Server

NAME = f"token-{RUN_ID}"


def test_secrets_round_trip_without_their_values(server: Server) -> None:
    info = Secret.create(NAME.upper(), "s3cr3t-value", metadata={"owner": "tests"})
    try:
        assert info.name == NAME and info.version == 1 and info.metadata == {"owner": "tests"}
        assert info.secret_id.startswith("sec_") and not hasattr(info, "value")
        assert Secret.exists(NAME) and Secret.exists(info.secret_id)
        assert not Secret.exists(f"missing-{RUN_ID}")
        with pytest.raises(SecretException):  # one secret per name
            Secret.create(NAME, "other")
        updated = Secret.update(NAME, "new-value")
        assert updated.version == 2 and updated.metadata == {"owner": "tests"}
        assert NAME in [s.name for s in Secret.list().next_items()]
        with server.client() as client:  # no read surface has the value
            for path in ("/secrets", f"/secrets/{NAME}"):
                answer = client.get(path, headers={"X-API-KEY": server.api_key})
                assert answer.status_code == 200 and "new-value" not in answer.text
        sandbox = Sandbox.create(
            envs={"API_TOKEN": Secret.fill(NAME)}, metadata={"test_run": RUN_ID}
        )
        try:
            assert sandbox.commands.run("echo $API_TOKEN").stdout == "new-value\n"
        finally:
            sandbox.kill()
    finally:
        assert Secret.destroy(NAME) is True
    assert Secret.destroy(NAME) is False
    with pytest.raises(SecretNotFoundException):
        Secret.get_info(NAME)
    with pytest.raises(Exception, match="no secret named"):
        Sandbox.create(envs={"X": Secret.fill(f"missing-{RUN_ID}")})
