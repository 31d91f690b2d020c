"""Errors raised by eventkit.

Every error is an :class:`EventkitError`; messages say what failed, where
(server, stream, subject, sequence) and what to try next, and never carry a
password, token, seed or JWT.

::

    EventkitError
    ├── ConfigurationError (ValueError)     bad argument or setting
    │   └── TimeArgumentError               a time/position the caller gave
    ├── ServerNotFoundError                  no nats-server binary to start
    ├── ConnectionFailedError                server unreachable, TLS refused
    │   └── AuthenticationError             wrong or missing credentials
    ├── PermissionDeniedError                the account may not do this
    ├── StreamNotFoundError (LookupError)    no such stream on the server
    ├── ReadInterruptedError                 server went away mid-read, retries spent
    ├── StoreError                           a local store does not match, is busy or damaged
    └── ClosedError (RuntimeError)           use of a closed connection

    EventkitWarning (UserWarning)            something worked, differently than asked
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ClosedError",
    "ConfigurationError",
    "ConnectionFailedError",
    "EventkitError",
    "EventkitWarning",
    "PermissionDeniedError",
    "ReadInterruptedError",
    "ServerNotFoundError",
    "StoreError",
    "StreamNotFoundError",
    "TimeArgumentError",
]


class EventkitError(Exception):
    """Base of every error eventkit raises."""


class ConfigurationError(EventkitError, ValueError):
    """An argument or setting is not usable as given."""


class TimeArgumentError(ConfigurationError):
    """A time, duration or position argument could not be understood."""


class ServerNotFoundError(EventkitError):
    """No ``nats-server`` binary was found to start."""


class ConnectionFailedError(EventkitError):
    """The server could not be reached, or the connection was refused."""


class AuthenticationError(ConnectionFailedError):
    """The server refused the credentials (which are never shown)."""


class PermissionDeniedError(EventkitError):
    """The server refused an operation for lack of permission."""


class StreamNotFoundError(EventkitError, LookupError):
    """The stream does not exist on the server."""


class ReadInterruptedError(EventkitError):
    """The server went away during a read and retries did not bring it back."""


class StoreError(EventkitError):
    """A local store holds another stream, is being written by another sync, or is damaged."""


class ClosedError(EventkitError, RuntimeError):
    """The object was closed and cannot be used again."""


class EventkitWarning(UserWarning):
    """Something worked, but not the way it was asked (e.g. a slower fallback)."""
