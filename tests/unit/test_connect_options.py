"""Domains, prefixes, WebSocket URLs and TLS-first from arguments and NATS contexts."""

from __future__ import annotations

import json

import pytest

from eventkit.connection import _prefixes
from eventkit.exceptions import ConfigurationError
from eventkit.source._wire import parse_servers
from eventkit.source.options import resolve


def test_a_domain_is_its_api_prefix_and_prefixes_are_checked():
    assert _prefixes(None, None, None) == ("$JS.API", "_INBOX")
    assert _prefixes("leaf", None, None) == ("$JS.leaf.API", "_INBOX")
    assert _prefixes(None, "JS.acme.API.", "_INBOX_ek.") == ("JS.acme.API", "_INBOX_ek")
    with pytest.raises(ConfigurationError, match="not both"):
        _prefixes("leaf", "$JS.x.API", None)
    for bad in ("le af", "a.b", "*", ">"):
        with pytest.raises(ConfigurationError, match="domain"):
            _prefixes(bad, None, None)
    for bad in ("_INBOX.*", "my inbox", "a..b"):
        with pytest.raises(ConfigurationError, match="inbox prefix"):
            _prefixes(None, None, bad)
    with pytest.raises(ConfigurationError, match="API prefix"):
        _prefixes(None, "$JS.>", None)


def test_websocket_urls_parse_with_their_default_ports():
    addrs, _ = parse_servers("ws://h1,wss://h2,ws://h3:8080,wss://u:p@h4:9443")
    assert [str(a) for a in addrs] == ["ws://h1:80", "wss://h2:443", "ws://h3:8080",
                                       "wss://h4:9443"]
    with pytest.raises(ConfigurationError, match="ws://"):
        parse_servers("http://h1")


def test_the_nats_context_keys_for_domain_prefixes_and_tls_first(tmp_path, monkeypatch):
    """The keys as ``nats context save --js-domain --inbox-prefix --tls-first`` writes them."""
    folder = tmp_path / "nats" / "context"
    folder.mkdir(parents=True)
    (folder / "edge.json").write_text(json.dumps({
        "description": "", "url": "nats://hub:4222", "jetstream_domain": "leaf",
        "jetstream_api_prefix": "", "jetstream_event_prefix": "", "inbox_prefix": "_INBOX_ek",
        "tls_first": True, "user_jwt": "", "color_scheme": "",
    }))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("NATS_CONTEXT", raising=False)
    got = resolve({}, "edge")
    assert (got["domain"], got["api_prefix"], got["inbox_prefix"], got["tls_handshake_first"]) \
        == ("leaf", None, "_INBOX_ek", True)
    given = resolve({"domain": "other", "inbox_prefix": "_X", "tls_handshake_first": False},
                    "edge")
    assert (given["domain"], given["inbox_prefix"], given["tls_handshake_first"]) == (
        "other", "_X", False)  # what the caller passes wins
