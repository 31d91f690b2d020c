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


def test_every_public_result_dataclass_has_an_html_display(server, rides):
    """Derived from the package: each public dataclass a call returns (StreamInfo, ReadInfo,
    PublishResult, ...) shows a titled HTML page with its facts, never its dataclass repr."""
    import asyncio
    import dataclasses
    import inspect

    import eventkit.events
    import eventkit.source.jetstream
    import eventkit.store._writer
    import eventkit.store.integrity

    config = {ek.Rule, ek.Rules}  # settings a user writes, not results
    plumbing = {eventkit.source.jetstream.RawBatch, eventkit.source.jetstream.ReadState,
                eventkit.store.integrity.StreamFacts}  # internal, never handed to a user
    modules = (eventkit.events, eventkit.source.jetstream, eventkit.store._writer,
               eventkit.store.integrity)  # where calls' results are defined
    candidates = [getattr(ek, name) for name in ek.__all__] + [
        obj for module in modules for name, obj in vars(module).items()
        if not name.startswith("_") and getattr(obj, "__module__", "") == module.__name__]
    public = {obj for obj in candidates if inspect.isclass(obj)
              and dataclasses.is_dataclass(obj) and obj not in config | plumbing}
    with ek.connect(server.url) as conn:
        events = conn.read("RIDES", progress=False)
        conn.create_stream("SHOWN", ["shown.>"], max_msgs=10_000)
        published = conn.publish_many(["shown.a"] * 2, [b"{}"] * 2,
                                      [{"Nats-Msg-Id": "x"}, {"Nats-Msg-Id": "x"}])
        run = ek.Replay(events).start(ek.Latest())
        run.wait()
        shown = {ek.StreamInfo: (conn.stream("RIDES"), "Stream RIDES",
                                 f"{len(events):,} messages"),
                 ek.ReadInfo: (events.info, "Read of RIDES", f"seq 1..{len(events):,}"),
                 eventkit.source.jetstream.PublishResult: (
                     published, "Publish", "1 message(s) stored; 1 repeated message id"),
                 ek.Summary: (events.summary(), "Summary of events", f"{len(events):,}")}
        assert asyncio.run(conn.astream("SHOWN")).config["max_msgs"] == 10_000
        assert "limits: max messages 10,000" in conn.stream("SHOWN")._repr_html_()
    missing = {cls.__name__ for cls in public if "_repr_html_" not in vars(cls)}
    assert not missing, f"no HTML display: {missing}"
    for cls, (value, title, fact) in shown.items():
        page = value._repr_html_()
        assert page.startswith("<div class='eventkit-result'"), cls
        assert title in page and fact in page, (cls, page[:600])
        assert f"{cls.__name__}(" not in page
    assert "Replay run" in run._repr_html_() and "done" in run._repr_html_()
