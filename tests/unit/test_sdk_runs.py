"""Which runs the blocking SDK makes over its own connections: those httpx would make directly
(no proxy variable applies); through a proxy, httpx's (interpreter_sdk/_runs_sync.py)."""

from __future__ import annotations

import httpx
import pytest

from interpreter_sdk._runs_sync import _unproxied

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
