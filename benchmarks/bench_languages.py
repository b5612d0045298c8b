"""Issue #3 figures: per language, context start and `1+1` round trip; time to a plot's PNG.

.venv/bin/python benchmarks/bench_languages.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import start_server, stop_server, traversable  # noqa: E402

ONE_PLUS_ONE = {
    "python": "1+1",
    "javascript": "1+1",
    "typescript": "1+1",
    "bash": "echo $((1+1))",
    "r": "1+1",
    "java": "1+1",
}
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-")))
    key = secrets.token_hex(8)
    server = start_server(home, key)
    rows = []
    try:
        with Sandbox.create(api_url=server.url, api_key=key, memory_mb=4096) as sbx:
            for language, code in ONE_PLUS_ONE.items():
                t = time.perf_counter()
                context = sbx.create_code_context(language=language)
                started = time.perf_counter() - t
                for _ in range(5):
                    sbx.run_code(code, context=context)
                samples = []
                for _ in range(args.rounds):
                    t = time.perf_counter()
                    sbx.run_code(code, context=context)
                    samples.append(time.perf_counter() - t)
                sbx.remove_code_context(context)
                rows.append((language, started, statistics.median(samples)))
            plots = []
            for _ in range(10):
                t = time.perf_counter()
                execution = sbx.run_code(PLOT)
                assert execution.results[0].png
                plots.append(time.perf_counter() - t)
    finally:
        stop_server(server)
    print("| language | context start | `1+1` round trip p50 |")
    print("|---|---|---|")
    for language, started, p50 in rows:
        print(f"| {language} | {started * 1000:.0f} ms | {p50 * 1000:.1f} ms |")
    print(f"\nplot -> PNG result (python, p50 of 10): {statistics.median(plots) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
