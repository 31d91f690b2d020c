"""Shared fixtures: real nats-servers on free ports with temporary stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import eventkit as ek


@pytest.fixture(scope="session")
def server() -> Iterator[ek.EmbeddedServer]:
    """One JetStream server for the session (port 0, temporary store)."""
    with ek.EmbeddedServer() as s:
        yield s


@pytest.fixture()
def fresh_server() -> Iterator[ek.EmbeddedServer]:
    """A server of the test's own, for tests that stop or break it."""
    with ek.EmbeddedServer() as s:
        yield s


@pytest.fixture(scope="session")
def rides(server: ek.EmbeddedServer) -> Iterator[ek.StreamInfo]:
    """The shipped sample history, published once to stream RIDES."""
    from eventkit.sample.publish import publish

    with ek.connect(server.url) as conn:
        yield publish(conn)


@pytest.fixture()
def conn(server: ek.EmbeddedServer) -> Iterator[ek.Connection]:
    with ek.connect(server.url) as c:
        yield c
