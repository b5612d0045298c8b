"""The digest an image's layer is named by (images.tree_hash), kept per listing of its sources'
sizes and times (issue 19): an edit must still give a new digest, the same sources the same."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from interpreter.runtime import images


def plain_digest(folder: Path) -> str:
    """The digest as it was computed before it was kept: every file read on every call."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(folder.parent)).encode())
        digest.update(oct(path.stat().st_mode & 0o777).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def test_the_kept_digest_is_the_plain_one_and_follows_edits(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub" / "__pycache__").mkdir(parents=True)
    (src / "a.py").write_text("a = 1\n")
    (src / "sub" / "b.sh").write_text("echo b\n")
    (src / "sub" / "__pycache__" / "b.pyc").write_bytes(b"ignored")
    (src / "link").symlink_to("a.py")  # a link to a file: read through it, as before
    (src / "dangling").symlink_to("nowhere")
    first = images.tree_hash(src)
    assert first == plain_digest(src) == images.tree_hash(src)
    for real in (images.SANDBOX_SRC, images.IMAGES_SRC / "code-interpreter"):
        assert images.tree_hash(real) == plain_digest(real)

    # Same size, new content and time (a ms later, as any edit: set here, not left to the
    # clock's grain): a new digest.
    before = (src / "a.py").stat().st_mtime_ns
    (src / "a.py").write_text("a = 2\n")
    os.utime(src / "a.py", ns=(before + 10**6, before + 10**6))
    assert images.tree_hash(src) == plain_digest(src) != first
    # A mode, a new file, a removed one: each a new digest.
    os.chmod(src / "sub" / "b.sh", 0o755)
    moded = images.tree_hash(src)
    assert moded == plain_digest(src)
    (src / "c.txt").write_text("c")
    assert images.tree_hash(src) == plain_digest(src) != moded
    (src / "c.txt").unlink()
    assert images.tree_hash(src) == moded
