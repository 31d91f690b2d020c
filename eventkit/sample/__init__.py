"""A deterministic ride-share event history for demos, tests and benchmarks.

The names below live in :mod:`eventkit.sample.rides` and are imported on first use,
so that ``python -m eventkit.sample.rides`` runs that module only once.

>>> from eventkit.sample import generate
>>> generate(seed=1, n_events=200).columns
['subject', 'headers', 'data', 'arrival']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventkit.sample.rides import (
        CITIES,
        RULES,
        SHIPPED_ARGS,
        STREAM,
        SUBJECTS,
        generate,
        load,
        payment_schema_switch,
        write,
    )

__all__ = [
    "CITIES",
    "RULES",
    "SHIPPED_ARGS",
    "STREAM",
    "SUBJECTS",
    "generate",
    "load",
    "payment_schema_switch",
    "write",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from eventkit.sample import rides

        return getattr(rides, name)
    raise AttributeError(f"module 'eventkit.sample' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
