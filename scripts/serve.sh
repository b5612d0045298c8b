#!/usr/bin/env bash
# Set up (idempotent, cached), then run the service. Arguments go to `interpreter serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/interpreter serve "$@"
