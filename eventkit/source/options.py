"""Where connection settings come from: arguments, a NATS context, the environment.

The order is that of the ``nats`` command-line tool: what the caller passes
wins, then the named context (``~/.config/nats/context/<name>.json``, as
``nats context save`` writes it), then the environment (``NATS_URL``,
``NATS_USER``, ``NATS_PASSWORD``, ``NATS_TOKEN``, ``NATS_CREDS``,
``NATS_NKEY``, ``NATS_CERT``, ``NATS_KEY``, ``NATS_CA``; ``NATS_CONTEXT``
names a context). The JetStream domain, API prefix, inbox prefix and TLS
handshake-first come from the arguments or the context only (the context
keys ``jetstream_domain``, ``jetstream_api_prefix``, ``inbox_prefix``,
``tls_first``), as with the ``nats`` tool.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eventkit.exceptions import ConfigurationError
from eventkit.source._wire import Secret, hide_urls

__all__ = ["SETTINGS", "resolve"]

#: setting -> (environment variable or None, key in a context file)
SETTINGS: dict[str, tuple[str | None, str]] = {
    "servers": ("NATS_URL", "url"),
    "user": ("NATS_USER", "user"),
    "password": ("NATS_PASSWORD", "password"),
    "token": ("NATS_TOKEN", "token"),
    "creds": ("NATS_CREDS", "creds"),
    "nkey_seed": ("NATS_NKEY", "nkey"),
    "tls_cert": ("NATS_CERT", "cert"),
    "tls_key": ("NATS_KEY", "key"),
    "tls_ca": ("NATS_CA", "ca"),
    "domain": (None, "jetstream_domain"),
    "api_prefix": (None, "jetstream_api_prefix"),
    "inbox_prefix": (None, "inbox_prefix"),
    "tls_handshake_first": (None, "tls_first"),
}


def _config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nats"


def load_context(name: str | bool) -> dict[str, Any]:
    """The settings of a NATS context (``True``: the one ``nats context select`` chose)."""
    directory = _config_dir()
    if name is True:
        selected = directory / "context.txt"
        if not selected.is_file() or not selected.read_text().strip():
            raise ConfigurationError(
                f"no NATS context is selected ({selected} is missing): pass context='name'"
            )
        name = selected.read_text().strip()
    path = directory / "context" / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in (directory / "context").glob("*.json"))
        raise ConfigurationError(
            f"no NATS context {name!r} in {path.parent}; known: {', '.join(known) or 'none'}"
        )
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigurationError(f"the NATS context file {path} is not JSON: {exc}") from None
    return {setting: data[key] if isinstance(data[key], bool) else str(data[key])
            for setting, (_, key) in SETTINGS.items() if data.get(key)}


def resolve(given: dict[str, Any], context: str | bool | None) -> dict[str, Any]:
    """Settings from arguments, then a context, then the environment.

    The password and token come back as :class:`~eventkit.source._wire.Secret`,
    and so do server URLs that carry credentials.
    """
    if context is None and os.environ.get("NATS_CONTEXT"):
        context = os.environ["NATS_CONTEXT"]
    from_context = load_context(context) if context else {}
    out = {}
    for setting, (env, _) in SETTINGS.items():
        value = given.get(setting)
        if value is None:
            value = from_context.get(setting)
        if value is None and env is not None:
            value = os.environ.get(env) or None
        out[setting] = value
    # secrets stay hidden from here on (a traceback printing locals shows '***')
    out["password"], out["token"] = Secret.of(out["password"]), Secret.of(out["token"])
    out["servers"] = hide_urls(out["servers"])
    return out
