"""The ``eventkit`` command.

    eventkit demo                     the sample history end to end, on an embedded server
    eventkit serve [--sample]         a local JetStream server until Ctrl-C
    eventkit streams                  the streams: counts, first/last sequence and time
    eventkit info STREAM              a stream's configuration, limits, state and consumers
    eventkit view STREAM              events as a table or JSON lines, page by page
    eventkit export STREAM --out F    events to Parquet, CSV or JSON lines
    eventkit sync --stream S --store DIR [--follow]
                                      copy a stream into a store (Delta Lake), incrementally
    eventkit compact --store DIR      rewrite small files as few large ones (+ vacuum)
    eventkit store upgrade DIR        convert a store of eventkit 0.1 to Delta Lake
    eventkit report --stream S --since 24h --out report.html
    eventkit schema infer | register | check | list

Every command takes its connection as the Python API does (``--server``,
``--context``, ``--creds``, ... or ``$NATS_*``), prints one line on stderr
and exits 2 for a mistake (``--debug`` shows the traceback), and exits 130
on Ctrl-C after cleaning up.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence

from eventkit import __version__

__all__ = ["main"]


_COMMANDS = textwrap.dedent((__doc__ or "\n\n").split("\n\n")[1]).strip("\n")


def parser() -> argparse.ArgumentParser:
    """The whole command line, every subcommand with its help and an example."""
    from eventkit.cli import _run, _schema, _store, _stream

    top = argparse.ArgumentParser(
        prog="eventkit", description=_COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'eventkit COMMAND --help' for a command's options and an example.")
    top.add_argument("--version", action="version", version=f"eventkit {__version__}")
    top.add_argument("--debug", action="store_true", help="show the whole traceback of an error")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run.add(sub)
    _stream.add(sub)
    _store.add(sub)
    _schema.add(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 findings, 2 an error, 130 Ctrl-C)."""
    args = parser().parse_args(argv)
    from eventkit.exceptions import EventkitError

    try:
        return int(args.run(args))
    except EventkitError as exc:
        if args.debug:
            raise
        print(f"eventkit {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the call under way has cleaned up (see source._loop.run)
        if args.debug:
            raise
        print(f"eventkit {args.command}: interrupted", file=sys.stderr)
        return 130
