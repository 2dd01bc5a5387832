"""The compiled information metrics: their labels and which objective gets which."""

import keras
import numpy as np
import pytest

import keras_ceb


def model(objective="ceb"):
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras_ceb.StochasticEncoder(2, objective=objective),
            keras_ceb.BackwardEncoder(10),
        ]
    )
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=keras_ceb.metrics.information_metrics(objective=objective),
    )
    return model


def test_rex_only_for_ceb():
    names = {
        objective: [m.name for m in keras_ceb.metrics.information_metrics(objective=objective)]
        for objective in ("ceb", "vib", "determ")
    }
    assert names == {"ceb": ["rex", "i_yz"], "vib": ["i_yz"], "determ": ["i_yz"]}
    assert [m.name for m in keras_ceb.metrics.information_metrics(False)] == ["i_yz"]
    with pytest.raises(ValueError, match="objective='mlp'"):
        keras_ceb.metrics.information_metrics(objective="mlp")
    history = model("determ").fit(np.random.rand(32, 6), np.arange(32) % 10, verbose=0).history
    assert "rex" not in history and "i_yz" in history


@pytest.mark.parametrize("bad", [10, -1])
def test_a_label_outside_the_classes_is_one_line_naming_it(bad):
    y = np.arange(32) % 10
    y[4] = bad
    x = np.random.rand(32, 6).astype("float32")
    if keras.backend.backend() == "jax":
        # No check can stop a compiled JAX step (keras_ceb.ops.label_check says why): the bad
        # label turns the epoch's i_yz NaN instead of training silently.
        assert np.isnan(model().fit(x, y, verbose=0).history["i_yz"][0])
    else:
        with pytest.raises(Exception) as error:
            model().fit(x, y, verbose=0)
        # TensorFlow runs the metric's label check and the compiled loss's in parallel, and
        # either may stop the step first; both messages name the label and the range.
        message = str(error.value)
        assert (
            "must be class ids in [0, 10)" in message
            or f"Received a label value of {bad} which is outside the valid range of [0, 10)"
            in message
        ), message
    direct = keras_ceb.metrics.i_yz_lower_bound_from_logits
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\). Received: labels containing"):
        direct(np.array([bad if bad < 0 else 2]), np.zeros((1, 2), "float32"))
