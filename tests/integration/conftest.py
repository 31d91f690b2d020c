"""Fixtures of the integration tests (a real nats-server each: see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import eventkit as ek
from eventkit.source import _loop


@pytest.fixture()
def stream(conn: ek.Connection, request: pytest.FixtureRequest) -> Iterator[str]:
    """A stream of the test's own (named after it), deleted afterwards."""
    name = request.node.name.replace("test_", "")[:20].upper()
    name = "".join(c if c.isalnum() else "_" for c in name)
    conn.create_stream(name, [f"{name.lower()}.>"])
    yield name
    conn.jetstream  # noqa: B018  (the test left its connection open)
    _loop.run(conn.jetstream.delete_stream(name))
