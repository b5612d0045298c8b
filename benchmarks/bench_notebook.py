"""Issue #16 figures: the notebook view in Debian's Chromium (Playwright), same run.

    .venv/bin/python benchmarks/bench_notebook.py [--outputs 100] [--cells 200]

1. Output latency: the kernel prints ``--outputs`` lines 50 ms apart, each its own time.time();
   the page stamps each line's arrival (a MutationObserver, in the same clock); beside it the
   baseline, the SDK's own on_stdout reading the same run's stream.
2. Page load with ``--cells`` cells: from navigation to every cell drawn; beside it the baseline,
   fetching the same cells as JSON (GET /v1/sandboxes/{id}/cells).
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from benchmarks.stats import ms, pct  # noqa: E402
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import start_server, stop_server, traversable  # noqa: E402

STAMP_LINES = """
window.__seen = [];
new MutationObserver(() => {
  const now = performance.timeOrigin + performance.now();
  for (const pre of document.querySelectorAll('pre.stream')) {
    for (const line of pre.textContent.split('\\n')) {
      const m = /^t=(\\d+\\.\\d+)$/.exec(line);
      if (m && !window.__seen.some((s) => s[0] === m[1])) window.__seen.push([m[1], now]);
    }
  }
}).observe(document.getElementById('main'), {subtree: true, childList: true, characterData: true});
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outputs", type=int, default=100)
    parser.add_argument("--cells", type=int, default=200)
    args = parser.parse_args()
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-notebook-")))
    key = "e2b_" + secrets.token_hex(20)
    server = start_server(home, key, INTERPRETER_POOL_SIZE="0")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(bypass_csp=True)  # for wait_for_function's eval
            sandbox = Sandbox.create(api_url=server.url, api_key=key)
            try:
                page.goto(f"{server.url}/ui/sandboxes/{sandbox.sandbox_id}?key={key}")
                page.wait_for_selector("#code")
                page.evaluate(STAMP_LINES)
                sdk_seen: list[float] = []
                code = (
                    "import time\n"
                    f"for _ in range({args.outputs}):\n"
                    "    print(f't={time.time():.6f}', flush=True); time.sleep(0.05)"
                )

                def stamp(line: object) -> None:
                    text = str(getattr(line, "line", line)).strip()
                    if text.startswith("t="):
                        sdk_seen.append(time.time() - float(text[2:]))

                runner = threading.Thread(target=lambda: sandbox.run_code(code, on_stdout=stamp))
                runner.start()
                runner.join()
                page.wait_for_function(f"window.__seen.length >= {args.outputs}", timeout=60_000)
                seen = page.evaluate("window.__seen")
                page_seen = [now / 1000 - float(printed) for printed, now in seen]

                for i in range(args.cells):
                    sandbox.run_code(f"print('cell {i}')\n{i} * 2")
                loads = []
                for _ in range(5):
                    started = time.perf_counter()
                    page.goto(f"{server.url}/ui/sandboxes/{sandbox.sandbox_id}")
                    page.wait_for_function(
                        f"document.querySelectorAll('article.cell').length >= {args.cells + 1}"
                    )
                    loads.append(time.perf_counter() - started)
                fetches = []
                with httpx.Client(headers={"X-API-Key": key}) as client:
                    for _ in range(5):
                        started = time.perf_counter()
                        client.get(f"{server.url}/v1/sandboxes/{sandbox.sandbox_id}/cells").json()
                        fetches.append(time.perf_counter() - started)
            finally:  # a sandbox outlives its front end: killed whatever happened
                sandbox.kill()
            browser.close()
    finally:
        stop_server(server)
        shutil.rmtree(home, ignore_errors=True)
    print(f"output -> shown, {args.outputs} lines 50 ms apart (p50 / p90):")
    print(f"  page (SSE, drawn)   {ms(pct(page_seen, 50))} / {ms(pct(page_seen, 90))}")
    print(f"  SDK on_stdout       {ms(pct(sdk_seen, 50))} / {ms(pct(sdk_seen, 90))}")
    print(f"load with {args.cells + 1} cells (p50 of 5):")
    print(f"  page, all drawn     {ms(pct(loads, 50))}")
    print(f"  GET /cells as JSON  {ms(pct(fetches, 50))}")


if __name__ == "__main__":
    main()
