"""Domains, API and inbox prefixes, WebSocket and TLS-first, each against a server set up so.

nats-py, connected the same way (``inbox_prefix=``, ``tls_handshake_first=``,
``jetstream(domain=...)``), is the oracle for what a read must find.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

import eventkit as ek
from tests.eventually import eventually

from .security import pki

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "eventkit.cli"]
PAYLOADS = [json.dumps({"type": "order_placed", "key": f"o{i}", "n": i}).encode()
            for i in range(40)]
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


def _varz(server: ek.EmbeddedServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.monitor_port}/varz") as resp:
        return json.load(resp)


def _oracle(url: str, stream: str, *, domain: str | None = None, api_prefix: str | None = None,
            **options: Any) -> list[tuple[int, str, bytes]]:
    """Every message of ``stream``, one by one with nats-py connected the same way."""

    async def run() -> list[tuple[int, str, bytes]]:
        nc = await nats.connect(url, allow_reconnect=False, **options)
        try:
            js = (nc.jetstream(domain=domain) if domain else
                  nc.jetstream(prefix=api_prefix) if api_prefix else nc.jetstream())
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                out.append((msg.seq, msg.subject, msg.data or b""))
            return out
        finally:
            await nc.close()

    return asyncio.run(run())


def _rows(events: ek.Events) -> list[tuple[int, str, bytes]]:
    env = events.to_polars()
    return list(zip(env["seq"].to_list(), env["subject"].to_list(), env["data"].to_list(),
                    strict=True))


def _context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
             **keys: object) -> None:
    """A NATS context file as ``nats context save`` writes it."""
    folder = tmp_path / "xdg" / "nats" / "context"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"description": "", **keys}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NATS_CONTEXT", raising=False)


# -- a leaf node with its own JetStream domain ---------------------------------------------
@contextlib.contextmanager
def _hub_and_leaf(hub_conf: str = "", leaf_user: str = "") -> Iterator[
        tuple[ek.EmbeddedServer, ek.EmbeddedServer]]:
    """Hub (domain "hub") and a leaf node (domain "leaf") connected to it."""
    hub = ek.EmbeddedServer(config='server_name: hub\njetstream { domain: hub }\n'
                                   + (hub_conf or 'leafnodes { listen: "127.0.0.1:-1" }\n'))
    hub.start()
    port = _varz(hub)["leaf"]["port"]
    leaf = ek.EmbeddedServer(config=(
        'server_name: leaf\njetstream { domain: leaf }\n'
        f'leafnodes {{ remotes: [ {{ url: "nats-leaf://{leaf_user}127.0.0.1:{port}" }} ] }}\n'))
    try:
        leaf.start()
        yield hub, leaf
    finally:
        leaf.stop()
        hub.stop()


@pytest.fixture(scope="module")
def hub_and_leaf() -> Iterator[tuple[ek.EmbeddedServer, ek.EmbeddedServer]]:
    """Stream EDGE lives in the leaf's JetStream, stream CENTRAL in the hub's."""
    with _hub_and_leaf() as (hub, leaf):
        with ek.connect(leaf.url) as conn:
            conn.create_stream("EDGE", ["edge.>"])
            conn.publish_many([f"edge.o{i}" for i in range(len(PAYLOADS))], PAYLOADS)
        with ek.connect(hub.url) as conn:
            conn.create_stream("CENTRAL", ["central.>"])
        eventually(lambda: _leaf_reachable(hub.url), timeout=10)
        yield hub, leaf


def _leaf_reachable(url: str, stream: str = "EDGE", **options: Any) -> bool:
    try:
        with ek.connect(url, domain="leaf", connect_timeout=1, **options) as conn:
            return conn.stream(stream).messages == len(PAYLOADS)
    except ek.EventkitError:
        return False


def test_a_leaf_nodes_stream_reads_through_the_hub_with_its_domain(hub_and_leaf):
    hub, _ = hub_and_leaf
    with ek.connect(hub.url) as conn, pytest.raises(ek.StreamNotFoundError):
        conn.read("EDGE")  # the hub's own JetStream has no such stream
    expected = _oracle(hub.url, "EDGE", domain="leaf")
    assert len(expected) == len(PAYLOADS)
    with ek.connect(hub.url, domain="leaf") as conn:
        assert _rows(conn.read("EDGE", progress=False)) == expected
        names = conn.streams()["name"].to_list()  # the leaf's streams, not the hub's
        assert "EDGE" in names and "CENTRAL" not in names
        assert conn.read("EDGE", start=5, end=9, progress=False).to_polars()["seq"].to_list() == [
            5, 6, 7, 8, 9]
    with ek.connect(hub.url) as conn:
        assert conn.streams()["name"].to_list() == ["CENTRAL"]
    # api_prefix= is the general form of a domain
    with ek.connect(hub.url, api_prefix="$JS.leaf.API") as conn:
        assert _rows(conn.read("EDGE", progress=False)) == expected


def test_publishing_and_the_schema_registry_use_the_domain(hub_and_leaf, tmp_path):
    hub, leaf = hub_and_leaf
    with ek.connect(hub.url, domain="leaf") as conn:
        conn.create_stream("EDGE_PUB", ["edgepub.>"])
        result = conn.publish_many(["edgepub.a", "edgepub.b"], [b'{"n":1}', b'{"n":2}'])
        assert result.stored == 2
        reg = ek.SchemaRegistry(conn, bucket="edge_schemas")
        reg.register("order_placed", SCHEMA)
        assert reg.get("order_placed") == SCHEMA
        assert reg.types == ["order_placed"]
    # where they landed: the leaf's JetStream, read directly on the leaf by nats-py
    assert [r[2] for r in _oracle(leaf.url, "EDGE_PUB")] == [b'{"n":1}', b'{"n":2}']

    async def stored_schema() -> Any:
        nc = await nats.connect(leaf.url)
        try:
            kv = await nc.jetstream().key_value("edge_schemas")
            return json.loads((await kv.get("order_placed.v1")).value)
        finally:
            await nc.close()

    assert asyncio.run(stored_schema()) == SCHEMA
    with ek.connect(hub.url) as conn:
        assert "KV_edge_schemas" not in conn.streams()["name"].to_list()


def test_the_domain_from_a_nats_context_and_the_cli(hub_and_leaf, tmp_path, monkeypatch):
    hub, _ = hub_and_leaf
    _context(tmp_path, monkeypatch, "edge", url=hub.url, jetstream_domain="leaf")
    with ek.connect(context="edge") as conn:
        assert conn.stream("EDGE").messages == len(PAYLOADS)
    out = subprocess.run([*CLI, "streams", "--json", "-s", hub.url, "--js-domain", "leaf"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "EDGE" in [s["name"] for s in json.loads(out.stdout)]


def test_direct_get_through_a_domain(tmp_path):
    """A hub user who may not create consumers in the leaf's domain reads by direct get."""
    hub_conf = """
leafnodes { listen: "127.0.0.1:-1", authorization { user: leaf, password: leafpw } }
authorization { users: [
  { user: admin, password: adminpw },
  { user: direct, password: directpw, permissions: {
      publish: { allow: ["$JS.leaf.API.STREAM.INFO.>", "$JS.leaf.API.DIRECT.GET.>"] },
      subscribe: { allow: ["_INBOX.>"] } } }
] }
"""
    with _hub_and_leaf(hub_conf, leaf_user="leaf:leafpw@") as (hub, leaf):
        with ek.connect(leaf.url) as conn:
            conn.create_stream("EDGE_DIRECT", ["direct.>"], allow_direct=True)
            conn.publish_many([f"direct.o{i}" for i in range(len(PAYLOADS))], PAYLOADS)
        auth = {"user": "direct", "password": "directpw"}
        eventually(lambda: _leaf_reachable(hub.url, "EDGE_DIRECT", **auth), timeout=10)
        expected = _oracle(leaf.url, "EDGE_DIRECT")
        with ek.connect(hub.url, domain="leaf", **auth) as conn, pytest.warns(
                ek.EventkitWarning, match="direct get"):
            assert _rows(conn.read("EDGE_DIRECT", progress=False)) == expected


def test_a_domain_nobody_serves_is_a_clear_error(hub_and_leaf):
    hub, _ = hub_and_leaf
    with ek.connect(hub.url, domain="nowhere") as conn, pytest.raises(
            ek.ConnectionFailedError, match=r"\$JS.nowhere.API.*domain or API prefix"):
        conn.streams()


# -- an account that imports another's JetStream API under its own prefix ------------------
ACCOUNTS_CONF = """
accounts {
  OWNER: { jetstream: enabled, users: [ { user: owner, password: ownerpw } ],
           exports: [ { service: "$JS.API.>", response_type: stream } ] }
  APP: { users: [ { user: app, password: apppw } ],
         imports: [ { service: { account: OWNER, subject: "$JS.API.>" },
                      to: "JS.acme.API.>" } ] }
}
"""


def test_an_imported_jetstream_api_reads_with_its_prefix(tmp_path, monkeypatch):
    with ek.EmbeddedServer(config=ACCOUNTS_CONF) as server:
        with ek.connect(server.url, user="owner", password="ownerpw") as conn:
            conn.create_stream("SHARED", ["shared.>"])
            conn.publish_many([f"shared.o{i}" for i in range(len(PAYLOADS))], PAYLOADS)
        with ek.connect(server.url, user="app", password="apppw") as conn, pytest.raises(
                ek.EventkitError, match="JetStream not enabled for account"):
            conn.streams()  # the account has no JetStream of its own
        expected = _oracle(server.url, "SHARED", api_prefix="JS.acme.API", user="app",
                           password="apppw")
        assert len(expected) == len(PAYLOADS)
        with ek.connect(server.url, user="app", password="apppw",
                        api_prefix="JS.acme.API") as conn:
            assert conn.streams()["name"].to_list() == ["SHARED"]
            assert _rows(conn.read("SHARED", progress=False)) == expected
        _context(tmp_path, monkeypatch, "app", url=server.url, user="app", password="apppw",
                 jetstream_api_prefix="JS.acme.API")
        with ek.connect(context="app") as conn:
            assert conn.stream("SHARED").messages == len(PAYLOADS)


# -- an account allowed only its own inbox prefix ---------------------------------------------
INBOX_CONF = """
authorization { users: [
  { user: reader, password: readerpw, permissions: {
      publish: { allow: ["$JS.API.>", "orders.>", "$KV.>"] },
      subscribe: { allow: ["_INBOX_ek.>"] } } },
  { user: direct, password: directpw, permissions: {
      publish: { allow: ["$JS.API.STREAM.INFO.>", "$JS.API.STREAM.LIST",
                         "$JS.API.DIRECT.GET.>"] },
      subscribe: { allow: ["_INBOX_ek.>"] } } }
] }
"""


@pytest.fixture(scope="module")
def inbox_server() -> Iterator[ek.EmbeddedServer]:
    with ek.EmbeddedServer(config=INBOX_CONF) as server:
        with ek.connect(server.url, user="reader", password="readerpw",
                        inbox_prefix="_INBOX_ek") as conn:
            conn.create_stream("ORDERS", ["orders.>"], allow_direct=True)
        yield server


def test_without_the_inbox_prefix_the_read_fails_at_once_saying_what_to_do(inbox_server):
    with ek.connect(inbox_server.url, user="reader", password="readerpw") as conn:
        began = time.monotonic()
        with pytest.raises(ek.PermissionDeniedError, match="inbox_prefix") as info:
            conn.read("ORDERS", progress=False)
        assert time.monotonic() - began < 2  # not after the API timeout
        assert "_INBOX" in str(info.value) and "readerpw" not in str(info.value)
        with pytest.raises(ek.PermissionDeniedError, match=r"0 of 1 .*inbox_prefix"):
            conn.publish_many(["orders.x"], [PAYLOADS[0]])


def test_with_the_inbox_prefix_reads_publishes_and_the_registry_work(inbox_server):
    with ek.connect(inbox_server.url, user="reader", password="readerpw",
                    inbox_prefix="_INBOX_ek") as conn:
        before = conn.stream("ORDERS").last_seq
        subjects = [f"orders.o{i}" for i in range(len(PAYLOADS))]
        assert conn.publish_many(subjects, PAYLOADS).stored == len(PAYLOADS)
        expected = _oracle(inbox_server.url, "ORDERS", user="reader", password="readerpw",
                           inbox_prefix=b"_INBOX_ek")
        assert _rows(conn.read("ORDERS", progress=False)) == expected
        assert expected[-1][0] == before + len(PAYLOADS)
        assert conn.streams()["name"].to_list() == ["ORDERS"]
        reg = ek.SchemaRegistry(conn, bucket="inbox_schemas")
        reg.register("order_placed", SCHEMA)
        assert reg.get("order_placed") == SCHEMA


def test_direct_get_uses_the_inbox_prefix_too(inbox_server):
    """A user who may not create consumers reads through direct get, replies on its prefix."""
    with ek.connect(inbox_server.url, user="reader", password="readerpw",
                    inbox_prefix="_INBOX_ek") as conn:
        conn.publish_many(["orders.x"], [PAYLOADS[0]])
    expected = _oracle(inbox_server.url, "ORDERS", user="reader", password="readerpw",
                       inbox_prefix=b"_INBOX_ek")
    with ek.connect(inbox_server.url, user="direct", password="directpw",
                    inbox_prefix="_INBOX_ek") as conn, pytest.warns(
                        ek.EventkitWarning, match="direct get"):
        assert _rows(conn.read("ORDERS", progress=False)) == expected


def test_the_inbox_prefix_from_a_nats_context(inbox_server, tmp_path, monkeypatch):
    _context(tmp_path, monkeypatch, "ek", url=inbox_server.url, user="reader",
             password="readerpw", inbox_prefix="_INBOX_ek")
    with ek.connect(context="ek") as conn:
        assert conn.stream("ORDERS").name == "ORDERS"


# -- WebSocket -------------------------------------------------------------------------------
def test_reading_publishing_and_the_registry_over_websocket():
    conf = 'websocket { listen: "127.0.0.1:-1", no_tls: true }\n'
    with ek.EmbeddedServer(config=conf) as server:
        ws = f"ws://127.0.0.1:{_varz(server)['websocket']['port']}"
        big = b'{"type":"big","key":"b","blob":"' + b"x" * 300_000 + b'"}'
        with ek.connect(ws) as conn:
            assert conn.server.startswith("ws://")
            conn.create_stream("WS", ["ws.>"])
            assert conn.publish_many([f"ws.{i}" for i in range(len(PAYLOADS))] + ["ws.big"],
                                     [*PAYLOADS, big]).stored == len(PAYLOADS) + 1
            expected = _oracle(server.url, "WS")  # nats-py over the plain port
            assert _rows(conn.read("WS", progress=False)) == expected
            assert expected[-1][2] == big
            assert conn.streams()["name"].to_list() == ["WS"]
            reg = ek.SchemaRegistry(conn, bucket="ws_schemas")
            reg.register("order_placed", SCHEMA)
            assert reg.get("order_placed") == SCHEMA
        with pytest.raises(ek.ConnectionFailedError, match="WebSocket port, use ws://"):
            ek.connect(ws.replace("ws://", "nats://"), connect_timeout=1).close()
        with pytest.raises(ek.ConnectionFailedError, match="WebSocket upgrade"):
            ek.connect(server.url.replace("nats://", "ws://"), connect_timeout=2).close()


def test_websocket_over_tls(tmp_path):
    certs = pki(tmp_path)
    conf = (f'websocket {{ listen: "127.0.0.1:-1", tls {{ cert_file: "{certs.server_cert}", '
            f'key_file: "{certs.server_key}" }} }}\n')
    with ek.EmbeddedServer(config=conf) as server:
        wss = f"wss://127.0.0.1:{_varz(server)['websocket']['port']}"
        with ek.connect(wss, tls_ca=certs.ca) as conn:
            conn.create_stream("WSS", ["wss.>"])
            conn.publish_many(["wss.a"], [PAYLOADS[0]])
            assert _rows(conn.read("WSS", progress=False)) == _oracle(server.url, "WSS")
        with pytest.raises(ek.ConnectionFailedError, match="not trusted"):
            ek.connect(wss, tls_ca=certs.other_ca)
        with pytest.raises(ek.ConfigurationError, match="wss://"):
            ek.connect(wss.replace("wss://", "ws://"), tls_ca=certs.ca)


# -- TLS handshake first -----------------------------------------------------------------------
def test_a_server_that_wants_the_tls_handshake_first(tmp_path, monkeypatch):
    certs = pki(tmp_path)
    conf = (f'tls {{ cert_file: "{certs.server_cert}", key_file: "{certs.server_key}", '
            'handshake_first: true }\n')
    with ek.EmbeddedServer(config=conf) as server:
        url = server.url.replace("nats://", "tls://")
        with pytest.raises(ek.ConnectionFailedError, match="tls_handshake_first=True"):
            ek.connect(url, tls_ca=certs.ca, connect_timeout=1)
        with ek.connect(url, tls_ca=certs.ca, tls_handshake_first=True) as conn:
            conn.create_stream("FIRST", ["first.>"])
            conn.publish_many([f"first.{i}" for i in range(len(PAYLOADS))], PAYLOADS)
            ctx = ssl.create_default_context(cafile=str(certs.ca))
            expected = _oracle(url, "FIRST", tls=ctx, tls_handshake_first=True)
            assert _rows(conn.read("FIRST", progress=False)) == expected
        _context(tmp_path, monkeypatch, "first", url=url, ca=str(certs.ca), tls_first=True)
        with ek.connect(context="first") as conn:
            assert conn.stream("FIRST").messages == len(PAYLOADS)
        out = subprocess.run([*CLI, "streams", "--json", "-s", url, "--tls-ca", str(certs.ca),
                              "--tls-first"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert [s["name"] for s in json.loads(out.stdout)] == ["FIRST"]
    plain_tls = f'tls {{ cert_file: "{certs.server_cert}", key_file: "{certs.server_key}" }}\n'
    with ek.EmbeddedServer(config=plain_tls) as server, pytest.raises(
            ek.ConnectionFailedError, match="leave tls_handshake_first off"):
        ek.connect(server.url, tls_ca=certs.ca, tls_handshake_first=True)
