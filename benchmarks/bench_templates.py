"""Issue #13 figures: a Dockerfile template's build, cold and cached, and create -> first result
from it beside the default template, same run.

    .venv/bin/python benchmarks/bench_templates.py [--creates 10]

The template is the tests' (tests/e2e/test_templates.py): pip install of a package from this
machine's index, ENV, two COPYs, a RUN, WORKDIR, USER and a start command serving HTTP, ready
when its port listens. A fresh state folder: the first build runs every step (cold), the second
reuses every layer (cached); both include the template's start and snapshot. Then creates
rotate between the template and the default one, restored from their snapshots (no pool);
then the same front end is restarted (same state folder: the template survives) with a warm
pool of one for each, and claims rotate again. A sample is Sandbox.create() until
run_code("1+1") returned (for the template: its server answered too, checked after).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.bench_create import wait_pool_full  # noqa: E402
from benchmarks.stats import ms, pct  # noqa: E402
from interpreter_sdk import Sandbox, Templates  # noqa: E402
from tests.conftest import Server, start_server, stop_server, traversable  # noqa: E402
from tests.e2e.test_templates import READY, context  # noqa: E402

NAME = "bench-app"


def sample(server: Server, template: str) -> float:
    start = time.perf_counter()
    sbx = Sandbox.create(template=template, api_url=server.url, api_key=server.api_key)
    try:
        assert sbx.run_code("1+1").text == "2"
        took = time.perf_counter() - start
        if template == NAME:
            assert sbx.commands.run("curl -s localhost:8123/index.html").stdout
        return took
    finally:
        sbx.kill()
        sbx.close()


def rotate(server: Server, creates: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"code-interpreter": [], NAME: []}
    for i in range(creates + 1):
        for template in results:
            wait_pool_full(server)
            time.sleep(0.5)
            took = sample(server, template)
            if i > 0:
                results[template].append(took)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=10)
    args = parser.parse_args()
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-templates-")))
    folder = context(Path(tempfile.mkdtemp(prefix="bench-templates-context-")))
    key = secrets.token_hex(8)
    server = start_server(home, key, INTERPRETER_POOL_SIZE="0")
    builds = []
    try:
        with Templates(server.url, key) as templates:
            for _ in range(2):
                started = time.perf_counter()
                info = templates.build(NAME, folder / "Dockerfile", folder, ready_cmd=READY)
                builds.append((time.perf_counter() - started, info.built_steps, info.cached_steps))
        restored = rotate(server, args.creates)
    finally:
        stop_server(server)
    sizes = json.dumps({"code-interpreter": 1, NAME: 1})
    server = start_server(home, key, INTERPRETER_POOL_SIZE="1", INTERPRETER_POOL_SIZES=sizes)
    try:
        pooled = rotate(server, args.creates)
    finally:
        stop_server(server)

    print("| build of the template | seconds | steps run | steps cached |")
    print("|---|---|---|---|")
    for label, (seconds, built, cached) in zip(("cold", "cached"), builds, strict=True):
        print(f"| {label} | {seconds:.1f} | {built} | {cached} |")
    print()
    print("| create -> first result | template | p50 | p95 |")
    print("|---|---|---|---|")
    for label, results in (("restored from the snapshot", restored), ("warm pool", pooled)):
        for template, samples in results.items():
            print(
                f"| {label} ({len(samples)} sandboxes) | {template} | {ms(pct(samples, 50))} | "
                f"{ms(pct(samples, 95))} |"
            )


if __name__ == "__main__":
    main()
