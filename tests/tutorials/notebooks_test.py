"""Every tutorial notebook runs top to bottom in its fast mode."""

import pathlib

import keras
import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import SHARED_DATA

TUTORIALS = sorted((pathlib.Path(__file__).resolve().parents[2] / "tutorials").glob("*.ipynb"))


def test_tutorials_exist():
    assert len(TUTORIALS) >= 2, TUTORIALS


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tutorials are documentation: run once, on the default backend")
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_CEB_TUTORIAL_FAST", "1")
    monkeypatch.setenv("KERAS_CEB_DATA", str(SHARED_DATA))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
