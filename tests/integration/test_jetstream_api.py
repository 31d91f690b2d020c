"""JetStream API errors come out named: their code, err_code and description, not their text."""

from __future__ import annotations

import pytest

import eventkit as ek
from eventkit.source import _loop
from eventkit.source._api import ErrCode

pytestmark = pytest.mark.integration


def test_an_api_refusal_carries_the_servers_codes(conn: ek.Connection, stream: str):
    with pytest.raises(ek.JetStreamAPIError) as caught:
        _loop.run(conn.jetstream.api(f"CONSUMER.INFO.{stream}.nobody", stream=stream))
    err = caught.value
    assert err.err_code == ErrCode.CONSUMER_NOT_FOUND and err.code == 404
    assert err.description == "consumer not found"
    assert stream in str(err) and "10014" in str(err)


def test_a_missing_stream_is_a_stream_not_found_api_error(conn: ek.Connection):
    with pytest.raises(ek.StreamNotFoundError) as caught:
        conn.stream("NO_SUCH_STREAM")
    assert isinstance(caught.value, ek.JetStreamAPIError)
    assert isinstance(caught.value, LookupError)
    assert caught.value.err_code == ErrCode.STREAM_NOT_FOUND


def test_an_allowed_code_is_answered_not_raised(conn: ek.Connection, stream: str):
    answer = _loop.run(conn.jetstream.api(f"STREAM.MSG.GET.{stream}", {"seq": 1}, stream=stream,
                                          allow=(ErrCode.NO_MESSAGE_FOUND,)))
    assert answer["error"]["err_code"] == ErrCode.NO_MESSAGE_FOUND
