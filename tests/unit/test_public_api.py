"""The public names are the ones we mean (and nothing private leaks out)."""

from __future__ import annotations

import eventkit as ek


def test_exported_names():
    assert set(ek.__all__) == {
        "__version__",
        "AuthenticationError",
        "ClosedError",
        "ConfigurationError",
        "connect",
        "Connection",
        "ConnectionFailedError",
        "EmbeddedServer",
        "ENVELOPE_SCHEMA",
        "EventkitError",
        "EventkitWarning",
        "Events",
        "Fold",
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
    }
    for name in ek.__all__:
        assert hasattr(ek, name), name


def test_every_error_is_an_eventkit_error_and_value_errors_are_value_errors():
    errors = [getattr(ek, n) for n in ek.__all__ if n.endswith("Error")]
    assert issubclass(ek.EventkitWarning, UserWarning)
    assert all(issubclass(e, ek.EventkitError) for e in errors)
    assert issubclass(ek.ConfigurationError, ValueError)
    assert issubclass(ek.TimeArgumentError, ValueError)
    assert issubclass(ek.StreamNotFoundError, LookupError)
    assert issubclass(ek.SchemaCompatibilityError, ValueError)
    assert issubclass(ek.SchemaNotFoundError, LookupError)


def test_events_methods_spell_out_the_options_of_their_queries():
    """Every Events method that answers with a query takes that query's keywords by name."""
    import inspect

    from eventkit import query

    for name in ("state_at", "diff", "windows", "sessions", "durations", "join_as_of",
                 "late_events"):
        method = inspect.signature(getattr(ek.Events, name)).parameters
        assert not any(p.kind is p.VAR_KEYWORD for p in method.values()), name
        wanted = {n for n, p in inspect.signature(getattr(query, name)).parameters.items()
                  if p.kind is p.KEYWORD_ONLY}
        assert wanted <= set(method), (name, wanted - set(method))
