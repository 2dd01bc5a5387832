"""Every tutorial notebook runs top to bottom in its fast mode, offline, on the suite's backend;
and every committed notebook shows its results (outputs, figures included, kept small).

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
# A committed notebook with its figures stays small enough to read on GitHub and to diff.
MAX_NOTEBOOK_BYTES = 400_000


def test_tutorials_exist():
    assert [p.stem for p in TUTORIALS] == [
        "01_ceb_quickstart",
        "02_robustness",
        "03_hierarchical_ceb",
        "04_predictive_ceb",
        "05_denoising_ceb",
        "06_rho_search",
    ]


def test_the_readme_links_every_tutorial():
    readme = (REPO_ROOT / "README.md").read_text()
    for path in TUTORIALS:
        assert f"(tutorials/{path.name})" in readme, path.name


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(path):
    """Every notebook is committed with the outputs of its full run, figures included, with no
    error and no framework log noise, and the file stays small."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [o for cell in code for o in cell.get("outputs", [])]
    assert all(cell.get("execution_count") for cell in code), f"{path.name}: not all cells ran"
    assert all(
        cell.get("outputs") or not cell.source.strip() or "def " in cell.source
        for cell in code
        if "show(" in cell.source or "print(" in cell.source
    ), path.name
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name}: no figure"
    assert not [o for o in outputs if o.get("output_type") == "error"], path.name
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{path.name}: {path.stat().st_size} bytes"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "absl::InitializeLog" not in text and "oneDNN" not in text, path.name


@pytest.mark.long  # `make test-long` runs the tutorials on TensorFlow and JAX.
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch, fashion_mnist_dir):
    monkeypatch.setenv("KERAS_CEB_TUTORIAL_FAST", "1")
    # The kernel uses the backend of this test run (TensorFlow, then JAX, in `make test`).
    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())
    # Where the fixture found Fashion-MNIST, the notebook's own search finds it too. No
    # download: every HTTP(S) request goes to a closed port and fails at once.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # The kernel imports the keras_ceb of this checkout, whatever is installed.
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(
            [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
    )
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [
        o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
    ]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure drawn"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert keras.backend.backend() in text  # The first cell prints the backend it runs on.
