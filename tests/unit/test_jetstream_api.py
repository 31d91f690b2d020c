"""The JetStream API's error codes, mapped without a server."""

from __future__ import annotations

import pytest

import eventkit as ek
from eventkit.source._api import ErrCode, api_error


@pytest.mark.parametrize(("error", "kind"), [
    ({"code": 404, "err_code": 10059, "description": "stream not found"}, ek.StreamNotFoundError),
    ({"code": 404, "err_code": 10014, "description": "consumer not found"}, ek.JetStreamAPIError),
    ({"code": 503, "err_code": 10008, "description": "JetStream system temporarily unavailable"},
     ek.ConnectionFailedError),
    ({"code": 403, "err_code": 10999, "description": "nope"}, ek.PermissionDeniedError),
])
def test_api_errors_by_code(error, kind):
    err = api_error(error, "OP", "stream 'S' on nats://h:1")
    assert type(err) is kind
    assert "stream 'S' on nats://h:1" in str(err)
    if isinstance(err, ek.JetStreamAPIError):
        assert (err.code, err.err_code, err.description) == (
            error["code"], error["err_code"], error["description"])


def test_the_text_is_not_what_decides():
    err = api_error({"code": 400, "err_code": 10037, "description": "stream not found (sic)"},
                    "OP", "x")
    assert type(err) is ek.JetStreamAPIError and err.err_code == ErrCode.NO_MESSAGE_FOUND
