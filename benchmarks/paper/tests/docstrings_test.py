"""Every docstring example of the reproduction runs and prints what it shows."""

import pytest

from benchmarks import paper
from tests.docstrings_test import package_modules
from tests.docstrings_test import run_examples


@pytest.mark.parametrize("module_name", package_modules(paper))
def test_docstring_examples(module_name, tmp_path, monkeypatch):
    run_examples(module_name, tmp_path, monkeypatch)
