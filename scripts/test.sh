#!/usr/bin/env bash
# Set up (idempotent, cached), then run lint, the type check (mypy --strict: [tool.mypy] in
# pyproject.toml) and the whole test suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
