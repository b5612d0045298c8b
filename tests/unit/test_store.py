"""The store answers in the service's errors: a context of a sandbox killed meanwhile is a
SandboxNotFoundError (a 404), not sqlite's IntegrityError (a 500)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.core.errors import SandboxNotFoundError
from interpreter.core.models import ContextRecord, now
from interpreter.core.store import Store


def test_a_context_of_a_gone_sandbox_is_not_found(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        context = ContextRecord(
            id="c", sandbox_id="gone", language="python", cwd="/home/user", created_at=now()
        )
        with pytest.raises(SandboxNotFoundError, match="gone"):
            store.put_context(context)
    finally:
        store.close()
