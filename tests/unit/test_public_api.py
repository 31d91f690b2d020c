"""The public names are the ones we mean (and nothing private leaks out)."""

from __future__ import annotations

import eventkit as ek


def test_exported_names():
    assert set(ek.__all__) == {
        "__version__",
        "aconnect",
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


_USER_MODULES = ("eventkit", "eventkit.store", "eventkit.query", "eventkit.where",
                 "eventkit.export", "eventkit.charts", "eventkit.schema", "eventkit.replay",
                 "eventkit.sample.rides", "eventkit.sample.publish", "eventkit.widgets")


def _public_names():
    """(module name, name, value) of every public name of the modules a user imports."""
    import importlib

    for module_name in _USER_MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or [
            n for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module_name]
        for name in names:
            yield module_name, name, getattr(module, name)


def _methods(cls):
    """The public methods of ``cls`` (``__init__`` too), its eventkit bases' included."""
    import inspect

    seen = set()
    for klass in cls.__mro__:
        for attr, member in vars(klass).items():
            if attr in seen or (attr.startswith("_") and attr != "__init__"):
                continue
            seen.add(attr)
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            # (a Protocol's generated __init__ is typing's, not ours)
            if inspect.isfunction(member) and member.__module__.startswith("eventkit"):
                yield attr, member


def _properties(cls):
    return [name for name in dir(cls) if isinstance(getattr(cls, name, None), property)]


def _public_callables():
    """Every public function, class and method of the modules a user imports."""
    import inspect

    for module_name, name, value in _public_names():
        if inspect.isclass(value):
            for attr, member in _methods(value):
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


#: The public calls of the classes with ``await`` twins that need none: they answer from
#: memory or from local files (lazily, or a small read), or start a thread and return.
NO_TWIN = {
    "Connection": set(),
    "Replay": {"frames",  # an iterator (a read a step): arun and start run it off the caller
               "start"},
    "SchemaRegistry": {"from_dir", "infer", "upcaster", "versions_over_time"},
    "Store": {"scan", "of_type", "between", "as_of", "upto", "state_at",  # out of core
              "state", "type_counts", "gaps", "misfits", "sql", "versions", "small_files",
              "at_version",
              "write", "follow"},
    "Follower": set(),
}
#: Elsewhere: a widget's refresh button (what a user awaits is its own polling, start()).
NO_TWIN_ELSEWHERE = {"eventkit.widgets.StreamView.refresh"}
#: Old names kept for one release, with a DeprecationWarning.
DEPRECATED = {"async_sync", "join_as_of"}


def _twin_name(name):
    """The ``await`` twin's name: ``a`` in front (``sync``'s is ``async_``, ``async`` being
    a keyword)."""
    return "async_" if name == "sync" else "a" + name


def _waits_on_the_loop(fn):
    """A call whose own code runs a coroutine on the I/O loop and waits for it."""
    import inspect

    code = inspect.unwrap(fn).__code__
    return not inspect.iscoroutinefunction(fn) and "_loop" in code.co_names \
        and "run" in code.co_names


def test_every_call_that_waits_has_an_await_twin_with_its_signature():
    """Every public call of a class that talks to NATS (Connection, Store, Replay,
    SchemaRegistry, ...) and every public function has its ``a``-twin with the same
    parameters, unless it is listed above as one that does not wait."""
    import inspect

    def shape(fn):
        return [(p.name, p.kind, p.default, p.annotation)
                for p in inspect.signature(fn).parameters.values()]

    # (a Protocol, such as SchemaBackend, is what a user implements, not what one calls)
    classes = {value for _, _, value in _public_names()
               if inspect.isclass(value) and not getattr(value, "_is_protocol", False)}
    with_twins = {cls: dict(_methods(cls)) for cls in classes
                  if any(inspect.iscoroutinefunction(m) for _, m in _methods(cls))}
    assert {cls.__name__ for cls in with_twins} == set(NO_TWIN)
    missing, differ, stray = [], [], []
    for cls, methods in with_twins.items():
        for name, fn in methods.items():
            if name == "__init__" or name in DEPRECATED:
                continue
            if inspect.iscoroutinefunction(fn):  # (a property's, such as atypes, too)
                if not any(_twin_name(s) == name for s in [*methods, *_properties(cls)]):
                    stray.append(f"{cls.__name__}.{name}")
                continue
            twin = methods.get(_twin_name(name))
            if twin is None:
                if name not in NO_TWIN[cls.__name__] or _waits_on_the_loop(fn):
                    missing.append(f"{cls.__name__}.{name}")
            elif name in NO_TWIN[cls.__name__]:
                stray.append(f"{cls.__name__}.{name} is listed as needing no twin")
            elif shape(twin) != shape(fn):
                differ.append(f"{cls.__name__}.{name}")
        assert NO_TWIN[cls.__name__] <= set(methods), cls
    calls = dict(_public_callables())  # module functions (connect) and every other class
    for name, fn in calls.items():
        head, _, attr = name.rpartition(".")
        if _waits_on_the_loop(fn) and f"{head}.{_twin_name(attr)}" not in calls \
                and name not in NO_TWIN_ELSEWHERE:
            missing.append(name)
    assert (missing, differ, stray) == ([], [], [])
    # the ones the rule was written for, found
    assert {"read", "sync", "compact", "run", "to_subject", "register"} <= {
        name for methods in with_twins.values() for name in methods}


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
