"""Issue 19: a kill of a sandbox that never had a network runs no nft (it cost ~120 ms each);
one whose attach may have begun still has its rules looked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.runtime import network


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    ran: list[tuple[str, ...]] = []

    def run(*argv: str, stdin: str | None = None) -> str:
        ran.append(argv)
        raise network.NetworkError("nothing there")

    monkeypatch.setattr(network, "_run", run)
    return ran


def test_never_attached_runs_nothing(tmp_path: Path, commands: list[tuple[str, ...]]) -> None:
    network.detach("feedfacecafe0001", tmp_path)
    assert commands == []


def test_attach_begun_is_undone(tmp_path: Path, commands: list[tuple[str, ...]]) -> None:
    (tmp_path / network.ATTACHING).touch()
    network.detach("feedfacecafe0002", tmp_path)
    assert any(argv[0] == "nft" for argv in commands)
    assert not (tmp_path / network.ATTACHING).exists()


def test_attached_is_undone(tmp_path: Path, commands: list[tuple[str, ...]]) -> None:
    (tmp_path / network.STATE).write_text('{"host": "10.77.0.1", "egress": [[], [], []]}')
    network.detach("feedfacecafe0003", tmp_path)
    assert any(argv[0] == "nft" for argv in commands)
    assert not (tmp_path / network.STATE).exists()


def test_a_failed_attach_leaves_no_marker(
    tmp_path: Path, commands: list[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The veth could not be made (the jail died meanwhile): what was begun is looked for and
    the marker goes, so the kill after it runs no search again."""
    monkeypatch.setattr(network, "_free_pair", lambda: ("10.77.0.1", "10.77.0.2"))
    with pytest.raises(network.NetworkError):
        network.attach("feedfacecafe0004", tmp_path, 1, network.Egress())
    assert any(argv[:2] == ("ip", "-batch") for argv in commands)  # the veth asked for
    assert any(argv[0] == "nft" for argv in commands)
    assert not (tmp_path / network.ATTACHING).exists()
    commands.clear()
    network.detach("feedfacecafe0004", tmp_path)
    assert commands == []


def test_an_attach_whose_inside_fails_runs_every_step_and_undoes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inside, the rules and the DNS server go at once: one failing, the others still run
    to their end, its error is the attach's, and the detach after it removes what they made."""
    ran: list[tuple[str, ...]] = []
    stdins: list[str] = []
    started_dns: list[str] = []

    def run(*argv: str, stdin: str | None = None) -> str:
        ran.append(argv)
        stdins.append(stdin or "")
        if argv[0] == "nsenter":
            raise network.NetworkError("the jail is gone")
        return ""

    def start_dns(sandbox_id: str, folder: Path, host: str, egress: network.Egress) -> None:
        (folder / network.DNSMASQ_PID).write_text("999999999")  # no such process
        started_dns.append(host)

    monkeypatch.setattr(network, "_run", run)
    monkeypatch.setattr(network, "_start_dns", start_dns)
    monkeypatch.setattr(network, "_free_pair", lambda: ("10.77.0.1", "10.77.0.2"))
    monkeypatch.setattr(network, "present", lambda sandbox_id: False)
    with pytest.raises(network.NetworkError, match="the jail is gone"):
        network.attach("feedfacecafe0005", tmp_path, 1, network.Egress())
    assert "link add sbxfeedfacecafe type veth" in stdins[0]  # the pair and its host end: one run
    assert "addr add 10.77.0.1/30" in stdins[0]
    assert started_dns == ["10.77.0.1"]
    nft = [stdin for argv, stdin in zip(ran, stdins, strict=True) if argv[0] == "nft"]
    assert any("add element inet interpreter egress" in script for script in nft)  # the rules
    assert any("delete element inet interpreter egress" in script for script in nft)  # undone
    assert not (tmp_path / network.DNSMASQ_PID).exists()
    assert not (tmp_path / network.ATTACHING).exists()
