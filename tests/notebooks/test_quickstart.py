from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


@pytest.mark.ray
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_quickstart_runs_small(ray_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFERLOOP_QUICKSTART_SIZE", "small")
    monkeypatch.setenv("RAY_ADDRESS", ray_address)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parents[1])}})
    client.execute()
    outputs = "\n".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )
    assert "decisions written to" in outputs
    assert "observed BTS click rate" in outputs
    assert "slate:" in outputs
    assert "shadow would show" in outputs


def test_quickstart_rejects_unknown_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFERLOOP_QUICKSTART_SIZE", "huge")
    setup = next(cell.source for cell in nbformat.read(NOTEBOOK, as_version=4).cells if cell.cell_type == "code")
    with pytest.raises(ValueError, match="OFFERLOOP_QUICKSTART_SIZE must be one of"):
        exec(setup, {})
