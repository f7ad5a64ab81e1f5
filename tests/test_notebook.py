"""notebooks/tour.ipynb runs from top to bottom on the real data, and is committed without outputs."""

import json

import pytest

from conftest import DATA_DIR, ROOT

NOTEBOOK = ROOT / "notebooks" / "tour.ipynb"


def test_the_tour_notebook_is_committed_without_outputs():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_the_tour_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    monkeypatch.setenv("LENET5_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # its run folders (mkdtemp), left for pytest to clear: 8 MB a run
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # Jupyter's own
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "epoch:2, loss:" in text and "read as 7" in text  # the report's line; the drawn 7 read back
    assert "60,000" in text  # lecun1998's printed layer table
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 6
