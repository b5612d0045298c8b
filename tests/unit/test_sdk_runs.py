"""Which runs (and creates) the blocking SDK makes over its own connections: those httpx would
make directly (no proxy variable applies); through a proxy, httpx's; and what those connections
make of what a server answers, byte by byte (interpreter_sdk/_runs_sync.py)."""

from __future__ import annotations

import re
import socket
import threading

import httpx
import pytest

from interpreter_sdk import ConnectionError as SDKConnectionError
from interpreter_sdk import ExecutionTimeoutError, NotFoundError, ServerError
from interpreter_sdk._base import STREAM_GRACE, ConnectionConfig, unproxied
from interpreter_sdk._runs_sync import MAX_ERROR_BODY, Connections, Runs, _target

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_no_proxy_variable_means_direct() -> None:
    assert unproxied(httpx.URL("http://10.0.0.5:49999/v1/sandboxes/x/execute"))


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_for_the_scheme_goes_through_httpx(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "http://proxy.example:3128")
    assert not unproxied(httpx.URL("http://10.0.0.5:49999/v1/sandboxes/x/execute"))


def test_a_proxy_for_the_other_scheme_does_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert unproxied(httpx.URL("http://10.0.0.5:49999/v1/sandboxes/x/execute"))
    assert not unproxied(httpx.URL("https://api.example/v1/sandboxes/x/execute"))


def test_a_host_no_proxy_names_is_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "interpreter.internal,localhost")
    assert unproxied(httpx.URL("http://interpreter.internal:49999/v1/sandboxes/x/execute"))
    assert not unproxied(httpx.URL("http://elsewhere.internal:49999/v1/sandboxes/x/execute"))


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://[::1]/v1/sandboxes/x/execute", ("::1", 80)),  # not host ':', port 1
        ("https://[2001:db8::10]/v1/sandboxes/x/execute", ("2001:db8::10", 443)),
        ("http://127.0.0.1:49999/v1/sandboxes/x/execute", ("127.0.0.1", 49999)),
        ("http://bücher.example/v1", ("xn--bcher-kva.example", 80)),  # as it goes on the wire
    ],
)
def test_the_address_of_a_url_always_has_its_port(url: str, address: tuple[str, int]) -> None:
    assert Connections(httpx.URL(url), ConnectionConfig(url, "key")).address == address


def test_a_path_prefix_is_kept() -> None:
    base = "https://example.org/interpreter"
    with httpx.Client(base_url=base + "/v1") as http:
        runs = Runs(http, ConnectionConfig(base, "key"))
        assert _target(runs.url("/sandboxes/x/execute")) == "/interpreter/v1/sandboxes/x/execute"
        assert _target(runs.url("/sandboxes")) == "/interpreter/v1/sandboxes"
        runs.close()


def test_a_login_in_the_url_goes_through_httpx() -> None:
    base = "http://user:secret@127.0.0.1:49999"
    with httpx.Client(base_url=base + "/v1") as http:
        assert Runs(http, ConnectionConfig(base, "key"))._direct is None  # httpx sends it
    with httpx.Client(base_url="http://127.0.0.1:49999/v1") as http:
        assert Runs(http, ConnectionConfig("http://127.0.0.1:49999", "key"))._direct is not None


def test_closed_connections_refuse_a_run_and_a_create() -> None:
    url = httpx.URL("http://127.0.0.1:9/v1")
    connections = Connections(url, ConnectionConfig(str(url), "key"))
    connections.close()
    with pytest.raises(RuntimeError, match="closed"):
        next(connections.post_lines("/v1/sandboxes/x/execute", {"code": "1"}, None))
    with pytest.raises(RuntimeError, match="closed"):
        connections.post_json("/v1/sandboxes", {}, {})


class Wire:
    """A loopback HTTP server answering each request with the next of ``answers`` (bytes as
    they go on the wire; None: close the connection), one connection at a time, holding the last
    one open once every answer is out; what it was sent is in ``requests``, one entry per
    connection."""

    def __init__(self, *answers: bytes | None) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = httpx.URL(f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            connection, _ = self.listener.accept()
            with connection:
                self.requests.append(b"")
                while self.answers:
                    if (answer := self.answers[0]) is None:
                        del self.answers[0]
                        break
                    if (request := self._request(connection)) is None:
                        break  # the client let it go: the answer is for its next connection
                    self.requests[-1] += request
                    del self.answers[0]
                    connection.sendall(answer)
                else:  # every answer is out: hold the connection until the client lets it go
                    while connection.recv(65536):
                        pass

    @staticmethod
    def _request(connection: socket.socket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            if not (chunk := connection.recv(65536)):
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
        while len(body) < length:
            body += connection.recv(65536)
        return data

    def connections(self, api_key: str = "key") -> Connections:
        return Connections(self.url, ConnectionConfig(str(self.url), api_key))

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


def chunked(status: str, *pieces: bytes, close: bool = False) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/x-ndjson\r\n"
    head += "connection: close\r\n" if close else ""
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return head.encode() + b"transfer-encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


RUN = (b'{"type":"execution_count","execution_count":1}\n', b'{"type":"result","te', b'xt":"2"}\n')


def lines(connections: Connections, timeout: float | None = None) -> list[str]:
    return list(connections.post_lines("/v1/sandboxes/x/execute", {"code": "1+1"}, timeout))


def test_lines_split_across_chunks_come_whole_and_the_connection_is_kept() -> None:
    wire = Wire(chunked("200 OK", *RUN), chunked("200 OK", *RUN))
    connections = wire.connections()
    expected = ['{"type":"execution_count","execution_count":1}', '{"type":"result","text":"2"}']
    assert lines(connections) == expected
    assert lines(connections) == expected
    connections.close()
    wire.close()
    assert len(wire.requests) == 1  # one connection for both
    head = wire.requests[0].split(b"\r\n\r\n")[0]
    assert b"POST /v1/sandboxes/x/execute HTTP/1.1" in head and b"X-API-Key: key" in head
    assert b"Host: 127.0.0.1:" in head and b"Content-Type: application/json" in head


def test_an_answer_that_says_close_is_not_kept() -> None:
    wire = Wire(chunked("200 OK", *RUN, close=True), chunked("200 OK", *RUN))
    connections = wire.connections()
    assert len(lines(connections)) == 2 and len(lines(connections)) == 2
    connections.close()
    wire.close()
    assert len(wire.requests) == 2


def test_a_body_neither_counted_nor_chunked_ends_with_the_connection() -> None:
    wire = Wire(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + b"".join(RUN), None)
    connections = wire.connections()
    assert lines(connections)[1] == '{"type":"result","text":"2"}'
    connections.close()
    wire.close()


def test_an_answer_cut_short_is_the_sdks_connection_error() -> None:
    wire = Wire(chunked("200 OK", *RUN)[:-20], None)
    connections = wire.connections()
    with pytest.raises(SDKConnectionError, match="closed the connection"):
        lines(connections)
    connections.close()
    wire.close()


def test_an_answer_that_is_not_http_is_the_sdks_connection_error() -> None:
    wire = Wire(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", None)
    connections = wire.connections()
    with pytest.raises(SDKConnectionError, match="HttpParserError"):
        lines(connections)
    connections.close()
    wire.close()


def test_a_refusal_is_the_sdks_error_and_its_body_is_read_bounded() -> None:
    detail = b'{"detail":"sandbox x not found"}'
    answer = b"HTTP/1.1 404 Not Found\r\ncontent-length: %d\r\n\r\n%s" % (len(detail), detail)
    huge = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: %d\r\n\r\n" % (64 << 20)
    wire = Wire(answer, huge + b"x" * (2 * MAX_ERROR_BODY), None)
    connections = wire.connections()
    with pytest.raises(NotFoundError, match="sandbox x not found"):
        lines(connections)
    with pytest.raises(ServerError) as raised:  # not 64 MiB waited for
        lines(connections)
    assert len(str(raised.value)) <= MAX_ERROR_BODY + 100
    connections.close()
    wire.close()


def test_no_answer_within_a_runs_timeout_is_its_timeout() -> None:
    wire = Wire(b"")  # the request is read, nothing is answered
    connections = wire.connections()
    with pytest.raises(ExecutionTimeoutError):
        lines(connections, timeout=0.2 - STREAM_GRACE)  # read timeout: the run's + the grace
    connections.close()
    wire.close()


@pytest.mark.parametrize("key", ["key\r\nX-Injected: 1", "key\nX: 1", "key\0"])
def test_a_header_value_that_would_break_the_head_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="invalid HTTP header"):
        Wire().connections(api_key=key)


def test_the_creates_answer_is_decoded() -> None:
    body = b'{"id":"abc"}'
    wire = Wire(b"HTTP/1.1 201 Created\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    connections = wire.connections()
    assert connections.post_json("/v1/sandboxes", {}, {"Idempotency-Key": "k1"}) == {"id": "abc"}
    connections.close()
    wire.close()
    assert b"Idempotency-Key: k1\r\n" in wire.requests[0]
