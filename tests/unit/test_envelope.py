"""Envelope rules: times read the same whatever else is in the batch."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from eventkit.envelope import parse_times

times = st.one_of(
    st.sampled_from(["2026-11-01T10:00:00Z", "2026-11-01T10:00:00.123456789Z",
                     "2026-11-01 10:00:00Z", "2026-11-01T10:00Z", "2026-11-01T10Z",
                     "2026-11-01T11:00:00+01:00", "2026-11-01T11:00:00+0100",
                     "2026-13-01T10:00:00Z", "2026-11-01T10:00:00", "1793534400000",
                     "1793534400", "soon", ""]),
    st.none(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(times, min_size=1, max_size=12))
def test_a_time_reads_the_same_alone_and_in_any_batch(values):
    together = parse_times(pl.Series(values, dtype=pl.String)).to_list()
    alone = [parse_times(pl.Series([v], dtype=pl.String)).to_list()[0] for v in values]
    assert together == alone
