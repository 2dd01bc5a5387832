"""Every tutorial notebook runs top to bottom in its fast mode, offline.

The notebooks find Fashion-MNIST through keras_ceb's usual search (the Debian package) and the
MNIST test set in the copy shipped with the package. Any download fails the test: the kernel
runs with its HTTP(S) proxy pointed at a closed local port.
"""

import os
import pathlib

import keras
import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TUTORIALS = sorted((REPO_ROOT / "tutorials").glob("*.ipynb"))


def test_tutorials_exist():
    assert len(TUTORIALS) >= 2, TUTORIALS


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tutorials are documentation: run once, on the default backend")
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch, fashion_mnist_dir):
    monkeypatch.setenv("KERAS_CEB_TUTORIAL_FAST", "1")
    # Where the fixture found Fashion-MNIST, the notebook's own search finds it too. No
    # download: every HTTP(S) request goes to a closed port and fails at once.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # The kernel imports the keras_ceb of this checkout, whatever is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
