"""Unit tests of `keras_ceb.distribute` and the `--distribute` option, in-process (one device).

The multi-device and multi-process runs are in `distribution_test.py`.
"""

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb import cli
from keras_ceb import distribute


def test_environment_num_processes(monkeypatch):
    monkeypatch.delenv(distribute.NUM_PROCESSES_VARIABLE, raising=False)
    assert distribute.environment_num_processes() == 1
    monkeypatch.setenv(distribute.NUM_PROCESSES_VARIABLE, "2")
    assert distribute.environment_num_processes() == 2
    monkeypatch.setenv(distribute.NUM_PROCESSES_VARIABLE, "two")
    with pytest.raises(ValueError, match="Received: KERAS_DISTRIBUTION_NUM_PROCESSES='two'$"):
        distribute.environment_num_processes()


def test_data_parallel_trains_on_one_device():
    parallel = distribute.data_parallel()
    assert (parallel.num_processes, parallel.process_id, parallel.is_chief) == (1, 0, True)
    assert parallel.num_replicas >= 1
    with parallel.scope():
        model = keras.Sequential(
            [
                keras.Input((8,)),
                keras_ceb.StochasticEncoder(2, seed=0),
                keras_ceb.BackwardEncoder(3),
            ]
        )
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(np.random.rand(32, 8), np.arange(32) % 3, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert distribute.process_local_copy(model) is model


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the TensorFlow refusal")
def test_multi_process_variables_are_refused_on_tensorflow(monkeypatch):
    monkeypatch.setenv(distribute.NUM_PROCESSES_VARIABLE, "2")
    with pytest.raises(
        ValueError,
        match=r"keras-team/keras#20585.*"
        r"Received: KERAS_BACKEND='tensorflow', KERAS_DISTRIBUTION_NUM_PROCESSES=2$",
    ):
        distribute.data_parallel()


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the JAX variable check")
def test_a_multi_process_job_needs_every_variable(monkeypatch):
    monkeypatch.setenv(distribute.NUM_PROCESSES_VARIABLE, "2")
    monkeypatch.setenv(distribute.PROCESS_ID_VARIABLE, "0")
    monkeypatch.delenv(distribute.JOB_ADDRESSES_VARIABLE, raising=False)
    with pytest.raises(ValueError, match="Received: KERAS_DISTRIBUTION_JOB_ADDRESSES=None$"):
        distribute.initialize()


def test_cli_multi_process_variables_need_the_option(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv(distribute.NUM_PROCESSES_VARIABLE, "2")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == cli.EXIT_FAILURE
    assert "pass --distribute data-parallel" in capsys.readouterr().err


def test_cli_distribute_option():
    args = cli.build_parser().parse_args(["train", "--distribute", "data-parallel"])
    assert args.distribute == "data-parallel"
    assert cli.build_parser().parse_args(["train"]).distribute == "none"
