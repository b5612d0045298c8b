"""Helpers the service calls inside Python kernels (silently, around user cells)."""

from __future__ import annotations

import os

_saved: list[dict[str, str | None]] = []


def set_env(env: dict[str, str]) -> None:
    """Set per-execution environment variables, remembering what they were."""
    _saved.append({key: os.environ.get(key) for key in env})
    os.environ.update(env)


def restore_env() -> None:
    """Put back what the last set_env changed."""
    if not _saved:
        return
    for key, value in _saved.pop().items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
