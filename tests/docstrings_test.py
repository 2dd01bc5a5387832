"""Every docstring example of the package runs and prints what it shows (Keras/Optax style).

Each module's examples run as one doctest, in a fresh temporary folder, with `keras`,
`keras_ceb`, `np` and `ops` imported (and the module's own names in scope, as
`--doctest-modules` would have them).
"""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

import keras_ceb

# Examples that need the TensorFlow backend (SavedModel export) run only there.
TENSORFLOW_ONLY = {"keras_ceb.export"}


def package_modules(package=keras_ceb):
    names = []
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        if info.name.endswith(("__main__", "_test", ".tests", "conftest")):
            continue
        names.append(info.name)
    return sorted(names)


def examples(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [
        t
        for t in finder.find(module, module_name, globs={})
        if t.examples and t.name.startswith(module_name)
    ]


@pytest.mark.parametrize("module_name", package_modules())
def test_docstring_examples(module_name, tmp_path, monkeypatch):
    run_examples(module_name, tmp_path, monkeypatch)


def run_examples(module_name, tmp_path, monkeypatch):
    """Runs the docstring examples of `module_name` (also used by benchmarks/paper/tests)."""
    tests = examples(module_name)
    if not tests:
        pytest.skip("no examples")
    if module_name in TENSORFLOW_ONLY and keras.backend.backend() != "tensorflow":
        pytest.skip("the examples need the TensorFlow backend")
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    keras.utils.set_random_seed(0)
    failures = []
    for test in tests:
        test.globs = {
            **vars(module),
            "keras": keras,
            "keras_ceb": keras_ceb,
            "np": np,
            "ops": keras.ops,
        }
        runner.run(test, out=lambda text: failures.append(text))
    assert runner.failures == 0, "\n".join(failures)
