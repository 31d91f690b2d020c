"""The store: a stream's events as Delta Lake tables, synced incrementally.

A store is a directory (or an object-store URL) of Delta tables that
polars, DuckDB, pandas and Spark read as they are (see
:mod:`eventkit.store.table` for the layout and how the tables stay
consistent). Modules: ``table`` (the tables and their state), ``sync`` (a
sync, one commit per batch), ``gaps`` (what the stream no longer has),
``integrity`` (the report, checksums), ``maintenance`` (compaction, vacuum,
versions, SQL), ``upgrade`` (stores of eventkit 0.1), ``follow`` (live).
"""

from eventkit.store._disk import GAP_SCHEMA, MISFIT_SCHEMA, type_dir
from eventkit.store._writer import SyncResult
from eventkit.store.core import Store
from eventkit.store.follow import Follower
from eventkit.store.integrity import IntegrityReport
from eventkit.store.table import State

__all__ = [
    "GAP_SCHEMA",
    "MISFIT_SCHEMA",
    "Follower",
    "IntegrityReport",
    "State",
    "Store",
    "SyncResult",
    "type_dir",
]
