"""Result objects show as rich HTML in a notebook, never as a raw dataclass repr."""

from __future__ import annotations

import pytest

import eventkit as ek

pytestmark = pytest.mark.integration


def test_results_have_html_displays(server, rides, tmp_path):
    with ek.connect(server.url) as conn:
        events = conn.read("RIDES", progress=False)
        store = ek.Store(tmp_path / "store")
        synced = store.sync(conn, "RIDES")
        report = store.integrity(conn)
        registry = ek.SchemaRegistry()
        registry.register("trip_completed", {"type": "object",
                                             "properties": {"fare": {"type": "number"}}})
    shown = {
        "summary": (events.summary(), "Summary of events", f"{len(events):,} events"),
        "sync": (synced, "Sync of RIDES", f"stored {synced.events:,} new events"),
        "integrity": (report, "Integrity of the store of &#x27;RIDES&#x27;", "OK"),
        "store": (store, "eventkit Store", f"{synced.events:,} events"),
        "registry": (registry, "SchemaRegistry", "trip_completed"),
    }
    for name, (value, title, fact) in shown.items():
        page = value._repr_html_()
        assert page.startswith("<div class='eventkit-result'"), name
        assert title in page and fact in page, (name, page[:500])
        assert "(" + type(value).__name__ not in page.replace("SchemaRegistry(", ""), name
    assert "<details><summary>malformed:" in report._repr_html_()  # its tables, folded
