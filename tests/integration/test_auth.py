"""Every way to authenticate, against a real nats-server configured for it."""

from __future__ import annotations

import socket
import time

import nkeys
import pytest

import eventkit as ek

from .security import new_seed, operator, pki, public

pytestmark = pytest.mark.integration


def _roundtrip(conn: ek.Connection) -> None:
    conn.create_stream("AUTH", ["auth.>"])
    conn.publish_many(["auth.x"], [b'{"type":"checked","key":"k"}'])
    assert conn.read("AUTH").to_polars()["type"].to_list() == ["checked"]


def test_nkey_seed_file(tmp_path):
    seed = new_seed(nkeys.PREFIX_BYTE_USER)
    conf = f"authorization {{ users: [ {{ nkey: {public(seed)} }} ] }}"
    (tmp_path / "user.nk").write_bytes(seed)
    with ek.EmbeddedServer(config=conf) as server:
        with ek.connect(server.url, nkey_seed=tmp_path / "user.nk") as conn:
            _roundtrip(conn)
        other = tmp_path / "other.nk"
        other.write_bytes(new_seed(nkeys.PREFIX_BYTE_USER))
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(server.url, nkey_seed=other)
        assert other.read_text() not in str(info.value)


def test_creds_file_with_operator_account_and_user_jwts(tmp_path):
    op = operator()
    creds = op.user_creds(tmp_path / "user.creds")
    with ek.EmbeddedServer(config=op.config) as server:
        with ek.connect(server.url, creds=creds) as conn:
            _roundtrip(conn)
            assert "creds" in repr(conn)
        stranger = operator().user_creds(tmp_path / "stranger.creds")
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(server.url, creds=stranger)
        text = stranger.read_text()
        jwt = text.split("-----BEGIN NATS USER JWT-----")[1].split("---")[0].strip()
        assert jwt not in str(info.value)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return pki(tmp_path_factory.mktemp("pki"))


def _tls_conf(certs, *, verify: bool = False) -> str:
    return (f'tls {{ cert_file: "{certs.server_cert}", key_file: "{certs.server_key}", '
            f'ca_file: "{certs.ca}", verify: {str(verify).lower()} }}')


def test_tls_with_a_custom_ca(certs):
    with ek.EmbeddedServer(config=_tls_conf(certs)) as server:
        url = server.url.replace("nats://", "tls://")
        with ek.connect(url, tls_ca=certs.ca) as conn:
            _roundtrip(conn)
        with pytest.raises(ek.ConnectionFailedError, match=r"not trusted.*tls_ca"):
            ek.connect(url, tls_ca=certs.other_ca)


def test_tls_hostname_mismatch_is_named(tmp_path):
    wrong = pki(tmp_path, server_names=("nats.example.com",), server_ips=())
    with (
        ek.EmbeddedServer(config=_tls_conf(wrong)) as server,
        pytest.raises(ek.ConnectionFailedError, match=r"not valid for '127\.0\.0\.1'"),
    ):
        ek.connect(server.url.replace("nats://", "tls://"), tls_ca=wrong.ca)


def test_mutual_tls(certs):
    with ek.EmbeddedServer(config=_tls_conf(certs, verify=True)) as server:
        url = server.url.replace("nats://", "tls://")
        with ek.connect(url, tls_ca=certs.ca, tls_cert=certs.client_cert,
                        tls_key=certs.client_key) as conn:
            _roundtrip(conn)
        t = time.perf_counter()
        with pytest.raises(ek.ConnectionFailedError, match=r"requires a client certificate"):
            ek.connect(url, tls_ca=certs.ca)
        assert time.perf_counter() - t < 5


def test_several_urls_skip_a_dead_one(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with ek.connect(f"nats://127.0.0.1:{dead},{server.url}") as conn:
        assert conn.server == server.url
        assert conn.streams() is not None


def test_environment_variables(monkeypatch, tmp_path):
    conf = 'authorization { user: "env-user", password: "env-pass-77" }'
    with ek.EmbeddedServer(config=conf) as server:
        monkeypatch.setenv("NATS_URL", server.url)
        monkeypatch.setenv("NATS_USER", "env-user")
        monkeypatch.setenv("NATS_PASSWORD", "env-pass-77")
        with ek.connect() as conn:
            assert conn.server == server.url
            assert "env-pass-77" not in repr(conn)


def test_nats_context_file(monkeypatch, tmp_path):
    conf = 'authorization { token: "ctx-token-55" }'
    with ek.EmbeddedServer(config=conf) as server:
        home = tmp_path / "home"
        ctx_dir = home / ".config" / "nats" / "context"
        ctx_dir.mkdir(parents=True)
        (ctx_dir / "local.json").write_text(
            f'{{"description": "", "url": "{server.url}", "token": "ctx-token-55"}}')
        (home / ".config" / "nats" / "context.txt").write_text("local")
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
        monkeypatch.delenv("NATS_URL", raising=False)
        with ek.connect(context="local") as conn:
            assert conn.server == server.url
        with ek.connect(context=True) as conn:  # the context selected in context.txt
            assert conn.server == server.url
        with pytest.raises(ek.ConfigurationError, match="no NATS context 'nope'"):
            ek.connect(context="nope")
