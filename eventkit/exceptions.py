"""Errors raised by eventkit.

Every error is an :class:`EventkitError`; messages say what failed, where
(server, stream, subject, sequence) and what to try next, and never carry a
password, token, seed or JWT.

::

    EventkitError
    ├── ConfigurationError (ValueError)     bad argument or setting
    │   ├── TimeArgumentError               a time/position the caller gave
    │   └── ColumnNotFoundError (KeyError)  no such column or field in these events
    ├── MissingDependencyError (ImportError) an extra is not installed (names it)
    ├── ServerNotFoundError                  no nats-server binary to start
    ├── ConnectionFailedError                server unreachable, TLS refused
    │   └── AuthenticationError             wrong or missing credentials
    ├── PermissionDeniedError                the account may not do this
    ├── JetStreamAPIError                    the JetStream API refused (code, err_code, description)
    │   └── StreamNotFoundError (LookupError) no such stream on the server
    ├── ReadInterruptedError                 server went away mid-read, retries spent
    ├── PublishError                         a publish stopped part-way (says how far it got)
    ├── StoreError                           a local store does not match, is busy or damaged
    │   └── UnknownTypeError (also a ConfigurationError, LookupError)  of_type of a type not there
    ├── SchemaCompatibilityError (ValueError) a new schema breaks the type's compatibility mode
    ├── SchemaConflictError                  another client registered the same version first
    ├── SchemaNotFoundError (LookupError)    no such event type or version in a schema registry
    └── ClosedError (RuntimeError)           use of a closed connection

    EventkitWarning (UserWarning)            something worked, differently than asked
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthenticationError",
    "ClosedError",
    "ColumnNotFoundError",
    "ConfigurationError",
    "ConnectionFailedError",
    "EventkitError",
    "EventkitWarning",
    "JetStreamAPIError",
    "MissingDependencyError",
    "PermissionDeniedError",
    "PublishError",
    "ReadInterruptedError",
    "SchemaCompatibilityError",
    "SchemaConflictError",
    "SchemaNotFoundError",
    "ServerNotFoundError",
    "StoreError",
    "StreamNotFoundError",
    "TimeArgumentError",
    "UnknownTypeError",
]


class EventkitError(Exception):
    """Base of every error eventkit raises."""


class ConfigurationError(EventkitError, ValueError):
    """An argument or setting is not usable as given."""


class TimeArgumentError(ConfigurationError):
    """A time, duration or position argument could not be understood."""


class ColumnNotFoundError(ConfigurationError, KeyError):
    """A chart or widget was asked for a column or payload field the events do not have.

    Also a ``KeyError``, as a missing column is in polars and pandas.
    """

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(EventkitError, ImportError):
    """A part of eventkit needs a package of an extra that is not installed.

    The message names the extra: ``pip install 'eventkit[jupyter]'``.
    """


class ServerNotFoundError(EventkitError):
    """No ``nats-server`` binary was found to start."""


class ConnectionFailedError(EventkitError):
    """The server could not be reached, or the connection was refused."""


class AuthenticationError(ConnectionFailedError):
    """The server refused the credentials (which are never shown)."""


class PermissionDeniedError(EventkitError):
    """The server refused an operation for lack of permission."""


class JetStreamAPIError(EventkitError):
    """The JetStream API refused a request.

    ``code`` is the answer's HTTP-like status (e.g. 404), ``err_code`` the
    server's own error number (e.g. 10059, stream not found: nats-server's
    ``errors.json``) and ``description`` its words; match on ``err_code``,
    never on the text. Each is None (or empty) when the server did not say.
    """

    def __init__(self, message: str, *, code: int | None = None, err_code: int | None = None,
                 description: str = "") -> None:
        super().__init__(message)
        self.code, self.err_code, self.description = code, err_code, description


class StreamNotFoundError(JetStreamAPIError, LookupError):
    """The stream does not exist on the server."""


class ReadInterruptedError(EventkitError):
    """A read stopped before its end and retries did not get it further.

    ``stream`` and ``server`` say where, ``resume`` is the stream sequence to
    read from to continue (None when not known).
    """

    def __init__(self, message: str, *, stream: str | None = None, server: str | None = None,
                 resume: int | None = None) -> None:
        super().__init__(message)
        self.stream, self.server, self.resume = stream, server, resume


class PublishError(EventkitError):
    """A publish stopped part-way; it says exactly what the server acknowledged.

    ``stored`` messages were stored and ``duplicates`` dropped as repeats (by
    ``Nats-Msg-Id``); every message before index ``resume`` was acknowledged,
    so publishing ``payloads[resume:]`` continues without duplicates (a
    message sent but not acknowledged may still have been stored: give
    messages a ``Nats-Msg-Id`` header to make such a retry exact).
    """

    def __init__(self, message: str, *, stored: int, duplicates: int, resume: int) -> None:
        super().__init__(message)
        self.stored, self.duplicates, self.resume = stored, duplicates, resume


class StoreError(EventkitError):
    """A local store holds another stream, is being written by another sync, or is damaged."""


class UnknownTypeError(StoreError, ConfigurationError, LookupError):
    """``of_type`` named an event type that these events (or this store) do not hold.

    The message lists the types present. Raised alike by ``Events.of_type``
    and ``Store.of_type``; it is a :class:`StoreError` and a
    :class:`ConfigurationError`, as each of them raised before.
    """


class SchemaCompatibilityError(EventkitError, ValueError):
    """A schema was refused: it breaks the compatibility mode of its event type.

    ``problems`` lists each reason (the field, the rule it breaks, the
    version it was checked against).
    """

    def __init__(self, message: str, problems: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class SchemaConflictError(EventkitError):
    """Another client registered a different schema as the same version at the same time."""


class SchemaNotFoundError(EventkitError, LookupError):
    """The schema registry has no such event type, or no such version of it."""


class ClosedError(EventkitError, RuntimeError):
    """The object was closed and cannot be used again."""


class EventkitWarning(UserWarning):
    """Something worked, but not the way it was asked (e.g. a slower fallback)."""
