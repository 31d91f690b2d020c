"""Reports: one self-contained page, pinned to what it read, rerun with the same numbers."""

from __future__ import annotations

import re

import pytest

import eventkit as ek
from eventkit.report import read_pin, report, rerun

pytestmark = pytest.mark.integration


def _numbers(page: str) -> str:
    """The page without the moments it was made."""
    page = re.sub(r'<script type="application/json" id="eventkit-pin">.*?</script>', "", page,
                  flags=re.S)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[\d.+:]*", "<when>", page)


def test_a_report_pins_its_range_and_reruns_identically(tmp_path, monkeypatch):
    from eventkit.sample.publish import publish

    conf = 'authorization { user: "reporter", password: "rep-secret-314" }'
    monkeypatch.setenv("NATS_USER", "reporter")  # the kernel connects with the environment's
    monkeypatch.setenv("NATS_PASSWORD", "rep-secret-314")
    with ek.EmbeddedServer(config=conf) as server:
        with ek.connect(server.url) as conn:
            info = publish(conn)
            waits = conn.read("RIDES", progress=False).durations("ride_requested",
                                                                  "driver_assigned")
        first = report(server=server.url, stream="RIDES", since="1h", out=tmp_path / "r.html")
        with ek.connect(server.url) as conn:  # history goes on after the report
            conn.publish_many(["rides.lisbon.ride_requested"],
                              [b'{"type":"ride_requested","ride_id":"ride-new"}'])
        again = rerun(first, out=tmp_path / "again.html")
        with pytest.raises(ek.ConfigurationError, match="no credentials in the server URL"):
            report(server=server.url.replace("//", "//reporter:rep-secret-314@"), stream="RIDES")
    page = first.read_text()
    pin = read_pin(first)
    assert pin["stream"] == "RIDES" and pin["first_seq"] == 1
    assert pin["last_seq"] == info.last_seq
    assert read_pin(again)["last_seq"] == info.last_seq  # not the event published since
    assert _numbers(again.read_text()) == _numbers(page)
    assert f"{info.messages:,} events" in page
    assigned = waits["duration"].drop_nulls().len()
    assert 0 < assigned < waits.height  # some rides never got a driver: the count says which
    assert f"{assigned:,} of {waits.height:,} requested rides were assigned a driver" in page
    assert page.count("data:image/svg+xml") >= 3  # charts inline, drawn offline
    assert not re.search(r"<script(?! type=\"application/json\" id=\"eventkit-pin\")", page)
    assert "rep-secret-314" not in page and "rep-secret-314" not in again.read_text()


def test_a_report_on_a_missing_stream_says_so(server, tmp_path):
    with pytest.raises(ek.EventkitError, match="NOPE"):
        report(server=server.url, stream="NOPE", out=tmp_path / "x.html")
