"""eventkit: explore event-sourced systems on NATS JetStream from Jupyter.

>>> import eventkit as ek
>>> ek.Rules(key="field:ride_id").key
(Rule(source='field', name='ride_id'),)
"""

from eventkit.connection import Connection, aconnect, connect
from eventkit.envelope import ENVELOPE_SCHEMA, Rule, Rules
from eventkit.events import Events, ReadInfo, Summary
from eventkit.exceptions import (
    AuthenticationError,
    ClosedError,
    ConfigurationError,
    ConnectionFailedError,
    EventkitError,
    EventkitWarning,
    JetStreamAPIError,
    MissingDependencyError,
    PermissionDeniedError,
    PublishError,
    ReadInterruptedError,
    SchemaCompatibilityError,
    SchemaConflictError,
    SchemaNotFoundError,
    ServerNotFoundError,
    StoreError,
    StreamNotFoundError,
    TimeArgumentError,
    UnknownTypeError,
)
from eventkit.replay import Fold, Latest, Replay, ReplayRun
from eventkit.schema import SchemaRegistry
from eventkit.server import EmbeddedServer
from eventkit.source.jetstream import StreamInfo
from eventkit.store import Store


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eventkit")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0+unknown"


__version__ = _version()

__all__ = [
    "ENVELOPE_SCHEMA",
    "AuthenticationError",
    "ClosedError",
    "ConfigurationError",
    "Connection",
    "ConnectionFailedError",
    "EmbeddedServer",
    "EventkitError",
    "EventkitWarning",
    "Events",
    "Fold",
    "JetStreamAPIError",
    "Latest",
    "MissingDependencyError",
    "PermissionDeniedError",
    "PublishError",
    "ReadInfo",
    "ReadInterruptedError",
    "Replay",
    "ReplayRun",
    "Rule",
    "Rules",
    "SchemaCompatibilityError",
    "SchemaConflictError",
    "SchemaNotFoundError",
    "SchemaRegistry",
    "ServerNotFoundError",
    "Store",
    "StoreError",
    "StreamInfo",
    "StreamNotFoundError",
    "Summary",
    "TimeArgumentError",
    "UnknownTypeError",
    "__version__",
    "aconnect",
    "connect",
]
