"""Shared test configuration: quiet TensorFlow, locate the shared data folder."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir():
    """The `../shared/data` folder beside the checkout (Fashion-MNIST, MNIST test)."""
    if not (SHARED_DATA / "fashion-mnist").is_dir():
        pytest.fail(f"Test data not found: expected {SHARED_DATA}/fashion-mnist")
    return SHARED_DATA
