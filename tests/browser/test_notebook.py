"""The example notebook in a real JupyterLab: run it, then use every widget as a person would.

Screenshots are saved under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import ARTIFACTS, Lab, run_all_cells

pytestmark = pytest.mark.browser

NOTEBOOK = "01_explore.ipynb"


def _shot(target: object, name: str) -> None:
    target.screenshot(path=str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


def _count(text: str) -> int:
    """The first number in a status text ('1,234 events ...' -> 1234)."""
    match = re.search(r"(\d[\d,]*)", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def _drag(page: object, box: dict[str, float], x0: float, x1: float, y: float) -> None:
    mouse = page.mouse  # type: ignore[attr-defined]
    mouse.move(box["x"] + x0 * box["width"], box["y"] + y * box["height"])
    mouse.down()
    mouse.move(box["x"] + x1 * box["width"], box["y"] + y * box["height"], steps=12)
    mouse.up()


def test_example_notebook_runs_and_its_widgets_respond(lab: Lab, page: object) -> None:
    from playwright.sync_api import expect

    began = time.monotonic()
    page.set_default_timeout(60_000)  # type: ignore[attr-defined]
    page.goto(lab.open_url(NOTEBOOK))  # type: ignore[attr-defined]
    statusbar = page.locator("#jp-main-statusbar")  # type: ignore[attr-defined]
    expect(statusbar).to_contain_text("Idle", timeout=90_000)
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible()  # type: ignore

    run_all_cells(page)  # from the menu, until every code cell has run
    expect(statusbar).to_contain_text("Idle")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")  # type: ignore
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")  # type: ignore
    assert tracebacks.count() == 0, tracebacks.first.inner_text()
    del errors

    explorer = page.locator(".eventkit-explorer")  # type: ignore[attr-defined]
    travel = page.locator(".eventkit-timetravel")  # type: ignore[attr-defined]
    player = page.locator(".eventkit-replay")  # type: ignore[attr-defined]
    tail = page.locator(".eventkit-livetail")  # type: ignore[attr-defined]
    for widget in (explorer, travel, player, tail):
        expect(widget.locator(".vega-embed svg.marks")).to_be_visible()
    # with a kernel the live widgets show alone: their static views are in the page, hidden
    statics = page.locator(".eventkit-static")  # type: ignore[attr-defined]
    expect(statics).to_have_count(4)
    for i in range(4):
        expect(statics.nth(i)).to_be_hidden()
    _shot(page, "01-notebook-run")

    # -- Explorer: drag the brush on the rate chart; the table follows the range --------
    status = explorer.locator(".eventkit-status")
    expect(status).to_contain_text("all times")
    everything = _count(status.inner_text())
    first_rows = explorer.locator(".ek-table tbody tr").first.inner_text()
    explorer.scroll_into_view_if_needed()
    _shot(explorer, "02-explorer-before")
    frame = explorer.locator(".vega-embed svg.marks .role-frame path.background").first
    box = frame.bounding_box()
    assert box, "the rate chart has no plot area"
    _drag(page, box, 0.30, 0.55, 0.5)
    expect(status).to_contain_text(" .. ", timeout=20_000)
    selected = _count(status.inner_text())
    assert 0 < selected < everything
    expect(explorer.locator(".ek-table tbody tr").first).not_to_have_text(first_rows)
    # sort by type (click its header), then open the first event
    explorer.locator(".ek-table th[data-column='type']").click()
    expect(explorer.locator(".ek-table th[data-column='type']")).to_contain_text("\u25b2")
    explorer.locator(".ek-table tbody tr").first.click()
    expect(explorer.locator(".ek-event")).to_contain_text("payload")
    expect(explorer.locator(".ek-event pre").last).to_contain_text("ride_id")
    _shot(explorer, "03-explorer-brushed")
    # a type filter redraws the chart: the brush stays, the selection narrows
    explorer.get_by_label("type", exact=True).select_option("trip_completed")
    expect(status).to_contain_text("type in trip_completed", timeout=20_000)
    expect(status).to_contain_text(" .. ")
    assert 0 < _count(status.inner_text()) < selected
    expect(explorer.locator(".vega-embed svg.marks")).to_be_visible()
    page.wait_for_timeout(500)  # type: ignore[attr-defined]
    _shot(explorer, "03b-explorer-filtered")

    # -- TimeTravel: move the scrubber back; state and changes follow ------------------
    summary = travel.locator(".eventkit-status")
    travel.scroll_into_view_if_needed()
    expect(summary).to_contain_text("entities")
    at_end = summary.inner_text()
    state_rows = travel.locator(".ek-table").first.locator("tbody tr").first.inner_text()
    _shot(travel, "04-timetravel-before")
    handle = travel.locator(".noUi-handle").first
    hbox = handle.bounding_box()
    assert hbox
    page.mouse.move(hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2)  # type: ignore
    page.mouse.down()  # type: ignore[attr-defined]
    page.mouse.move(hbox["x"] - 300, hbox["y"] + hbox["height"] / 2, steps=15)  # type: ignore
    page.mouse.up()  # type: ignore[attr-defined]
    expect(summary).not_to_have_text(at_end, timeout=20_000)
    expect(summary).to_contain_text("Since")
    assert _count(summary.inner_text().split("UTC:")[1]) < _count(at_end.split("UTC:")[1])
    expect(travel.locator(".ek-table").first.locator("tbody tr").first).not_to_have_text(
        state_rows)
    changes = travel.locator(".ek-table").nth(1)
    expect(changes.locator(".ek-caption")).to_contain_text("entities changed between")
    expect(changes.locator("tbody tr").first).to_be_visible()
    _shot(travel, "05-timetravel-moved")

    # -- ReplayPlayer: play, then pause; the position and the chart move ---------------
    player.scroll_into_view_if_needed()
    replay_status = player.locator(".eventkit-status")
    expect(replay_status).to_contain_text("0 events applied")
    player.locator("button", has_text="step").click()
    expect(replay_status).to_contain_text("1 events applied")
    # a slow pace picked before the first play holds: the run cannot end before "pause"
    player.locator(".widget-dropdown select").select_option(label="60\u00d7 real time")
    player.locator("button", has_text="play").click()
    expect(replay_status).to_contain_text("playing at 60")
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => {
            const s = document.querySelector('.eventkit-replay .eventkit-status');
            const m = s && s.textContent.match(/^([\\d,]+) events applied/);
            return m && parseInt(m[1].replace(/,/g, '')) > 10;
        }""", timeout=30_000)
    player.locator("button", has_text="pause").click()
    expect(replay_status).to_contain_text("paused")
    assert _count(replay_status.inner_text()) > 10
    expect(player.locator(".role-title-text").first).to_contain_text("Entities by")
    expect(player.locator(".ek-table tbody tr").first).to_be_visible()
    _shot(player, "06-replay-played")

    # -- LiveTail: the events published after it started have arrived ------------------
    tail.scroll_into_view_if_needed()
    tail_status = tail.locator(".eventkit-status")
    expect(tail_status).to_contain_text("following")
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => {
            const s = document.querySelector('.eventkit-livetail .eventkit-status');
            const m = s && s.textContent.match(/: ([\\d,]+) events received/);
            return m && parseInt(m[1].replace(/,/g, '')) > 100;
        }""", timeout=30_000)
    _shot(tail, "07-livetail")
    assert time.monotonic() - began < 170
