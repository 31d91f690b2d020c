"""Errors a new user meets first: clear, fast, naming the server, never the secret."""

from __future__ import annotations

import socket
import time

import pytest

import eventkit as ek

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_fast_and_names_it():
    port = _free_port()
    t = time.perf_counter()
    with pytest.raises(ek.ConnectionFailedError, match=f"127.0.0.1:{port}.*refused"):
        ek.connect(f"nats://127.0.0.1:{port}")
    assert time.perf_counter() - t < 5


def test_wrong_password_fails_at_once_without_the_password():
    conf = 'authorization { user: "alice", password: "right-horse-battery" }'
    with ek.EmbeddedServer(config=conf) as server:
        t = time.perf_counter()
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(server.url, user="alice", password="wrong-staple-9431")
        assert time.perf_counter() - t < 3
        message = str(info.value)
        assert server.url in message
        assert "wrong-staple-9431" not in message and "right-horse" not in message
        url_with_secret = server.url.replace("nats://", "nats://alice:wrong-staple-9431@")
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(url_with_secret)
        assert "wrong-staple-9431" not in str(info.value)
        with ek.connect(server.url, user="alice", password="right-horse-battery") as conn:
            assert "right-horse" not in repr(conn)
            assert conn.streams().height == 0


def test_token_auth():
    with ek.EmbeddedServer(config='authorization { token: "t0k3n-s3cret" }') as server:
        with pytest.raises(ek.AuthenticationError):
            ek.connect(server.url, token="nope")
        with ek.connect(server.url, token="t0k3n-s3cret") as conn:
            assert "t0k3n" not in repr(conn)
            assert conn.streams().height == 0


def test_unknown_stream_names_stream_and_server(conn, server):
    with pytest.raises(ek.StreamNotFoundError, match=r"'NOPE'.*" + server.url.replace(".", r"\.")):
        conn.read("NOPE")
    with pytest.raises(ek.ConfigurationError, match="not a valid stream name"):
        conn.read("rides.>")


def test_closed_connection_refuses_reuse(server):
    conn = ek.connect(server.url)
    conn.close()
    with pytest.raises(ek.ClosedError, match="closed"):
        conn.streams()


def test_tls_asked_for_but_not_offered_is_refused(server):
    with pytest.raises(ek.ConnectionFailedError, match="does not offer TLS"):
        ek.connect(server.url.replace("nats://", "tls://"))


def test_server_without_jetstream_is_named():
    with (
        ek.EmbeddedServer(jetstream=False) as server,
        ek.connect(server.url) as conn,
        pytest.raises(ek.ConnectionFailedError, match="JetStream is not enabled"),
    ):
        conn.streams()


def test_server_gone_for_good_mid_read_is_a_bounded_clear_error(fresh_server):
    import threading

    from eventkit.sample import generate
    from eventkit.sample.publish import publish

    with ek.connect(fresh_server.url) as conn:
        publish(conn, generate(seed=4, n_events=150_000))
        threading.Timer(0.1, fresh_server.kill).start()
        t = time.perf_counter()
        with pytest.raises(ek.ReadInterruptedError) as info:
            conn.read("RIDES", progress=False)
        assert time.perf_counter() - t < 20
        message = str(info.value)
        assert "'RIDES'" in message and fresh_server.url in message
        assert "start=" in message  # where to resume
