"""Deprecated: the schema registry moved to :mod:`eventkit.schema`.

``eventkit.registry`` still works for one release and warns on use; use
``eventkit.SchemaRegistry`` or ``from eventkit.schema import ...``.
"""

from __future__ import annotations

import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    from eventkit import schema
    from eventkit.schema import _backends, _kv, _snapshot, _versions
    from eventkit.schema import registry as facade

    modules = (facade, _backends, _kv, _snapshot, _versions)
    if name == "_Snapshot":
        value: Any = _snapshot.Snapshot
    elif name in schema.__all__:
        value = getattr(schema, name)
    elif not name.startswith("__") and any(name in vars(m) for m in modules):
        value = next(vars(m)[name] for m in modules if name in vars(m))
    else:
        raise AttributeError(f"module 'eventkit.registry' has no attribute {name!r}")
    warnings.warn(f"eventkit.registry moved to eventkit.schema: import {name} from eventkit "
                  "or eventkit.schema; eventkit.registry goes away in the next release",
                  DeprecationWarning, stacklevel=2)
    return value
