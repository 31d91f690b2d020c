"""A replay in progress: pacing, pause, step, seek (from snapshots), stop."""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import polars as pl

from eventkit._time import Instant, cutoff, to_position
from eventkit._typing import TimeLike
from eventkit.exceptions import ConfigurationError
from eventkit.replay._projections import Projection, _BatchProjection, _EventProjection
from eventkit.replay._sources import _up_to_end

if TYPE_CHECKING:
    from eventkit.replay._replay import Replay


class ReplayRun:
    """A replay in progress: where it is, how fast, its control, its projection's state."""

    def __init__(self, replay: Replay, projection: Projection, *, snapshot_every: int = 50_000,
                 progress: bool = False) -> None:
        if not isinstance(projection, (_BatchProjection, _EventProjection)):
            raise ConfigurationError(
                f"{type(projection).__name__} is not a projection: give it apply(event) or "
                "apply_batch(frame), and state()"
            )
        self.replay = replay
        self.projection = projection
        self.snapshot_every = snapshot_every
        self._progress = progress
        self.position = replay.first_after()
        self.time_reached: dt.datetime | None = None
        #: The pace clock (``replay.pace_on``) of the last event applied: what a player shows.
        self.clock_reached: dt.datetime | None = None
        self.events = 0
        self.error: Exception | None = None
        self.done = False
        self.timing_errors: list[float] = []  # seconds late (or early) per paced event
        self._started = time.perf_counter()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._steps = 0
        self._seek_to: int | Instant | None = None
        self._snapshots: list[_Mark] = [
            _Mark(self.position, None, None, None, 0, _snapshot(projection))]
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        with self._lock:
            self._steps = 0
        self._running.set()

    def step(self, n: int = 1) -> None:
        """Apply ``n`` more events, then pause."""
        with self._lock:
            self._steps = n
        self._running.set()

    def seek(self, to: TimeLike) -> None:
        """Go to a sequence or a time (from the nearest snapshot before it), then pause."""
        target = to_position(to, what="seek target")
        if target is None:
            raise ConfigurationError("seek needs a sequence or a time")
        with self._lock:
            self._seek_to = target
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until everything is played (or the run stopped or failed); True if so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self.done or self.error or self._stop.is_set()):
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def wait_until(self, condition: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Wait until ``condition()`` holds (e.g. ``lambda: run.events >= 100``), the run
        ended, or ``timeout`` seconds passed; True if the condition holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.error or self._stop.is_set() or time.monotonic() > deadline:
                return bool(condition())
            time.sleep(0.01)
        return True

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def events_per_second(self) -> float:
        seconds = time.perf_counter() - self._started
        return self.events / seconds if seconds > 0 else 0.0

    def state(self) -> pl.DataFrame:
        """The projection's state now."""
        with self._lock:
            return self.projection.state()

    def __repr__(self) -> str:
        where = self.time_reached.isoformat() if self.time_reached else "-"
        status = ("failed" if self.error else "done" if self.done
                  else "stopped" if self._stop.is_set() else "paused" if self.paused
                  else "running")
        return (f"<ReplayRun {status}: seq {self.position}, time {where}, "
                f"{self.events:,} events, {self.events_per_second:,.0f}/s>")

    def _repr_html_(self) -> str:
        from eventkit._display import result_html

        return result_html("Replay run", repr(self).strip("<>"),
                           ok=False if self.error else None)

    # -- the loop -------------------------------------------------------------------
    def _loop(self, *, linger: bool = False) -> None:
        """Play to the end; with ``linger``, then wait for a seek back, or a stop."""
        try:
            while not self._stop.is_set():
                if self._play(self.position):  # a seek moved the position: play on from there
                    continue
                self.done = not self._stop.is_set()
                if not linger or self._stop.is_set():
                    return
                self._running.clear()
                if self._stop.is_set():  # stopped before the clear: do not wait for a resume
                    return
                self._running.wait()
                if self._stop.is_set() or not self._take_seek():
                    return
                self.done = False
        except Exception as exc:  # kept for the caller: run() raises it, a handle shows it
            self.error = exc

    def _play(self, after: int) -> bool:
        """Feed the events after ``after``; True if a seek interrupted (and was done)."""
        speed = self.replay.speed
        origin: tuple[float, int] | None = None  # (wall clock, event clock in ns) at the start
        bar = _bar(self._progress)
        try:
            for frame in self.replay.frames(after=after):
                offset = 0
                while offset < frame.height:
                    if self._stop.is_set():
                        return False
                    self._running.wait()
                    if self._take_seek():
                        return True
                    if self.replay.speed != speed:  # a new pace counts from the next event
                        speed, origin = self.replay.speed, None
                    with self._lock:
                        steps = self._steps
                    size = frame.height - offset
                    if speed is not None:  # wait for the next event, then take all now due
                        origin = self._pace(frame.slice(offset, 1), speed, origin)
                        size, lateness = _due(frame, offset, speed, origin, self.replay.pace_on)
                        self.timing_errors += lateness
                    if steps:
                        size = min(size, steps)
                    part = frame.slice(offset, size)
                    self._feed(part)
                    if steps:
                        with self._lock:
                            self._steps = max(self._steps - size, 0)
                            if not self._steps:
                                self._running.clear()
                    bar(size)
                    offset += size
        finally:
            bar(0, close=True)
        return False

    def _feed(self, part: pl.DataFrame) -> None:
        with self._lock:
            projection = self.projection
            if isinstance(projection, _BatchProjection):
                projection.apply_batch(part)
            elif isinstance(projection, _EventProjection):
                apply = projection.apply
                for event in part.iter_rows(named=True):
                    apply(event)
            before = self.events
            self.events += part.height
            self.position = int(part["seq"][-1])
            self.time_reached = part["time"][-1]
            clock = self.replay.pace_on
            self.clock_reached = part[clock][-1] if clock in part.columns else None
            if self.events // self.snapshot_every > before // self.snapshot_every:
                self._snapshots.append(_Mark(
                    self.position, int(part["time"].dt.epoch("ns")[-1]), self.time_reached,
                    self.clock_reached, self.events, _snapshot(self.projection)))

    def _pace(self, part: pl.DataFrame, speed: float,
              origin: tuple[float, int] | None) -> tuple[float, int] | None:
        stamp = part[self.replay.pace_on].dt.epoch("ns")[0]
        if stamp is None:
            return origin
        ns = int(stamp)
        if origin is None:
            return (time.perf_counter(), ns)
        due = origin[0] + (ns - origin[1]) / 1e9 / speed
        while (wait := due - time.perf_counter()) > 0:
            if self._stop.is_set() or self._seek_to is not None:
                return origin
            time.sleep(min(wait, 0.05))
        return origin

    def _take_seek(self) -> bool:
        """Do a pending seek: restore the nearest snapshot, play forward to the target, pause."""
        with self._lock:
            target, self._seek_to = self._seek_to, None
            if target is None:
                return False
            mark = [s for s in self._snapshots if _before(s, target)][-1]
            _restore(self.projection, mark.state)
            self.position, self.events = mark.seq, mark.events
            self.time_reached, self.clock_reached = mark.time, mark.clock
            self._snapshots = [s for s in self._snapshots if s.seq <= mark.seq]
        for frame in self.replay.frames(after=self.position):
            part = _up_to_end(frame, target)
            if part.height:
                self._feed(part)
            if part.height < frame.height:
                break
        self._running.clear()
        return True


def _due(frame: pl.DataFrame, offset: int, speed: float, origin: tuple[float, int] | None,
         clock: str, *, ahead: int = 10_000) -> tuple[int, list[float]]:
    """How many events from ``offset`` on are due by now (at least one), and how late each is.

    A paced replay that falls behind (a slow projection, a fast pace) hands
    the projection everything that is due at once, instead of one event at
    a time, and so catches up.
    """
    now = time.perf_counter()
    if origin is None:
        return 1, [0.0]
    stamps = frame.get_column(clock).slice(offset, ahead).dt.epoch("ns")
    lateness = now - ((stamps - origin[1]) / 1e9 / speed + origin[0])
    not_due = (lateness < 0).arg_true()
    size = max(int(not_due[0]) if len(not_due) else len(stamps), 1)
    return size, lateness.head(size).fill_null(0.0).to_list()


class _Mark(NamedTuple):
    """A snapshot of a run: where it was and the projection's state there."""

    seq: int
    ns: int | None  # the time reached, exact (for seeks to a time)
    time: dt.datetime | None  # ... as ReplayRun.time_reached shows it
    clock: dt.datetime | None  # ReplayRun.clock_reached (the pacing clock) there
    events: int
    state: Any


def _before(mark: _Mark, target: int | Instant) -> bool:
    if isinstance(target, int):
        return mark.seq <= target
    return mark.ns is None or mark.ns <= cutoff(target, "<=")


def _snapshot(projection: Any) -> Any:
    take = getattr(projection, "snapshot", None)
    return take() if take is not None else copy.deepcopy(vars(projection))


def _restore(projection: Any, snapshot: Any) -> None:
    put = getattr(projection, "restore", None)
    if put is not None:
        put(snapshot)
    else:
        vars(projection).update(copy.deepcopy(snapshot))


class _bar:
    """A progress bar (tqdm.auto: a widget in a notebook) that may be switched off."""

    def __init__(self, show: bool) -> None:
        self._bar = None
        if show:
            from tqdm.auto import tqdm

            self._bar = tqdm(unit="ev", unit_scale=True, desc="replaying", delay=0.5, leave=False)

    def __call__(self, n: int, *, close: bool = False) -> None:
        if self._bar is not None:
            self._bar.update(n)
            if close:
                self._bar.close()
