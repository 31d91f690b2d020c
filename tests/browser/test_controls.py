"""The Explorer's newer controls (where-filter, go-to, export, pivot tab) and StreamView, used
in a real JupyterLab as a person would. Screenshots go to ``test-artifacts/browser/``."""

from __future__ import annotations

import re

import nbformat
import polars as pl
import pytest

from tests.browser.conftest import ARTIFACTS, Lab, run_all_cells

pytestmark = pytest.mark.browser

CELLS = [
    "import eventkit as ek\n"
    "from eventkit.widgets import Explorer, StreamView\n"
    "from eventkit.sample.publish import publish\n"
    "server = ek.EmbeddedServer().start()\n"
    "conn = ek.connect(server.url)\n"
    "publish(conn)\n"
    "events = conn.read('RIDES', progress=False)",
    "explorer = Explorer(events)\nexplorer",
    "view = StreamView(conn, 'RIDES', every=1)\nview",
]


def _count(text: str) -> int:
    match = re.search(r"(\d[\d,]*)", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def test_explorer_controls_and_streamview_in_jupyterlab(lab: Lab, page: object) -> None:
    from playwright.sync_api import expect

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, lab.root / "controls.ipynb")
    page.set_default_timeout(60_000)  # type: ignore[attr-defined]
    page.goto(lab.open_url("controls.ipynb"))  # type: ignore[attr-defined]
    run_all_cells(page)
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")  # type: ignore
    assert tracebacks.count() == 0, tracebacks.first.inner_text()

    explorer = page.locator(".eventkit-explorer")  # type: ignore[attr-defined]
    status = explorer.locator(".eventkit-status")
    message = explorer.locator(".eventkit-message")
    expect(status).to_contain_text("all times")
    everything = _count(status.inner_text())

    # -- where: a filter typed as data narrows the selection; a broken one says why ------
    where = explorer.get_by_placeholder("e.g. fare > 50 and city = paris")
    where.fill("fare >")
    where.press("Enter")
    expect(message).to_contain_text("fare", timeout=20_000)
    assert _count(status.inner_text()) == everything  # left as it was
    where.fill("fare > 50")
    where.press("Enter")
    expect(status).to_contain_text("where fare > 50", timeout=20_000)
    expect(message).to_have_text("")
    selected = _count(status.inner_text())
    assert 0 < selected < everything
    explorer.scroll_into_view_if_needed()
    explorer.screenshot(path=str(ARTIFACTS / "12-explorer-where.png"))

    # -- go to a time: the event found is opened in full -----------------------------------
    goto = explorer.get_by_placeholder("a seq (12345) or a time (2026-11-01T12:00Z)")
    goto.fill("2026-11-01T12:00Z")
    goto.press("Enter")
    expect(message).to_contain_text(re.compile(r"went to seq [\d,]+"), timeout=20_000)
    seq = _count(message.inner_text().split("seq")[1])
    expect(explorer.locator(".ek-event")).to_contain_text("payload")
    expect(explorer.locator(".ek-event")).to_contain_text(f"seq {seq} ")
    goto.fill("not a time")
    goto.press("Enter")
    expect(message).to_contain_text("cannot go to 'not a time'")

    # -- export: the button writes the selection next to the notebook ---------------------
    explorer.locator("button", has_text="export selection").click()
    expect(message).to_contain_text(re.compile(r"wrote [\d,]+ events to "), timeout=30_000)
    text = message.inner_text()
    assert _count(text.split("wrote")[1]) == selected
    written = lab.root / text.split(" to ")[-1].strip()
    assert written.suffix == ".csv" and pl.read_csv(written).height == selected

    # -- pivot tab: the selection grouped, by type then by a payload field ----------------
    explorer.locator(".lm-TabBar-tab", has_text="pivot").click()
    pivot = explorer.locator(".eventkit-pivot")
    expect(pivot).to_contain_text(f"{selected:,} selected events in 1 groups by type")
    expect(pivot.locator("tbody tr").first).to_contain_text("trip_completed")
    explorer.locator(".widget-dropdown", has_text="group by").locator("select").select_option(
        "city")
    expect(pivot).to_contain_text("groups by city", timeout=20_000)
    counts = [_count(row.inner_text().split("\t")[1] if "\t" in row.inner_text()
                     else row.locator("td").nth(1).inner_text())
              for row in pivot.locator("tbody tr").all()]
    assert sum(counts) == selected
    pivot.scroll_into_view_if_needed()
    explorer.screenshot(path=str(ARTIFACTS / "13-explorer-pivot.png"))

    # -- StreamView: configuration, subjects, refreshed live and by its button -------------
    view = page.locator(".eventkit-streamview")  # type: ignore[attr-defined]
    view.scroll_into_view_if_needed()
    view_status = view.locator(".eventkit-status")
    expect(view_status).to_contain_text("refreshing every 1 s")
    expect(view_status).to_contain_text(f"{everything:,} messages")
    expect(view.locator(".vega-embed svg.marks")).to_be_visible()
    expect(view.locator(".role-title-text").first).to_contain_text("Messages per subject")
    expect(view.locator(".ek-table").first).to_contain_text("no consumers")
    expect(view.locator(".ek-table").nth(1).locator("tbody tr").first).to_contain_text("rides.")

    def refreshed() -> int:
        return _count(view_status.inner_text().split("refreshed")[1])

    before = refreshed()
    page.wait_for_function(  # type: ignore[attr-defined]
        """(n) => {
            const s = document.querySelector('.eventkit-streamview .eventkit-status');
            const m = s && s.textContent.match(/refreshed ([\\d,]+) times/);
            return m && parseInt(m[1].replace(/,/g, '')) > n;
        }""", arg=before, timeout=20_000)
    view.locator("button", has_text="refresh").click()
    page.wait_for_function(  # type: ignore[attr-defined]
        """(n) => {
            const s = document.querySelector('.eventkit-streamview .eventkit-status');
            const m = s && s.textContent.match(/refreshed ([\\d,]+) times/);
            return m && parseInt(m[1].replace(/,/g, '')) > n;
        }""", arg=before + 1, timeout=20_000)
    view.screenshot(path=str(ARTIFACTS / "14-streamview.png"))
