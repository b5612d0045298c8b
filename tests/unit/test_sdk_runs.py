"""Which runs (and creates) the blocking SDK makes over its own connections: those httpx would
make directly (no proxy variable applies); through a proxy, httpx's
(interpreter_sdk/_runs_sync.py)."""

from __future__ import annotations

import httpx
import pytest

from interpreter_sdk._base import ConnectionConfig
from interpreter_sdk._runs_sync import Connections, Runs, _target, _unproxied

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_no_proxy_variable_means_direct() -> None:
    assert _unproxied(httpx.URL("http://10.0.0.5:49999/v1/sandboxes/x/execute"))


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_for_the_scheme_goes_through_httpx(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "http://proxy.example:3128")
    assert not _unproxied(httpx.URL("http://10.0.0.5:49999/v1/sandboxes/x/execute"))


def test_a_proxy_for_the_other_scheme_does_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert _unproxied(httpx.URL("http://10.0.0.5:49999/v1/sandboxes/x/execute"))
    assert not _unproxied(httpx.URL("https://api.example/v1/sandboxes/x/execute"))


def test_a_host_no_proxy_names_is_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "interpreter.internal,localhost")
    assert _unproxied(httpx.URL("http://interpreter.internal:49999/v1/sandboxes/x/execute"))
    assert not _unproxied(httpx.URL("http://elsewhere.internal:49999/v1/sandboxes/x/execute"))


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
    assert Connections(httpx.URL(url), ConnectionConfig(url, "key"))._address == address


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
