"""What every command shares: connection and selection options, output for people and scripts."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from eventkit.connection import Connection


def command(sub: argparse._SubParsersAction, name: str,  # type: ignore[type-arg]
            run: Callable[[argparse.Namespace], int], *, help: str, example: str,
            description: str | None = None, stream: bool = False, connection: bool = False,
            selection: bool = False, json: str | None = None) -> argparse.ArgumentParser:
    """A subcommand: its texts, and the arguments many commands share.

    ``stream`` adds the positional stream name, ``connection`` and ``selection``
    the option groups below, ``json`` a ``--json`` switch with that help.
    """
    p = sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:],
                       epilog=("examples:\n  " if "\n" in example else "example: ")
                       + example.replace("\n", "\n  "),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    if stream:
        p.add_argument("stream")
    if connection:
        add_connection(p)
    if selection:
        add_selection(p)
    if json:
        p.add_argument("--json", action="store_true", help=json)
    p.set_defaults(run=run)
    return p


def add_connection(p: argparse.ArgumentParser) -> None:
    """The connection options, as ``ek.connect`` takes them (unset: a NATS context, then env)."""
    g = p.add_argument_group("connection (unset: the NATS context, then $NATS_URL, $NATS_USER, "
                             "$NATS_PASSWORD, $NATS_TOKEN, $NATS_CREDS, ...)")
    g.add_argument("--server", "-s", help="NATS URL(s), comma-separated")
    g.add_argument("--context", help="a NATS context by name (as `nats context` saves them)")
    g.add_argument("--user", help="user name (the password from $NATS_PASSWORD)")
    g.add_argument("--creds", help="a .creds file (JWT and seed, as nsc writes it)")
    g.add_argument("--nkey", help="a file holding an NKey seed (SU...)")
    g.add_argument("--tls-ca", help="CA certificate of the server")
    g.add_argument("--tls-cert", help="client certificate (mutual TLS)")
    g.add_argument("--tls-key", help="client key (mutual TLS)")
    g.add_argument("--tls-first", action="store_true", default=None,
                   help="start TLS before the server speaks (servers with handshake_first)")
    g.add_argument("--js-domain", help="JetStream domain, e.g. a leaf node's (the API at "
                   "$JS.<domain>.API)")
    g.add_argument("--js-api-prefix", help="JetStream API prefix other than $JS.API")
    g.add_argument("--inbox-prefix", help="reply subject prefix other than _INBOX, for "
                   "accounts allowed only their own (e.g. _INBOX_ek)")


def connect(args: argparse.Namespace) -> Connection:
    import eventkit as ek

    return ek.connect(args.server, context=args.context, user=args.user, creds=args.creds,
                      nkey_seed=args.nkey, tls_ca=args.tls_ca, tls_cert=args.tls_cert,
                      tls_key=args.tls_key, domain=args.js_domain,
                      api_prefix=args.js_api_prefix, inbox_prefix=args.inbox_prefix,
                      tls_handshake_first=args.tls_first)


def add_selection(p: argparse.ArgumentParser, *, since: bool = True) -> None:
    """Which events: a range, subjects, types, keys and a content filter."""
    g = p.add_argument_group("selection")
    if since:
        g.add_argument("--since", help="a duration ago, e.g. 15m, 2h, 3d")
    g.add_argument("--start", help="a sequence or an ISO time (inclusive)")
    g.add_argument("--end", help="a sequence or an ISO time (inclusive)")
    g.add_argument("--subjects", action="append", help="subject filter (repeatable)")
    g.add_argument("--type", dest="types", action="append", help="event type (repeatable)")
    g.add_argument("--key", dest="keys", action="append", help="entity key (repeatable)")
    g.add_argument("--where", help="a content filter, e.g. \"fare > 50 and city = paris\"")


def position(text: str | None) -> int | str | None:
    """A sequence number stays a number; anything else is a time for the API to parse."""
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text


def start_of(args: argparse.Namespace) -> int | str | None:
    from eventkit.exceptions import ConfigurationError

    since = getattr(args, "since", None)
    if since and args.start:
        raise ConfigurationError("give --since or --start, not both")
    return since or position(args.start)


def no_progress(args: argparse.Namespace) -> bool:
    """No progress bar for scripts: asked for, or stderr is not a terminal."""
    return bool(getattr(args, "no_progress", False)) or not sys.stderr.isatty()


def print_frame(frame: pl.DataFrame, *, rows: int = -1) -> None:
    """A table for a person: wide enough, no shape line, every row asked for."""
    import polars as pl

    with pl.Config(tbl_rows=rows, tbl_width_chars=200, fmt_str_lengths=60,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   fmt_table_cell_list_len=6):
        print(frame)


def print_json(value: Any) -> None:
    """One JSON document for a script (times as ISO 8601, bytes as text)."""
    print(json.dumps(value, default=_plain, indent=2))


def print_rows(frame: pl.DataFrame) -> None:
    """JSON lines, one object per row."""
    for row in frame.iter_rows(named=True):
        print(json.dumps(row, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)
