"""A background replay's seeks: from the nearest snapshot, forward in whole batches, snapshots
kept for the next seek, and a player that draws where a seek goes, not the way there."""

from __future__ import annotations

import threading

import polars as pl
import pytest

import eventkit as ek
from eventkit.widgets import ReplayPlayer
from tests.eventually import eventually
from tests.samples import sample_events


class Counted(ek.Latest):
    """``Latest``, counting the events and the batches it is fed."""

    def __init__(self) -> None:
        super().__init__()
        self.fed: list[int] = []

    def apply_batch(self, frame: pl.DataFrame) -> None:
        self.fed.append(frame.height)
        super().apply_batch(frame)


class Held(ek.Latest):
    """``Latest`` that, once armed, takes one batch, then waits in the next until let go."""

    def __init__(self) -> None:
        super().__init__()
        self.armed, self.taken = False, 0
        self.inside, self.go = threading.Event(), threading.Event()

    def apply_batch(self, frame: pl.DataFrame) -> None:
        if self.armed:
            self.taken += 1
            if self.taken == 2:
                self.inside.set()
                self.go.wait(30)
        super().apply_batch(frame)


@pytest.fixture(scope="module")
def events() -> ek.Events:
    return sample_events()


def seek(run: ek.ReplayRun, seq: int) -> None:
    run.seek(seq)
    eventually(lambda: run.position == seq and run.paused and not run.seeking, 30)


def test_seeks_start_from_the_nearest_snapshot_and_keep_those_past_them(events):
    seqs = events.to_polars()["seq"]
    far, back, near = int(seqs[9_500]), int(seqs[700]), int(seqs[9_100])
    projection = Counted()
    run = ek.Replay(events, batch=500).start(projection, snapshot_every=2_000, paused=True)
    try:
        seek(run, far)
        assert projection.fed and max(projection.fed) == 2_000  # whole batches, not 500s
        assert sum(projection.fed) == 9_501
        assert run.state().equals(events.state_at(far, on="time"))
        seek(run, back)
        assert run.state().equals(events.state_at(back, on="time"))
        projection.fed.clear()
        seek(run, near)  # from the snapshot at 8,000 events, taken on the way to `far`
        assert sum(projection.fed) == 9_101 - 8_000
        assert run.state().equals(events.state_at(near, on="time"))
    finally:
        run.stop()


def test_the_player_draws_where_a_seek_goes_not_the_way_there(events):
    projection = Held()
    player = ReplayPlayer(events, projection, tick=3_600)
    draws: list[object] = []
    show = player._show_chart
    player._show_chart = lambda chart: (draws.append(chart), show(chart))  # type: ignore[method-assign]
    try:
        player.run.snapshot_every = 1_000
        projection.armed = True
        target = int(events.to_polars()["seq"][6_000])
        player.seek(target)
        assert projection.inside.wait(30) and player.run.seeking
        assert player.run.events == 1_000  # a batch applied, the seek not done
        player._render()  # as the poller does while the seek is on its way
        assert not draws
        projection.go.set()
        eventually(lambda: not player.run.seeking and player.run.position == target, 30)
        player._render()
        assert len(draws) == 1 and player.events == 6_001 and player.slider.value == target
    finally:
        player.close()
