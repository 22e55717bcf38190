"""The notebook runs from top to bottom on a snapshot, and is kept without outputs in git."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.synthetic import generate

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "inventory.ipynb"


def test_outputs_are_cleared() -> None:
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.timeout(300)
def test_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    data = tmp_path / "snapshots"
    generate(data, tags=600, repos=20, crawls=3, seed=1)
    monkeypatch.setenv("REGINVENTORY_DATA", str(data))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=240, kernel_name="python3",
        resources={"metadata": {"path": str(Path(__file__).resolve().parents[2])}},
    )
    client.execute()
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # bytes per repository, age distribution, growth
