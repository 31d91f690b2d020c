"""Replay: history played back in sequence order, into projections or back onto NATS.

A replay reads events in batches (from what a read returned, from a store,
or straight from a stream), bounded by ``start`` and ``end``, and feeds
them in order to a projection: code that turns events into state. It runs
as fast as possible or at a multiple of the original pace (``speed``), in the
foreground (:meth:`Replay.run`) or in the background (:meth:`Replay.start`,
with pause, resume, step, seek and stop, the kernel staying free).

Projections:

- :class:`Fold`: a reducer ``(state, event) -> state`` per entity, with an
  initial state; called once per event, in Python.
- :class:`Latest`: the latest non-null value of each field per entity,
  vectorised a batch at a time; the same answer as
  :func:`eventkit.query.state_at` with the default fold.
- any object with ``apply(event: dict)`` or ``apply_batch(frame)``, and
  ``state() -> pl.DataFrame`` (``snapshot()`` / ``restore()`` are optional).

Every ``snapshot_every`` events a background run keeps a snapshot of the
projection, so seeking costs the events since the nearest snapshot before
the target, not the whole history.
"""

from eventkit.replay._projections import Fold, Latest, Projection
from eventkit.replay._replay import Replay
from eventkit.replay._run import ReplayRun

__all__ = ["Fold", "Latest", "Projection", "Replay", "ReplayRun"]
