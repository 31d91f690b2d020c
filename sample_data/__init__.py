"""A deterministic ride-share event history for demos, tests and benchmarks.

>>> from sample_data import generate
>>> generate(seed=1, n_events=200).columns
['subject', 'headers', 'data', 'arrival']
"""

from sample_data.rides import (
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
