"""The E2B adapter's pure translations: list filters and pages, stream lines."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime

import pytest

from interpreter.api.e2b import control, jupyter
from interpreter.api.e2b import errors as e2b_errors
from interpreter.core import events
from interpreter.core.errors import InvalidRequestError


def sdk_metadata_query(metadata: dict[str, str]) -> str:
    """What the Python and JS SDKs send, after the framework decoded the query string once."""
    quoted = {urllib.parse.quote(k): urllib.parse.quote(v) for k, v in metadata.items()}
    return urllib.parse.urlencode(quoted)


@pytest.mark.parametrize("metadata", [{"a": "b"}, {"k 1": "v&2=3", "é": "%41+"}, {"empty": ""}])
def test_metadata_filter_undoes_the_sdks_encoding(metadata: dict[str, str]) -> None:
    assert control._metadata_filter(sdk_metadata_query(metadata)) == metadata


def test_bad_filters_are_400() -> None:
    with pytest.raises(InvalidRequestError) as bad:
        control._metadata_filter("no-equals-sign")
    assert e2b_errors.control_response(bad.value).status_code == 400
    with pytest.raises(InvalidRequestError):
        control._states("running,sleeping")
    with pytest.raises(InvalidRequestError):
        control._decode_token("!!!")
    assert control._states(None) == {"running", "paused"}


def test_page_token_round_trip() -> None:
    position = (datetime(2026, 1, 2, tzinfo=UTC).isoformat(), "abc123")
    assert control._decode_token(control._encode_token(position)) == position


def test_stream_lines() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert jupyter.line(events.Stdout(text="hi\n", timestamp=moment)) == {
        "type": "stdout",
        "text": "hi\n",
        "timestamp": "2026-01-02T03:04:05+00:00",
    }
    result = events.Result(text="2", json={"a": None}, chart={"title": None}, is_main_result=True)
    assert jupyter.line(result) == {
        "type": "result",
        "text": "2",
        "json": {"a": None},
        "chart": {"title": None},  # chart keys stay, even null ones: the SDKs index them
        "extra": {},
        "is_main_result": True,
    }
    assert jupyter.line(events.ExecutionCount(execution_count=3)) == {
        "type": "number_of_executions",
        "execution_count": 3,
    }
    assert jupyter.line(events.End()) is None
    encoded = jupyter.encode({"type": "keepalive"})
    assert encoded.endswith(b"\n") and json.loads(encoded) == {"type": "keepalive"}
