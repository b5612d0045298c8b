"""Issue 19, item 2: where the time of ``run_code("1+1")`` goes, hop by hop, in one run against
one sandbox, every measure interleaved with the others (round after round, in turn) so that all
see the same noise of a busy 2-core machine.

    .venv/bin/python benchmarks/bench_run_code.py [--rounds 500]

Measures, each the time from sending ``1+1`` until its reply and idle (or its last event):

- ``host kernel``: raw jupyter_client to an ipykernel on the host, started like the image's
  (no jail): the floor of the kernel itself;
- ``jailed kernel``: raw jupyter_client to the sandbox's own kernel, from a helper process in the
  sandbox's network namespace (``nsenter -n``), straight over ZMQ: the jail's cost is this minus
  the host kernel;
- ``direct zmq``: an asyncio (uvloop) ZMQ client in that namespace that parses no more of each
  message than its header, parent header and (for a status) content: what a front end talking
  ZMQ to the kernel itself, around the gateway, could at best be;
- ``gateway``: the front end's websocket to the sandbox's Kernel Gateway (``KernelChannel``: send,
  then its parsed messages until reply and idle): the gateway's hop is this minus the jailed
  kernel;
- ``kernels``: ``SandboxKernels.run``, the host's execution client (events, output budget, the
  bomb guard's counters);
- ``service``: ``SandboxManager.run`` without HTTP (notebook cell, lifecycle, gone-watch);
- ``sdk``: the sync SDK's ``Sandbox.run_code`` to the front end, from a process of its own (as
  a client is): after its first, over its run socket (``/v1/sandboxes/{id}/runs``);
- ``sdk over HTTP (before)``: the same over ``POST .../execute`` (HTTP/NDJSON), as before the
  eleventh pass; every other ``sdk ...`` measure below is over HTTP too;
- ``http round trip (GET /health)``: a kept ``http.client`` connection from a process of its
  own asking the front end's ``/health`` (the same middleware, FastAPI's routing, no sandbox):
  what any exchange with the front end over HTTP costs at least, beside the sdk's;
- ``sdk before (StreamingResponse)``: the same, the route answering through Starlette's
  ``StreamingResponse`` as before issue 19 (the baseline of ``interpreter/api/ndjson.py``).
- ``sdk over httpx``: the same, its run_code over httpx (``interpreter_sdk/_runs_sync.py``
  makes it over sockets of its own unless a proxy applies);
- ``sdk over http.client (before)``: the same, its run_code over the standard library's
  http.client, as before the ninth pass (``_runs_sync.py`` as at commit ``BEFORE_SOCKETS``,
  read from git);
- ``sdk with the hot path behind (before)``: the same, its requests served as before
  the tenth pass: the hot path (``hot_path.py`` as at commit ``BEFORE_OUTER``, read from git) as
  the innermost middleware, behind the guard, the E2B router and Starlette's layers; the
  requests carry an ``E2b-Sandbox-Id`` naming no sandbox, which the hot path in front leaves to
  the middleware (and the router to the native routes);
- ``sdk with the store reads (before)``: the same, the front end reading the store as it did
  before the tenth pass: the sandbox's record parsed twice (``prepare_run``'s check, ``run``'s
  record) and the contexts listed for the default one at every run (``store_reads``);
- ``sdk through FastAPI's routing``: the same, its body typed
  ``application/vnd.interpreter+json``, which the hot path (``interpreter/api/hot_path.py``)
  leaves to the FastAPI route;
- ``sdk before (httpx, FastAPI's routing)``: both, the SDK and the route as before them;
- ``async sdk``: the async SDK's ``AsyncSandbox.run_code`` (asyncio's own loop, timed in it):
  after its first, over its run socket; ``async sdk over HTTP (before)``: over httpx, as before
  the thirteenth pass;
- ``js sdk``: the JS SDK's ``runCode`` (sdk/js/dist, ``run_code_js.mjs`` under the set-up's
  Node), over Node's http; ``js sdk over fetch (before)``: the JS SDK at ``BEFORE_NODE_HTTP``
  (compiled for the run), over fetch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WARMUP = 30
# The SDK's baselines: its run_code over httpx (as through a proxy), the run route through
# FastAPI's routing (a JSON type the hot path leaves to it), both (the SDK and route as before).
SDK_HELPERS = {
    "sdk over HTTP (before)": "sdk-http",
    "async sdk": "async",
    "async sdk over HTTP (before)": "async-http",
    "sdk over httpx": "sdk-httpx",
    "sdk over http.client (before)": "sdk-http-client",
    "sdk with the hot path behind (before)": "sdk-behind",
    "sdk through FastAPI's routing": "sdk-fastapi",
    "sdk before (httpx, FastAPI's routing)": "sdk-before",
}
# The SDK's runs over http.client, the commit before they went over sockets and httptools.
BEFORE_SOCKETS = "8bc665b"
# The JS SDK's runCode over fetch, the commit before it went over Node's http.
BEFORE_NODE_HTTP = "12ca6b5"
JS_HELPER = REPO / "benchmarks" / "run_code_js.mjs"
JS_MEASURES = {"js sdk": None, "js sdk over fetch (before)": BEFORE_NODE_HTTP}
# The hot path as the innermost middleware, the commit before it went in front of them.
BEFORE_OUTER = "aeccab5"
PAUSE = 0.005  # between two samples: the previous one's messages to other listeners settle


def raw_execute(kc: Any) -> None:
    """execute_request until its reply and idle, each read a blocking poll of the channel's
    socket: no busy loop (it would take a core from the kernel on this 2-core machine), and not
    the client's ``get_shell_msg`` (which runs an event loop per call: ~1 ms more)."""
    msg_id = kc.execute("1+1")
    while kc.shell_channel.get_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
        pass
    while True:
        msg = kc.iopub_channel.get_msg(timeout=30)
        if (
            msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
            and msg["parent_header"].get("msg_id") == msg_id
        ):
            return


def drain(socket: Any) -> None:
    import zmq

    while socket.poll(0):
        socket.recv_multipart(zmq.NOBLOCK)


def lean_zmq(info: dict[str, Any]) -> Callable[[], None]:
    """``direct zmq``'s sample: execute_request signed and sent on the shell socket, then only
    the header and parent header (and a status's content) of each message read, on uvloop."""
    import uvloop
    import zmq
    import zmq.asyncio
    from jupyter_client.session import Session

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    session = Session(key=info["key"].encode(), signature_scheme=info["signature_scheme"])
    context = zmq.asyncio.Context()
    address = f"{info['transport']}://{info['ip']}"
    shell = context.socket(zmq.DEALER)
    shell.connect(f"{address}:{info['shell_port']}")
    iopub = context.socket(zmq.SUB)
    iopub.setsockopt(zmq.SUBSCRIBE, b"")
    iopub.connect(f"{address}:{info['iopub_port']}")
    poller = zmq.asyncio.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(iopub, zmq.POLLIN)

    async def drain() -> None:
        with contextlib.suppress(zmq.Again):
            while True:
                await iopub.recv_multipart(zmq.NOBLOCK)

    async def execute() -> None:
        content = {"code": "1+1", "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}  # fmt: skip
        msg = session.msg("execute_request", content)
        msg_id = msg["header"]["msg_id"]
        await shell.send_multipart(session.serialize(msg))
        replied = idle = False
        while not (replied and idle):
            for sock, _ in await poller.poll():
                while True:  # every message already there, without a wait per message
                    try:
                        parts = await sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    at = parts.index(b"<IDS|MSG>")
                    if json.loads(parts[at + 3]).get("msg_id") != msg_id:
                        continue
                    kind = json.loads(parts[at + 2])["msg_type"]
                    replied = replied or kind == "execute_reply"
                    idle = idle or (
                        kind == "status" and json.loads(parts[at + 5])["execution_state"] == "idle"
                    )

    def sample() -> None:
        loop.run_until_complete(drain())  # the other measures' messages
        loop.run_until_complete(execute())

    loop.run_until_complete(asyncio.sleep(0.5))  # the subscription in place
    return sample


def helper(kind: str) -> None:
    """A measure in a process of its own, one sample per line asked on stdin, its time in
    seconds answered on stdout. ``raw``: raw jupyter_client to the kernel whose connection info
    comes on the first line (run in the sandbox's network namespace for the jailed kernel).
    ``sdk``: the sync SDK's run_code, to the sandbox named on the first line (url, key, id)."""
    sample: Callable[[], None]
    timed: Callable[[], float] | None = None  # a sample that times itself
    before: Callable[[], None] = lambda: None  # noqa: E731
    first = json.loads(sys.stdin.readline())
    if kind == "zmq":
        sample = lean_zmq(first)
    elif kind == "raw":
        from jupyter_client.blocking import BlockingKernelClient

        kc = BlockingKernelClient()
        kc.load_connection_info(first)
        kc.start_channels()
        kc.wait_for_ready(timeout=30)
        sample = lambda: raw_execute(kc)  # noqa: E731
        # Its iopub subscription gets the other measures' messages too: dropped before a sample.
        before = lambda: drain(kc.iopub_channel.socket)  # noqa: E731
    elif kind == "health":
        import http.client
        import urllib.parse

        address = urllib.parse.urlsplit(first["url"])
        connection = http.client.HTTPConnection(address.hostname or "", address.port)

        def sample() -> None:
            connection.request("GET", "/health")
            response = connection.getresponse()
            assert response.status == 200 and response.read()

    elif kind in ("async", "async-http"):
        from interpreter_sdk import AsyncSandbox

        loop = asyncio.new_event_loop()  # asyncio's own, as an application's would be
        connect = AsyncSandbox.connect(first["id"], api_url=first["url"], api_key=first["key"])
        asbx = loop.run_until_complete(connect)
        if kind == "async-http":
            asbx._runs._sockets = None  # POST .../execute, as before its run sockets

        async def run() -> float:  # timed in the loop: not its start and stop around it
            t = time.perf_counter()
            assert (await asbx.run_code("1+1")).text == "2"
            return time.perf_counter() - t

        timed = lambda: loop.run_until_complete(run())  # noqa: E731
    else:
        from interpreter_sdk import Sandbox

        sbx = Sandbox.connect(first["id"], api_url=first["url"], api_key=first["key"])
        if kind in ("sdk-httpx", "sdk-before"):  # run_code over httpx, as for a proxy
            sbx._runs._direct = None
        if kind in ("sdk-fastapi", "sdk-before"):  # a JSON type the hot path leaves to FastAPI
            routed = "application/vnd.interpreter+json"
            sbx._http.headers["Content-Type"] = routed
            if sbx._runs._direct is not None:
                fields = sbx._runs._direct._fields
                sbx._runs._direct._fields = fields.replace(b"application/json", routed.encode())
        if kind != "sdk":
            sbx._runs._sockets = None  # POST .../execute, as before the run sockets
        if kind == "sdk-behind":  # left by the hot path in front to the middleware
            sbx._runs._direct._fields += b"E2b-Sandbox-Id: bench\r\n"
        if kind == "sdk-http-client":
            runs = sbx._runs
            runs._direct = runs_before().Connections(runs._http.base_url, runs._config)

        def sample() -> None:
            assert sbx.run_code("1+1").text == "2"

    print("ready", flush=True)
    for _ in sys.stdin:
        before()
        if timed is not None:
            print(timed(), flush=True)
            continue
        t = time.perf_counter()
        sample()
        print(time.perf_counter() - t, flush=True)


def runs_before() -> Any:
    """``interpreter_sdk._runs_sync`` as at ``BEFORE_SOCKETS``: over http.client."""
    return from_git(BEFORE_SOCKETS, "sdk/python/interpreter_sdk/_runs_sync.py")


def from_git(commit: str, path: str) -> Any:
    """The module at ``path`` as it was at ``commit``."""
    show = ["git", "-C", str(REPO), "show", f"{commit}:{path}"]
    source = subprocess.run(show, capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(f"before_{Path(path).stem}")
    exec(compile(source, f"{Path(path).stem}_before.py", "exec"), module.__dict__)
    return module


def hot_path_behind(app: Any) -> None:
    """The hot path as at ``BEFORE_OUTER`` put back where it was, behind the E2B router (the
    innermost of the app's middleware), for ``sdk-behind``'s requests, which reach it."""
    from interpreter.api.e2b.routing import SandboxTrafficRouter

    layer = app.middleware_stack  # built at start-up (the lifespan's first call)
    while not isinstance(layer, SandboxTrafficRouter):
        layer = layer.app
    layer.app = from_git(BEFORE_OUTER, "interpreter/api/hot_path.py").HotPath(layer.app)


class Helper:
    """A helper process (see ``helper``) and its samples; ``argv``: another program speaking
    its protocol (the JS SDK's, ``run_code_js.mjs``)."""

    def __init__(
        self, prefix: list[str], kind: str, first: dict[str, Any], argv: list[str] | None = None
    ) -> None:
        argv = [*prefix, *(argv or [sys.executable, __file__, "--helper", kind])]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1)  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(first) + "\n")
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {kind} helper did not start")

    def sample(self) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        return float(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def js_sdk(commit: str | None, into: Path) -> list[str]:
    """The command of a JS SDK measure: this tree's built SDK (sdk/js/dist, by the set-up), or
    the one at ``commit`` compiled into ``into`` with this tree's TypeScript."""
    node = str(REPO / ".venv" / "bin" / "node")
    if commit is None:
        return [node, str(JS_HELPER), str(REPO / "sdk" / "js" / "dist")]
    files = ["sdk/js/src", "sdk/js/tsconfig.json", "sdk/js/package.json"]
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, *files], capture_output=True, check=True
    ).stdout
    into.mkdir(exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    tree = into / "sdk" / "js"
    (tree / "node_modules").symlink_to(REPO / "sdk" / "js" / "node_modules")
    tsc = [node, str(REPO / "sdk" / "js" / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"]
    subprocess.run(tsc, cwd=tree, check=True)
    return [node, str(JS_HELPER), str(tree / "dist")]


def host_kernel() -> Any:
    """An ipykernel on the host started like the image's (same flags, same start-up file)."""
    from jupyter_client.manager import KernelManager

    spec = json.loads((REPO / "sandbox/jupyter/kernels/python3/kernel.json").read_text())
    argv = [sys.executable, *spec["argv"][1:]]
    argv = [a.replace("/opt/interpreter/", str(REPO / "sandbox") + "/") for a in argv]
    km = KernelManager(kernel_cmd=argv)
    km.start_kernel(env={**os.environ, **spec["env"]}, stderr=subprocess.DEVNULL)
    return km


def json_safe(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in info.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FrontEnd:
    """The real app served by uvicorn on its own loop in a thread; coroutines run on that loop."""

    def __init__(self, home: Path, key: str) -> None:
        import uvicorn
        import uvloop

        os.environ.update(
            INTERPRETER_HOME=str(home),
            INTERPRETER_API_KEY=key,
            INTERPRETER_IMAGES_DIR=os.environ.get(
                "INTERPRETER_IMAGES_DIR", "/var/lib/interpreter/images"
            ),
            INTERPRETER_POOL_SIZE="0",  # no refills in the background of the figures
        )
        from interpreter.api.app import create_app

        self.app = create_app()
        self.port = free_port()
        # As `interpreter serve` runs it (its access log at info), the log in a file of home's.
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="info")
        self.server = uvicorn.Server(config)
        self.access = (home / "access.log").open("a")
        for handler in logging.getLogger("uvicorn.access").handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(self.access)
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the front end did not start")
            time.sleep(0.05)
        hot_path_behind(self.app)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(120)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.access.close()


class StreamedLines:
    """The execute route's answer as before issue 19: Starlette's StreamingResponse (the head
    alone, a write a line, the end of the body alone; the client watched in an anyio task
    group), for the ``sdk before (StreamingResponse)`` measure."""

    def __new__(cls, lines: Any, last: bytes = b"") -> Any:
        from starlette.responses import StreamingResponse

        async def body() -> Any:
            async for line in lines:
                yield line
            yield last

        return StreamingResponse(body(), media_type="application/x-ndjson")


def streamed(sample: Callable[[], float]) -> float:
    """One SDK sample with the execute route answering through StreamedLines."""
    from interpreter.api.ndjson import NDJSONResponse
    from interpreter.api.routes import execute

    execute.NDJSONResponse = StreamedLines  # type: ignore[misc,assignment]
    try:
        return sample()
    finally:
        execute.NDJSONResponse = NDJSONResponse  # type: ignore[misc]


def store_reads(manager: Any, sample: Callable[[], float]) -> float:
    """One SDK sample with the store read as before the tenth pass (``SandboxManager.get``'s
    parsed record, not the state column, for ``prepare_run``'s check; the record again in
    ``run``; the default context looked up in the store, not remembered)."""
    cls = type(manager)
    check, run = cls._live, cls.run

    def _live(self: Any, sandbox_id: str) -> Any:
        self.get(sandbox_id)
        return self.live.running(sandbox_id)

    def run_reading(self: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        self.get(context.sandbox_id)
        return run(self, context, *args, **kwargs)

    cls._live, cls.run = _live, run_reading
    manager.contexts._defaults.clear()
    try:
        return sample()
    finally:
        cls._live, cls.run = check, run


def kernel_connection(sbx: Any) -> dict[str, Any]:
    """The sandbox kernel's connection file, as the kernel itself reads it."""
    code = (
        "import json as _j; from ipykernel.kernelapp import IPKernelApp as _A\n"
        "print(open(_A.instance().connection_file).read())"
    )
    execution = sbx.run_code(code)
    assert execution.error is None, execution.error
    return dict(json.loads("".join(execution.logs.stdout)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument(
        "--json-protocol",
        action="store_true",
        help="the kernel websocket's JSON protocol, as before issue 19 (the 'before' figures)",
    )
    parser.add_argument("--only", help="some of the measures, comma-separated (investigations)")
    helpers = ["raw", "zmq", "sdk", "health", *SDK_HELPERS.values()]
    parser.add_argument("--helper", choices=helpers, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.helper:
        helper(args.helper)
        return

    from benchmarks.stats import pct
    from interpreter.execution import messages

    if args.json_protocol:
        messages.WS_V1 = "none"  # asked for, refused: the gateway speaks JSON
    from interpreter.execution.gateway import ChannelClosed
    from interpreter.service.manager import SandboxManager
    from interpreter_sdk import Sandbox
    from tests.conftest import traversable
    from tests.e2e.host import sandbox_tree

    home = traversable(Path(tempfile.mkdtemp(prefix="h2-bench-", dir=os.environ.get("TMPDIR"))))
    key = secrets.token_hex(8)
    front = FrontEnd(home, key)
    samples: dict[str, list[float]] = {}
    try:
        km = host_kernel()
        with Sandbox.create(api_url=front.url, api_key=key) as sbx:
            manager: SandboxManager = front.app.state.manager
            context = front.call(manager.prepare_run(sbx.sandbox_id))
            live = manager.live.running(sbx.sandbox_id)
            kernel = live.kernels.get(context.id)
            pid1, _ = sandbox_tree(home / "sandboxes" / sbx.sandbox_id)
            nsenter = ["nsenter", "-t", str(pid1), "-n", "--"]
            connection = kernel_connection(sbx)
            jailed = Helper(nsenter, "raw", connection)
            direct = Helper(nsenter, "zmq", connection)
            host_client = Helper([], "raw", json_safe(km.get_connection_info()))
            first = {"url": front.url, "key": key, "id": sbx.sandbox_id}
            client = Helper([], "sdk", first)
            health = Helper([], "health", first)
            baselines = {name: Helper([], kind, first) for name, kind in SDK_HELPERS.items()}
            for name, commit in JS_MEASURES.items():
                if not args.only or name in args.only.split(","):  # the before one: a tsc run
                    baselines[name] = Helper([], name, first, js_sdk(commit, home / "js-before"))

            async def gateway() -> float:
                channel = kernel.channel
                assert channel is not None
                request = messages.execute_request("1+1")
                msg_id = request["header"]["msg_id"]
                t = time.perf_counter()
                queue = channel.listen(msg_id)
                await channel.send(request)
                replied = idle = False
                while not (replied and idle):
                    msg = await queue.get()
                    assert not isinstance(msg, ChannelClosed)
                    kind = msg["header"]["msg_type"]
                    replied = replied or kind == "execute_reply"
                    idle = idle or (
                        kind == "status" and msg["content"]["execution_state"] == "idle"
                    )
                channel.unlisten(msg_id)
                return time.perf_counter() - t

            async def kernels() -> float:
                t = time.perf_counter()
                results = [e async for e in live.kernels.run(context.id, "1+1")]
                elapsed = time.perf_counter() - t
                assert any(getattr(e, "text", None) == "2" for e in results), results
                return elapsed

            async def service() -> float:
                t = time.perf_counter()
                results = [e async for e in manager.run(context, "1+1")]
                elapsed = time.perf_counter() - t
                assert any(getattr(e, "text", None) == "2" for e in results), results
                return elapsed

            measures: dict[str, Callable[[], float]] = {
                "host kernel": host_client.sample,
                "jailed kernel": jailed.sample,
                "direct zmq": direct.sample,
                "gateway": lambda: float(front.call(gateway())),
                "kernels": lambda: float(front.call(kernels())),
                "service": lambda: float(front.call(service())),
                "sdk": client.sample,
                "http round trip (GET /health)": health.sample,
                "sdk before (StreamingResponse)": lambda: streamed(client.sample),
                "sdk with the store reads (before)": lambda: store_reads(manager, client.sample),
                **{name: baseline.sample for name, baseline in baselines.items()},
            }
            names = args.only.split(",") if args.only else list(measures)
            samples = {name: [] for name in names}
            try:
                for i in range(args.rounds + WARMUP):
                    shift = i % len(names)  # each measure goes first as often as the others
                    for name in names[shift:] + names[:shift]:
                        elapsed = measures[name]()
                        if i >= WARMUP:
                            samples[name].append(elapsed)
                        time.sleep(PAUSE)
            finally:
                jailed.close()
                direct.close()
                client.close()
                health.close()
                for baseline in baselines.values():
                    baseline.close()
                host_client.close()
                km.shutdown_kernel(now=True)
    finally:
        front.stop()
        shutil.rmtree(home, ignore_errors=True)  # its sandbox was killed (the with block)

    floor = {"jailed kernel": "host kernel", "direct zmq": "jailed kernel",
             "gateway": "direct zmq", "kernels": "gateway",
             "service": "kernels", "sdk": "service",
             "sdk before (StreamingResponse)": "service",
             "sdk with the store reads (before)": "service",
             **dict.fromkeys([*SDK_HELPERS, *JS_MEASURES], "service")}  # fmt: skip
    print(f"{args.rounds} rounds, interleaved; p50 and p99 in ms; hop = this minus the line above")
    print("| measure | p50 | p99 | hop p50 | hop p99 | above jailed kernel p50 | p99 |")
    print("|---|---|---|---|---|---|---|")
    for name, values in samples.items():
        p50, p99 = pct(values, 50) * 1e3, pct(values, 99) * 1e3
        cells = [f"{p50:.2f}", f"{p99:.2f}"]
        if floor.get(name) in samples:
            below = samples[floor[name]]
            cells += [f"{p50 - pct(below, 50) * 1e3:+.2f}", f"{p99 - pct(below, 99) * 1e3:+.2f}"]
        else:
            cells += ["", ""]
        if name not in ("host kernel", "jailed kernel") and "jailed kernel" in samples:
            jail = samples["jailed kernel"]
            cells += [f"{p50 - pct(jail, 50) * 1e3:+.2f}", f"{p99 - pct(jail, 99) * 1e3:+.2f}"]
        else:
            cells += ["", ""]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
