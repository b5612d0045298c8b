"""In the sandbox, where E2B runs its code-interpreter server (`uvicorn main:app --host 0.0.0.0
--port 49999`): a stand-in answering ``GET /health`` with ``"OK"``, as E2B's does, for code in
the sandbox that checks it. The service's code interpreter itself runs on the host, which never
talks to this one. The supervisor starts it with E2B's command line (its words are ignored but
for ``--host`` and ``--port``), so what finds E2B's server by it (`pkill -f 'uvicorn main:app'`)
finds this one; killed, it is started again.

Runs with the image's Python and the standard library only.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Health(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "interpreter"
    timeout = 30  # a client that sends nothing is dropped

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?", 1)[0] == "/health":
            self._answer(200, b'"OK"')  # FastAPI's JSON for E2B's `return "OK"`
        else:
            self._answer(404, b'{"detail":"Not Found"}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # no access log (E2B's runs with --no-access-log)


def _option(args: list[str], name: str, default: str) -> str:
    return args[args.index(name) + 1] if name in args[:-1] else default


def main() -> None:
    args = sys.argv[1:]
    address = (_option(args, "--host", "0.0.0.0"), int(_option(args, "--port", "49999")))
    try:
        server = ThreadingHTTPServer(address, Health)
    except OSError as exc:  # e.g. the port is taken: the supervisor tries again later
        print(f"health: cannot listen on {address[0]}:{address[1]}: {exc}", flush=True)
        sys.exit(1)
    server.serve_forever()


if __name__ == "__main__":
    main()
