"""Lifecycle events and webhooks (issue 17, item 4): a real front end of its own (fast webhook
retries), real sandboxes, webhook receivers that are real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from interpreter_sdk import Sandbox

from ..conftest import RUN_ID, Server, free_port, start_server, stop_server

P = "sandbox.lifecycle."
# Bad paging: each a 400 whose message names the parameter.
BAD_PAGES = [
    ({"limit": "x"}, "limit"),
    ({"limit": 0}, "limit"),
    ({"direction": "sideways"}, "direction"),
    ({"after": "-1"}, "after"),
]
SETTINGS = {
    "INTERPRETER_REAPER_INTERVAL": "0.5",
    "INTERPRETER_WEBHOOK_RETRY_DELAY": "0.3",
    "INTERPRETER_WEBHOOK_TIMEOUT": "2",
}


@dataclass
class Front:
    """The module's front end; a test that restarts it puts the new one here."""

    server: Server

    def create(self, **kwargs: Any) -> Sandbox:
        return Sandbox.create(
            metadata={"test_run": RUN_ID}, api_url=self.server.url, api_key=self.server.api_key,
            **kwargs,
        )  # fmt: skip

    def events(self, sandbox_id: str) -> list[dict[str, Any]]:
        with self.server.client() as http:
            answer = http.get(f"/v1/sandboxes/{sandbox_id}/events", params={"limit": 1000})
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["events"]
        return events


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    home = tmp_path_factory.mktemp("events-home")
    front = Front(start_server(home, "e2b_" + secrets.token_hex(20), **SETTINGS))
    yield front
    stop_server(front.server)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.raw)
        return event


@dataclass
class Receiver:
    """A webhook endpoint: answers 200 (or, ``hang``, never answers until closed)."""

    port: int = 0
    hang: bool = False
    got: list[Delivery] = field(default_factory=list)
    arrived: int = 0

    def __post_init__(self) -> None:
        self.changed = threading.Condition()
        self.closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.changed:
                    receiver.arrived += 1
                if receiver.hang:
                    receiver.closing.wait(30)
                    return
                with receiver.changed:
                    receiver.got.append(Delivery(self.path, dict(self.headers.items()), raw))
                    receiver.changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, done: Callable[[list[Delivery]], bool], timeout: float = 30) -> list[Delivery]:
        with self.changed:
            assert self.changed.wait_for(lambda: done(self.got), timeout), self.got
            return list(self.got)

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def kinds(deliveries: list[Delivery], sandbox_id: str, path: str = "/") -> list[str]:
    return [
        d.event["type"] for d in deliveries if d.path == path and d.event["sandboxId"] == sandbox_id
    ]


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_transitions_are_recorded_in_order_and_read_by_pages(front: Front) -> None:
    short = front.create(timeout=1)  # the reaper kills it
    sbx = front.create()
    try:
        died = sbx.run_code("import os; os._exit(1)")
        assert died.error is not None and died.error.name == "KernelDiedError"
        sbx.set_timeout(120)
        sbx.pause()
        sbx.resume()
    finally:
        sbx.kill()
    expected = ["created", "kernel_died", "updated", "paused", "resumed", "killed"]

    seen: list[dict[str, Any]] = []
    after = None
    with front.server.client() as http:
        while True:  # pages of 2, oldest first
            params = {"limit": 2, **({"after": after} if after is not None else {})}
            page = http.get(f"/v1/sandboxes/{sbx.sandbox_id}/events", params=params).json()
            assert len(page["events"]) <= 2
            seen += page["events"]
            if page["next"] is None:
                break
            after = page["next"]
        assert [e["type"] for e in seen] == [P + t for t in expected]
        assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
        by_type = {e["type"].removeprefix(P): e["data"] for e in seen}
        assert by_type["paused"] == {
            "memory": True, "reason": "request", "sandbox_metadata": {"test_run": RUN_ID},
        }  # fmt: skip
        assert by_type["killed"]["reason"] == "request"
        assert by_type["kernel_died"]["language"] == "python"
        assert "set_timeout" in by_type["updated"]

        newest = Sandbox.get_events(
            sbx.sandbox_id, limit=3, direction="desc",
            api_url=front.server.url, api_key=front.server.api_key,
        )  # fmt: skip
        assert [e.type.removeprefix(P) for e in newest] == ["killed", "resumed", "paused"]
        older = Sandbox.get_events(
            sbx.sandbox_id, limit=3, direction="desc", after=newest[-1].seq,
            api_url=front.server.url, api_key=front.server.api_key,
        )  # fmt: skip
        assert [e.type.removeprefix(P) for e in older] == ["updated", "kernel_died", "created"]

        # E2B's lifecycle API: its shape, newest first by default.
        e2b = http.get(
            f"/events/sandboxes/{sbx.sandbox_id}", headers={"X-API-KEY": front.server.api_key}
        ).json()
        assert [e["type"] for e in e2b] == [P + t for t in reversed(expected)]
        assert e2b[0]["sandboxId"] == sbx.sandbox_id and e2b[0]["version"] == "v1"
        assert e2b[0]["eventData"]["reason"] == "request"

        # Bad input: the status and a body naming the problem.
        url = f"/v1/sandboxes/{sbx.sandbox_id}/events"
        for params, word in BAD_PAGES:
            answer = http.get(url, params=params)
            assert answer.status_code == 400, (params, answer.text)
            assert answer.json()["error"]["type"] == "InvalidRequestError"
            assert word in answer.json()["error"]["message"]
        answer = http.get("/v1/sandboxes/nosuchsandbox/events")
        assert answer.status_code == 404
        assert answer.json()["error"]["type"] == "SandboxNotFoundError"

    # The CLI, through its real entry point: JSON for scripts, a table for people.
    env = {**os.environ, "INTERPRETER_API_URL": front.server.url,
           "INTERPRETER_API_KEY": front.server.api_key}  # fmt: skip
    cli = [sys.executable, "-m", "interpreter.cli", "sandbox", "events", sbx.sandbox_id]
    listed = subprocess.run([*cli, "--json"], env=env, capture_output=True, text=True, check=True)
    assert [e["type"] for e in json.loads(listed.stdout)] == [P + t for t in expected]
    table = subprocess.run([*cli, "--desc"], env=env, capture_output=True, text=True, check=True)
    assert table.stdout.splitlines()[1].split()[3:5] == ["killed", "reason=request"]

    # Timed out: the reaper's kill, with its reason.
    wait_until(lambda: any(e["type"] == P + "killed" for e in front.events(short.sandbox_id)))
    killed = front.events(short.sandbox_id)[-1]
    assert killed["data"]["reason"] == "timeout"
    short.close()
    sbx.close()


def _hmac(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def test_webhooks_get_signed_deliveries_of_the_events_they_want(front: Front) -> None:
    receiver = Receiver()
    secret = "s3cret-" + secrets.token_hex(8)
    with front.server.client() as http:
        for body, word in [
            ({"url": "ftp://example.com/x"}, "url"),
            ({"url": "not a url"}, "url"),
            ({"url": receiver.url, "events": [P + "exploded"]}, "event types"),
        ]:
            answer = http.post("/v1/webhooks", json=body)
            assert answer.status_code == 400, answer.text
            assert word in answer.json()["error"]["message"]
        every = http.post("/v1/webhooks", json={"url": receiver.url + "/", "secret": secret})
        assert every.status_code == 201, every.text
        only_killed = http.post(
            "/v1/webhooks", json={"url": receiver.url + "/killed", "events": [P + "killed"]}
        ).json()
        assert len(only_killed["secret"]) > 20  # generated: shown once
        try:
            sbx = front.create()
            sbx.kill()
            sbx.close()
            got = receiver.wait(
                lambda got: (
                    sorted(kinds(got, sbx.sandbox_id)) == [P + "created", P + "killed"]
                    and kinds(got, sbx.sandbox_id, "/killed") == [P + "killed"]
                )
            )
            for delivery in got:
                key = secret if delivery.path == "/" else only_killed["secret"]
                headers = {k.lower(): v for k, v in delivery.headers.items()}
                assert hmac.compare_digest(
                    headers["x-interpreter-signature"], _hmac(key, delivery.raw)
                )
                e2b = hashlib.sha256(key.encode() + delivery.raw).digest()
                assert headers["e2b-signature"] == base64.urlsafe_b64encode(e2b).decode().rstrip(
                    "="
                )
                assert headers["e2b-signature-version"] == "v1"
                event = delivery.event
                assert event["sandboxId"] == sbx.sandbox_id
                assert event["eventData"]["sandbox_metadata"] == {"test_run": RUN_ID}
                assert {"id", "type", "timestamp", "sandboxTemplateId"} <= set(event)
            assert http.get("/v1/webhooks").json()[0]["url"] == receiver.url + "/"
        finally:
            for hook in (every.json(), only_killed):
                assert http.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
            receiver.close()
        assert http.get(f"/v1/webhooks/{only_killed['id']}").status_code == 404


def test_deliveries_wait_out_a_receiver_down_and_a_restart_of_the_front_end(
    front: Front,
) -> None:
    port = free_port()  # nothing listens there yet
    with front.server.client() as http:
        hook = http.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/hook"}).json()
    kept = front.create()  # lives across the restart
    gone = front.create()
    gone.kill()
    gone.close()

    def pending() -> int:
        with front.server.client() as http:
            count: int = http.get(f"/v1/webhooks/{hook['id']}").json()["pending"]
            return count

    assert pending() == 3  # kept's created, gone's created and killed: retried meanwhile
    time.sleep(1)  # a few attempts fail
    stop_server(front.server)
    receiver = Receiver(port=port)
    try:
        old = front.server
        front.server = start_server(old.home, old.api_key, port=int(old.url.rsplit(":", 1)[1]),
                                    **SETTINGS)  # fmt: skip
        got = receiver.wait(
            # Retries are not ordered: the event's id and timestamp are.
            lambda got: (
                sorted(kinds(got, gone.sandbox_id, "/hook")) == [P + "created", P + "killed"]
                and {P + "created", P + "reattached"} <= set(kinds(got, kept.sandbox_id, "/hook"))
            )
        )
        assert all(
            hmac.compare_digest(d.headers["X-Interpreter-Signature"], _hmac(hook["secret"], d.raw))
            for d in got
        )
        wait_until(lambda: pending() == 0)
        reattached = [e for e in front.events(kept.sandbox_id) if e["type"] == P + "reattached"]
        assert reattached[0]["data"]["state"] == "running"
    finally:
        kept.kill()
        kept.close()
        with front.server.client() as http:
            http.delete(f"/v1/webhooks/{hook['id']}")
        receiver.close()


def test_a_hanging_receiver_does_not_slow_sandbox_operations(front: Front) -> None:
    def pool_ready() -> bool:
        with front.server.client() as http:
            return all(p["ready"] >= 1 for p in http.get("/v1/pool").json() if p["size"])

    def operations() -> float:
        wait_until(pool_ready, 60)  # both runs claim a pooled sandbox
        started = time.monotonic()
        sbx = front.create()
        for seconds in range(60, 65):
            sbx.set_timeout(seconds)
        sbx.kill()
        sbx.close()
        return time.monotonic() - started

    baseline = operations()
    hanging = Receiver(hang=True)
    with front.server.client() as http:
        hooks = [http.post("/v1/webhooks", json={"url": hanging.url}).json() for _ in range(3)]
    try:
        slowed = operations()
        wait_until(lambda: hanging.arrived >= 3)  # the deliveries were under way meanwhile
        # 7 events x 3 webhooks, each held for the 2 s timeout: in the way, they would add 14 s.
        assert slowed < baseline + 2.0, (baseline, slowed)
    finally:
        with front.server.client() as http:
            for hook in hooks:
                http.delete(f"/v1/webhooks/{hook['id']}")
        hanging.close()
