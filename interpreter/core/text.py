"""Text a client sends that a kernel, a process or a file must carry: valid Unicode.

JSON can spell a lone surrogate (``"\\ud800"``), which Python decodes into a ``str`` that no
encoder takes: a kernel given such code never answers, a process environment cannot hold it.
"""

from __future__ import annotations

from interpreter.core.errors import InvalidRequestError


def checked_text(what: str, text: str) -> str:
    """``text``, or InvalidRequestError saying that ``what`` is not valid Unicode."""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise InvalidRequestError(
                f"{what} is not valid Unicode text (it holds a lone surrogate)"
            ) from None
    return text
