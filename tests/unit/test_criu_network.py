"""criu.same_network on hand-made images: what may differ between two dumps of one network."""

from __future__ import annotations

import struct
from pathlib import Path

from interpreter.runtime import criu

MAGIC = struct.pack("=I", 0x45311224)  # iproute2's "save" dumps start with it


def attribute(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + bytes(-len(raw) % 4)


def address(ip: bytes, seq: int, lifetime: int) -> bytes:
    body = struct.pack("=BBBBI", 2, 8, 0x80, 254, 1)  # ifaddrmsg: AF_INET /8 on lo
    body += attribute(1, ip) + attribute(6, struct.pack("=IIII", lifetime, lifetime, 7, seq))
    return struct.pack("=IHHII", 16 + len(body), 20, 2, seq, 4242 + seq) + body


def dump(folder: Path, ifaddr: bytes, netdev: bytes = b"lo") -> Path:
    folder.mkdir()
    (folder / "netns-10.img").write_bytes(b"sysctls")
    (folder / "netdev-10.img").write_bytes(netdev)
    (folder / "ifaddr-10.img").write_bytes(MAGIC + ifaddr)
    (folder / "rule-10.img").write_bytes(MAGIC)
    (folder / "core-10.img").write_bytes(b"a process's, not the network's")
    return folder


def test_sequence_numbers_and_lifetimes_do_not_count(tmp_path: Path) -> None:
    a = dump(tmp_path / "a", address(b"\x7f\0\0\1", seq=1, lifetime=100))
    b = dump(tmp_path / "b", address(b"\x7f\0\0\1", seq=9, lifetime=555))
    (b / "core-10.img").write_bytes(b"another process")
    assert criu.same_network(a, b)


def test_an_added_address_a_changed_link_or_a_missing_image_counts(tmp_path: Path) -> None:
    lo = address(b"\x7f\0\0\1", seq=1, lifetime=100)
    fresh = dump(tmp_path / "fresh", lo)
    more = dump(tmp_path / "more", lo + address(b"\x0a\x09\x08\x07", seq=2, lifetime=100))
    mtu = dump(tmp_path / "mtu", lo, netdev=b"lo mtu 1280")
    missing = dump(tmp_path / "missing", lo)
    (missing / "rule-10.img").unlink()
    broken = dump(tmp_path / "broken", lo[:-3])
    for other in (more, mtu, missing, broken):
        assert not criu.same_network(other, fresh), other.name
    assert not criu.same_network(fresh, tmp_path / "nowhere")
