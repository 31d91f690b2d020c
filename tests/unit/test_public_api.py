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
        "JetStreamAPIError",
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
        "UnknownTypeError",
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

    for name in ("state_at", "diff", "windows", "sessions", "durations", "join_asof",
                 "late_events"):
        method = inspect.signature(getattr(ek.Events, name)).parameters
        assert not any(p.kind is p.VAR_KEYWORD for p in method.values()), name
        wanted = {n for n, p in inspect.signature(getattr(query, name)).parameters.items()
                  if p.kind is p.KEYWORD_ONLY}
        assert wanted <= set(method), (name, wanted - set(method))


def _public_callables():
    """Every public function, class and method of the modules a user imports."""
    import importlib
    import inspect

    for module_name in ("eventkit", "eventkit.store", "eventkit.query", "eventkit.where",
                        "eventkit.export", "eventkit.charts", "eventkit.schema",
                        "eventkit.replay", "eventkit.sample.rides", "eventkit.sample.publish",
                        "eventkit.widgets"):
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or [
            n for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module_name]
        for name in names:
            value = getattr(module, name)
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    # (a Protocol's generated __init__ is typing's, not ours)
                    if inspect.isfunction(member) and member.__module__.startswith("eventkit"):
                        yield f"{module_name}.{name}.{attr}", member
            elif inspect.isfunction(value):
                yield f"{module_name}.{name}", value


def test_public_calls_name_every_keyword():
    """No public call swallows keywords (``**options``): a typo is a TypeError, an IDE
    completes every option, and a type checker sees each one."""
    import inspect

    swallowing = [name for name, fn in _public_callables()
                  if any(p.kind is p.VAR_KEYWORD
                         for p in inspect.signature(fn).parameters.values())]
    assert swallowing == []


def test_async_twins_take_what_their_synchronous_calls_take():
    """``aread`` and ``read`` (and every other pair) have one signature, so they stay in step."""
    import inspect

    calls = dict(_public_callables())
    # ``async_`` is the twin of ``sync`` (``async`` is a keyword: PEP 8's trailing ``_``)
    pairs = [(name, calls[f"{head}.{attr[1:].removesuffix('_')}"])
             for name, fn in calls.items()
             for head, _, attr in [name.rpartition(".")]
             if attr.startswith("a") and inspect.iscoroutinefunction(fn)
             and f"{head}.{attr[1:].removesuffix('_')}" in calls]
    assert len(pairs) > 10

    def shape(fn):
        return [(p.name, p.kind, p.default, p.annotation)
                for p in inspect.signature(fn).parameters.values()]

    differ = [name for name, sync in pairs if shape(calls[name]) != shape(sync)]
    assert differ == []
    inherited = [(ek.Store, "compact", "acompact"), (ek.Store, "sync", "async_"),
                 (ek.Replay, "run", "arun")]
    assert all(inspect.iscoroutinefunction(getattr(cls, a)) for cls, _, a in inherited)
    assert [a for cls, s, a in inherited if shape(getattr(cls, a)) != shape(getattr(cls, s))] == []


def test_the_error_tree_in_the_docs_is_the_class_tree():
    """The tree drawn in the exceptions module's docstring is the real one, every class in it."""
    import re

    from eventkit import exceptions

    drawn: dict[str, str] = {}
    parents: list[str] = []
    for line in (exceptions.__doc__ or "").splitlines():
        match = re.match(r"^    ((?:[│ ]   )*)(?:[├└]── )?(\w+(?:Error|Warning))\b", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4 + (1 if "── " in line else 0)
        name = match.group(2)
        parents[depth:] = [name]
        drawn[name] = parents[depth - 1] if depth else ""
    real = {name: obj for name, obj in vars(exceptions).items()
            if isinstance(obj, type) and issubclass(obj, Exception | Warning)
            and obj.__module__ == exceptions.__name__}
    assert set(drawn) == set(real), "the drawn tree and the classes differ"
    for name, parent in drawn.items():
        if parent:
            assert real[parent] in real[name].__bases__, f"{name} is drawn under {parent}"
    assert set(exceptions.__all__) == set(real)
