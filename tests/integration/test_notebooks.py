"""Every example notebook runs top to bottom (each asserts its own key results in its cells)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
NOTEBOOKS = [*sorted((ROOT / "notebooks").glob("*.ipynb")), ROOT / "eventkit" / "report.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_its_checks_pass(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs: clear them")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "time.sleep" not in code and "while " not in code, (
        f"{path.name} busy-waits in a cell: use wait_until")
    before = set(Path(tempfile.gettempdir()).glob("rides-store-*"))
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    saved = tmp_path / path.name
    nbformat.write(nb, saved)
    assert saved.stat().st_size < 5 * 1024 * 1024  # a saved notebook stays small
    assert set(Path(tempfile.gettempdir()).glob("rides-store-*")) == before, (
        f"{path.name} left a store in the temporary folder")
    asserts = sum(c.source.count("assert ") for c in nb.cells if c.cell_type == "code")
    assert asserts > 0, f"{path.name} checks nothing"
