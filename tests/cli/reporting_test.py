"""Tests of `keras_ceb.reporting`: the summary table, JSON and the plots."""

import json
import math

import numpy as np
import pytest

from keras_ceb import reporting
from tests.figure_checks import assert_readable
from tests.figure_checks import captured_figures
from tests.figure_checks import data_axes


def test_format_summary_rows_and_missing_values():
    text = reporting.format_summary(
        {
            "accuracy": 0.91234,
            "rex": 0.25,
            "rate": None,
            "i_yz": float("nan"),
            "wall_time_s": 601.0,
        },
        title="CEB",
    )
    lines = text.splitlines()
    assert lines[0] == "CEB"
    assert len(lines) == 1 + 2 + len(reporting.SUMMARY_ROWS)
    rows = dict((part.strip() for part in line.rsplit("  ", 1)) for line in lines[2:-1])
    assert rows["test accuracy"] == "0.9123"
    assert rows["residual information ReX (nats)"] == "0.250"
    assert rows["rate R (nats)"] == "n/a"
    assert rows["I(Y;Z) lower bound (nats)"] == "n/a"
    assert rows["consistency C (nats)"] == "n/a"
    assert rows["wall time"] == "10m01s (601 s)"


def test_add_consistency():
    logs = reporting.add_consistency({"rate": 3.0, "rex": 0.5, "i_yz": 2.2})
    assert logs["consistency"] == pytest.approx(0.3)
    assert reporting.add_consistency({"i_yz": 2.2})["consistency"] is None


def test_history_with_consistency():
    history = {
        "rate": [3.0, 2.5],
        "rex": [0.5, 0.4],
        "i_yz": [2.2, 2.0],
        "val_i_yz": [1.0, 1.1],
        "loss": [1.0, 0.5],
    }
    result = reporting.history_with_consistency(history)
    assert result["consistency"] == pytest.approx([0.3, 0.1])
    assert result["val_consistency"] == [None, None]  # no val_rate / val_rex
    assert result["loss"] == [1.0, 0.5]
    assert "consistency" not in history  # the input is not modified


def test_environment_names_the_versions():
    record = reporting.environment()
    import keras

    assert record["keras"] == keras.__version__ and record["backend"] == keras.backend.backend()
    assert record["backend_version"] and record["numpy"] and record["keras_ceb"]
    assert "hostname" in record and "hostname" not in reporting.environment(hostname=False)


def test_write_json_handles_numpy_and_non_finite(tmp_path):
    path = reporting.write_json(
        tmp_path / "m.json",
        {
            "a": np.float32(0.5),
            "b": float("nan"),
            "c": [np.int64(3), float("inf")],
            "d": np.array([1.0, 2.0]),
        },
    )
    assert json.loads(path.read_text()) == {"a": 0.5, "b": None, "c": [3, None], "d": [1.0, 2.0]}


HISTORY = {
    "loss": [2.0, 1.0, 0.5],
    "accuracy": [0.5, 0.7, 0.9],
    "i_xz_lower": [1.0, 1.8, 2.2],
    "i_yz": [0.5, 1.5, 2.1],
    "val_i_xz_lower": [1.1, 1.9, 2.2],
    "val_i_yz": [0.6, 1.4, None],
    "val_accuracy": [0.6, 0.8, 0.9],
    "rho": [4.0, 2.0, 0.0],
}


@pytest.mark.parametrize(
    "history",
    [
        HISTORY,
        {"loss": [1.0], "accuracy": [0.8], "i_yz": [1.9], "rex": [3.0]},  # Determ: no I(X;Z)
    ],
)
def test_plots_are_readable(history, tmp_path):
    with captured_figures() as figures:
        curves = reporting.plot_training_curves(
            history, tmp_path / "c.png", title="t", validation_label="test"
        )
        plane = reporting.plot_information_plane(
            history, tmp_path / "p.png", num_classes=10, batch_size=128, title="t"
        )
    for figure, path in zip(figures, (curves, plane)):
        assert_readable(figure, path)
    curves_figure = figures[0]
    assert "Training curves: t" in curves_figure._suptitle.get_text()
    # The figure says why train accuracy (sampled z, epoch mean) sits below test accuracy.
    note = curves_figure.legends[0].get_title().get_text()
    assert "sits below" in note and "encoder mean" in note
    for ax in data_axes(curves_figure):  # Integer epochs.
        assert all(float(t).is_integer() for t in ax.get_xticks())


def test_information_plane_colours_both_by_epoch_and_keeps_log_b_off(tmp_path):
    with captured_figures() as figures:
        reporting.plot_information_plane(
            HISTORY, tmp_path / "p.png", num_classes=10, batch_size=128
        )
        reporting.plot_information_plane(HISTORY, tmp_path / "q.png", num_classes=10, batch_size=8)
    far, near = figures
    ax = data_axes(far)[0]
    train, test = [c for c in ax.collections if c.get_array() is not None]
    assert list(train.get_array()) == [1, 2, 3] and list(test.get_array()[:2]) == [1, 2]
    colorbar = far.axes[-1]
    assert colorbar.get_label() == "<colorbar>"
    assert all(float(t).is_integer() for t in colorbar.get_yticks())
    # log 128 = 4.85 lies far right of the data (at most 2.3): not drawn, but named.
    assert ax.get_xlim()[1] < math.log(128)
    assert any("log B = 4.85" in t.get_text() for t in ax.texts)
    # log 8 = 2.08 lies among the data: drawn.
    near_ax = data_axes(near)[0]
    assert any(
        line.get_xdata()[0] == pytest.approx(math.log(8))
        for line in near_ax.lines
        if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
    )


def test_format_value():
    assert reporting.format_value("accuracy", 0.5) == "0.5000"
    assert reporting.format_value("rex", math.inf) == "n/a"
    assert reporting.format_value("rex", True) == "n/a"
    assert reporting.format_value("train_time_s", 59.6) == "1m00s (60 s)"


def test_write_json_is_atomic(tmp_path, monkeypatch):
    """A failure (or a kill) while writing leaves the old file whole and no temporary file."""
    path = reporting.write_json(tmp_path / "metrics.json", {"accuracy": 0.5})
    assert json.loads(path.read_text()) == {"accuracy": 0.5}
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    def failing_dumps(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reporting.json, "dumps", failing_dumps)
    with pytest.raises(KeyboardInterrupt):
        reporting.write_json(path, {"accuracy": 0.9})
    assert json.loads(path.read_text()) == {"accuracy": 0.5}

    def half_written(temp):
        temp.write_text('{"accura')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        reporting.replace_atomically(path, half_written)
    assert json.loads(path.read_text()) == {"accuracy": 0.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
