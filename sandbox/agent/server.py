"""The sandbox agent: files (and, later, processes) over HTTP on a unix socket in the run folder.

Runs inside the jail as root with the image's Python; tornado comes with the Jupyter packages.
Every path is resolved inside the sandbox's own root: the jail is the confinement. Answers are
plain JSON shaped as the models of ``interpreter/core/protocol.py``, which the host parses (and
bounds) on arrival; ``tests/unit/test_protocol.py`` feeds this agent's output through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

from tornado import httpserver, ioloop, iostream, netutil, web
from tornado.http1connection import HTTP1Connection
from tornado.tcpclient import TCPClient

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agent import files, sudo  # noqa: E402
from agent.processes import Process, Processes  # noqa: E402
from agent.watch import Watcher  # noqa: E402

PROCESSES = Processes()

RUN = os.environ.get("INTERPRETER_RUN_DIR", "/run/sandbox")
SOCKET = os.path.join(RUN, "agent.sock")
CHUNK = 1 << 20


class Handler(web.RequestHandler):
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, files.FileError):
            self.set_status(exc.status)
            body = {"error": {"type": exc.kind, "message": str(exc)}}
        else:
            body = {"error": {"type": "AgentError", "message": self._reason}}
        self.set_header("Content-Type", "application/json")
        if self.request.method in ("PUT", "POST"):
            # Refused before its body was read (e.g. in prepare): tornado closes the connection
            # after answering; say so, or the host's client reuses it and its next request fails.
            self.set_header("Connection", "close")
        self.finish(json.dumps(body))

    def arg(self, name: str, default: str | None = None) -> str:
        value = self.get_query_argument(name, default)
        if value is None:
            raise files.FileError(400, "InvalidRequestError", f"missing query parameter {name!r}")
        return value

    @property
    def user(self) -> str:
        return self.arg("user", "user")

    async def act(self, operation: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            None, files.as_user, self.user, operation
        )

    def send_json(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))


class Health(Handler):
    def get(self) -> None:
        self.send_json({"status": "ok"})


@web.stream_request_body
class File(Handler):
    fd: int | None = None

    async def prepare(self) -> None:
        if self.request.method == "PUT":
            path = files.resolve(self.arg("path"))
            self.fd = await self.act(lambda: files.open_for_write(path))

    def data_received(self, chunk: bytes) -> None:
        assert self.fd is not None
        view = memoryview(chunk)
        while view:
            view = view[os.write(self.fd, view) :]

    async def put(self) -> None:
        assert self.fd is not None
        os.close(self.fd)
        self.fd = None
        path = files.resolve(self.arg("path"))
        try:
            metadata = json.loads(self.arg("metadata", "{}"))
        except ValueError:
            raise files.FileError(400, "InvalidRequestError", "metadata must be JSON") from None
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise files.FileError(400, "InvalidRequestError", "metadata must map str to str")
        await self.act(lambda: files.replace_metadata(path, metadata))  # none given: cleared
        self.send_json(await self.act(lambda: files.entry(path)))

    def on_finish(self) -> None:
        if self.fd is not None:  # an upload that broke off
            os.close(self.fd)

    async def get(self) -> None:
        path = files.resolve(self.arg("path"))
        fd = await self.act(lambda: files.open_for_read(path))
        loop = asyncio.get_running_loop()
        try:
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Length", str(os.fstat(fd).st_size))
            while chunk := await loop.run_in_executor(None, os.read, fd, CHUNK):
                self.write(chunk)
                await self.flush()  # bounded memory: one chunk in flight
        finally:
            os.close(fd)
        self.finish()

    async def delete(self) -> None:
        path = files.resolve(self.arg("path"))
        await self.act(lambda: files.remove(path))
        self.set_status(204)
        self.finish()


class Info(Handler):
    async def get(self) -> None:
        path = files.resolve(self.arg("path"))
        self.send_json(await self.act(lambda: files.entry(path)))


class Listing(Handler):
    async def get(self) -> None:
        path = files.resolve(self.arg("path"))
        depth = int(self.arg("depth", "1"))
        self.send_json(await self.act(lambda: files.list_dir(path, depth)))


class MakeDir(Handler):
    async def post(self) -> None:
        path = files.resolve(self.arg("path"))
        self.send_json({"created": await self.act(lambda: files.make_dir(path))})


class Rename(Handler):
    async def post(self) -> None:
        source = files.resolve(self.arg("source"))
        destination = files.resolve(self.arg("destination"))
        self.send_json(await self.act(lambda: files.rename(source, destination)))


class ProcessStream(Handler):
    """NDJSON of a process's events: what it already printed (kept history), then live."""

    queue: Any = None
    process: Process | None = None

    async def follow(self, process: Process, replay: bool) -> None:
        self.process = process
        self.set_header("Content-Type", "application/x-ndjson")
        # Without replay, a process that already ended still gets its end event.
        backlog = (
            list(process.history) if replay else [e for e in process.history if e["type"] == "end"]
        )
        self.queue = process.subscribe()  # no await since the snapshot: nothing is missed
        try:
            self.write(json.dumps({"type": "start", "pid": process.pid}) + "\n")
            await self.flush()
            if process.dropped and replay:
                note = f"[{process.dropped} earlier output chunks were dropped]\n"
                self.write(json.dumps({"type": "stderr", "data": note}) + "\n")
            for event in backlog:
                self.write(json.dumps(event) + "\n")
            await self.flush()
            ended = any(event["type"] == "end" for event in backlog)
            while not ended:
                event = await self.queue.get()
                self.write(json.dumps(event) + "\n")
                await self.flush()
                ended = event["type"] == "end"
        except iostream.StreamClosedError:
            pass  # the reader left; the process goes on
        finally:
            self.unsubscribe()
        self.finish()

    def unsubscribe(self) -> None:
        if self.process is not None and self.queue in self.process.subscribers:
            self.process.subscribers.remove(self.queue)

    def on_connection_close(self) -> None:
        self.unsubscribe()
        if self.queue is not None:  # wake the loop so it notices the closed stream
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait({"type": "closed"})


class Watch(Handler):
    """NDJSON of a folder's events: `start` once armed, then create/write/remove/..."""

    watcher: Watcher | None = None

    async def get(self) -> None:
        path = files.resolve(self.arg("path"))
        watcher = Watcher(
            path,
            recursive=self.arg("recursive", "0") == "1",
            include_entry=self.arg("include_entry", "0") == "1",
        )

        def arm() -> None:
            if not os.path.isdir(path):
                os.stat(path)  # FileNotFoundError: 404
                raise NotADirectoryError(20, "Not a directory", path)
            watcher.add(path)

        files.as_user(self.user, arm)  # quick and on this thread: nothing else runs meanwhile
        self.watcher = watcher
        self.set_header("Content-Type", "application/x-ndjson")
        try:
            self.write(json.dumps({"type": "start", "name": path}) + "\n")
            await self.flush()
            async for event in watcher.events():
                self.write(json.dumps(event) + "\n")
                await self.flush()
        except iostream.StreamClosedError:
            pass
        self.finish()

    def on_connection_close(self) -> None:
        if self.watcher is not None:
            self.watcher.emit(None)  # ends the event loop above, which closes the watch


class ProcessList(ProcessStream):
    def get(self) -> None:
        self.send_json([p.info() for p in PROCESSES.table.values()])

    async def post(self) -> None:
        try:
            spec = json.loads(self.request.body or b"{}")
        except ValueError:
            raise files.FileError(400, "InvalidRequestError", "body must be JSON") from None
        process = await PROCESSES.start(spec)
        await self.follow(process, replay=True)


class ProcessInfo(Handler):
    def get(self, pid: str) -> None:
        self.send_json(PROCESSES.get(int(pid)).info())


class ProcessFollow(ProcessStream):
    async def get(self, pid: str) -> None:
        await self.follow(PROCESSES.get(int(pid)), replay=self.arg("replay", "1") == "1")


class ProcessInput(Handler):
    async def post(self, pid: str, action: str) -> None:
        process = PROCESSES.get(int(pid))
        if action == "stdin":
            await PROCESSES.write_stdin(process, self.request.body)
        elif action == "close-stdin":
            PROCESSES.close_stdin(process)
        elif action == "kill":
            signum = {"TERM": signal.SIGTERM, "KILL": signal.SIGKILL, "INT": signal.SIGINT}
            await PROCESSES.kill(process, signum.get(self.arg("signal", "TERM"), signal.SIGTERM))
        elif action == "resize":
            PROCESSES.resize(process, int(self.arg("cols")), int(self.arg("rows")))
        self.send_json(process.info())


class Tunnel(Handler):
    """``GET /ports/<port>/tunnel`` with ``Upgrade: tcp``: the connection becomes a byte pipe
    to 127.0.0.1:<port> inside (how the front end reaches a sandbox's servers; the sandbox's
    own network may have no way in). 502 if nothing listens there."""

    async def get(self, port: str) -> None:
        number = int(port)
        if not 1 <= number <= 65535:
            raise files.FileError(400, "InvalidRequestError", f"port {port} is not 1-65535")
        if self.request.headers.get("Upgrade", "").lower() != "tcp":
            raise files.FileError(400, "InvalidRequestError", "a tunnel needs Upgrade: tcp")
        try:
            upstream = await TCPClient().connect("127.0.0.1", number, timeout=10)
        except (OSError, iostream.StreamClosedError, TimeoutError) as exc:
            message = f"nothing answers on port {number} in the sandbox: {exc}"
            raise files.FileError(502, "PortNotOpenError", message) from None
        connection = self.request.connection
        assert isinstance(connection, HTTP1Connection)  # tornado's HTTP/1 server
        client = connection.detach()
        await client.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: tcp\r\n"
                           b"Connection: Upgrade\r\n\r\n")  # fmt: skip
        await asyncio.gather(_pipe(client, upstream), _pipe(upstream, client))


async def _pipe(source: iostream.IOStream, sink: iostream.IOStream) -> None:
    try:
        while True:
            await sink.write(await source.read_bytes(CHUNK, partial=True))
    except iostream.StreamClosedError:
        pass
    finally:
        sink.close()
        source.close()


def main() -> None:
    app = web.Application(
        [
            (r"/health", Health),
            (r"/files", File),
            (r"/files/info", Info),
            (r"/files/list", Listing),
            (r"/files/mkdir", MakeDir),
            (r"/files/rename", Rename),
            (r"/files/watch", Watch),
            (r"/processes", ProcessList),
            (r"/processes/(\d+)", ProcessInfo),
            (r"/processes/(\d+)/stream", ProcessFollow),
            (r"/processes/(\d+)/(stdin|close-stdin|kill|resize)", ProcessInput),
            (r"/ports/(\d{1,5})/tunnel", Tunnel),
        ]
    )
    server = httpserver.HTTPServer(app, max_body_size=1 << 40, max_buffer_size=16 << 20)
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)
    server.add_sockets([netutil.bind_unix_socket(SOCKET, mode=0o600)])
    sudo.serve()
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
