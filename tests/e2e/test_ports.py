"""A sandbox's ports from outside (issue 12, item 3): HTTP and websockets through the native
route and E2B's ``{port}-{id}.{domain}`` hosts, with the sandbox's network loopback only."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from websockets.sync.client import connect

from interpreter_sdk import Sandbox

from ..conftest import Server

SandboxFactory = Callable[..., Sandbox]
PORT = 8765
# A web app inside (tornado comes with Jupyter): a page, an echo of POST bodies, a websocket.
APP = f"""
import asyncio
from tornado import web, websocket

class Page(web.RequestHandler):
    def get(self, name):
        self.set_header("X-Seen-Host", self.request.host)
        self.write(f"hello {{name}} {{self.get_query_argument('q', '')}}")

class Echo(web.RequestHandler):
    def post(self):
        self.write(self.request.body)

class Cookies(web.RequestHandler):
    def get(self):
        self.add_header("Set-Cookie", "interpreter_session=planted; Path=/")
        self.add_header("Set-Cookie", "app=1; Path=/")
        self.add_header("Set-Cookie", "theme=dark; Path=/")
        self.write(self.request.headers.get("Cookie", ""))

class Socket(websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))

async def main():
    web.Application([(r"/page/(\\w+)", Page), (r"/echo", Echo), (r"/cookies", Cookies),
                     (r"/ws", Socket)]).listen(
        {PORT}, "127.0.0.1", max_body_size=64 << 20)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def web_sandbox(server: Server) -> Sandbox:
    sandbox = Sandbox.create(api_url=server.url, api_key=server.api_key)
    sandbox.files.write("/home/user/app.py", APP)
    sandbox.commands.start("python3 /home/user/app.py")
    with server.client() as http:
        for _ in range(100):
            url = f"/v1/sandboxes/{sandbox.sandbox_id}/ports/{PORT}/page/x"
            if http.get(url).status_code == 200:
                break
            time.sleep(0.1)
    yield sandbox  # type: ignore[misc]
    sandbox.kill()


def test_http_through_the_native_route(server: Server, web_sandbox: Sandbox) -> None:
    base = f"/v1/sandboxes/{web_sandbox.sandbox_id}/ports/{PORT}"
    with server.client() as http:
        page = http.get(f"{base}/page/world", params={"q": "yes"})
        assert page.status_code == 200 and page.text == "hello world yes"
        assert page.headers["x-seen-host"] == f"127.0.0.1:{PORT}"
        body = bytes(range(256)) * 40000  # 10 MB, streamed both ways
        echoed = http.post(f"{base}/echo", content=body)
        assert echoed.status_code == 200 and echoed.content == body
        # The key is the front end's: the sandbox's server never sees it.
        assert "X-API-Key" not in web_sandbox.commands.run("true").stdout


def test_http_and_websocket_through_e2b_hosts(server: Server, web_sandbox: Sandbox) -> None:
    host = f"{PORT}-{web_sandbox.sandbox_id}.e2b.local"
    page = httpx.get(f"{server.url}/page/e2b", headers={"Host": host})
    assert page.status_code == 200 and page.text == "hello e2b "
    # A websocket client sets its own Host: the headers E2B_SANDBOX_URL's SDKs send instead.
    address = server.url.replace("http://", "ws://")
    targets = {"E2b-Sandbox-Id": web_sandbox.sandbox_id, "E2b-Sandbox-Port": str(PORT)}
    with connect(f"{address}/ws", additional_headers=targets) as ws:
        ws.send("over e2b")
        assert ws.recv(timeout=10) == "over e2b"


def test_websocket_through_the_native_route(server: Server, web_sandbox: Sandbox) -> None:
    address = server.url.replace("http://", "ws://")
    url = f"{address}/v1/sandboxes/{web_sandbox.sandbox_id}/ports/{PORT}/ws"
    with connect(url, additional_headers={"X-API-Key": server.api_key}) as ws:
        ws.send("text")
        assert ws.recv(timeout=10) == "text"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"


def test_bad_ports(server: Server, web_sandbox: Sandbox) -> None:
    base = f"/v1/sandboxes/{web_sandbox.sandbox_id}/ports"
    with server.client() as http:
        closed = http.get(f"{base}/9/anything")
        assert closed.status_code == 502, closed.text
        assert closed.json()["error"]["type"] == "PortNotOpenError"
        assert "port 9" in closed.json()["error"]["message"]
        for port in (0, 65536):
            assert http.get(f"{base}/{port}/x").status_code == 400
        assert http.get(f"/v1/sandboxes/nosuchsandbox/ports/{PORT}/x").status_code == 404
        assert httpx.get(f"{server.url}/v1/sandboxes/x/ports/1/x").status_code == 401  # no key


def test_a_paused_sandbox_resumes_for_its_port(server: Server, web_sandbox: Sandbox) -> None:
    web_sandbox.pause()
    with server.client() as http:
        page = http.get(f"/v1/sandboxes/{web_sandbox.sandbox_id}/ports/{PORT}/page/back")
    assert page.status_code == 200 and page.text == "hello back "


def test_a_sandbox_that_is_not_public_wants_its_traffic_token(server: Server) -> None:
    headers = {"X-API-KEY": server.api_key}
    body = {"templateID": "code-interpreter-v1", "network": {"allowPublicTraffic": False}}
    created = httpx.post(f"{server.url}/v2/sandboxes", json=body, headers=headers, timeout=120)
    assert created.status_code == 201, created.text
    sandbox_id, token = created.json()["sandboxID"], created.json()["trafficAccessToken"]
    sandbox = Sandbox.connect(sandbox_id, api_url=server.url, api_key=server.api_key)
    try:
        sandbox.files.write("/home/user/app.py", APP)
        sandbox.commands.start("python3 /home/user/app.py")
        host = {"Host": f"{PORT}-{sandbox_id}.e2b.local"}
        for _ in range(100):
            with_token = httpx.get(
                f"{server.url}/page/t", headers={**host, "E2B-Traffic-Access-Token": token}
            )
            if with_token.status_code == 200:
                break
            time.sleep(0.1)
        assert with_token.text == "hello t "
        without = httpx.get(f"{server.url}/page/t", headers=host)
        assert without.status_code == 403 and "Traffic-Access-Token" in without.json()["message"]
        wrong = httpx.get(
            f"{server.url}/page/t", headers={**host, "E2B-Traffic-Access-Token": "0" * 64}
        )
        assert wrong.status_code == 403
    finally:
        sandbox.kill()


def test_the_front_ends_cookies_never_reach_a_sandbox_nor_come_from_one(
    server: Server, web_sandbox: Sandbox
) -> None:
    # The notebook view's session cookie is the API's: a sandbox's server that could read it
    # (or plant one) would act as the signed-in user.
    with server.client() as http:
        answer = http.get(
            f"/v1/sandboxes/{web_sandbox.sandbox_id}/ports/{PORT}/cookies",
            headers={"Cookie": "interpreter_session=secret; app=1; interpreter_view=v"},
        )
    assert answer.status_code == 200
    assert answer.text == "app=1"
    assert answer.headers.get_list("set-cookie") == ["app=1; Path=/", "theme=dark; Path=/"]
