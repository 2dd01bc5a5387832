"""The shared argument checks: a finite float must be finite in float32 too."""

import keras
import pytest

import keras_ceb
from keras_ceb import validation


@pytest.mark.parametrize("value", [0.0, -5.5, 1e38, -3.4e38, validation.FLOAT32_MAX])
def test_finite_float_accepts_float32_finite_values(value):
    assert validation.finite_float(value, "rho") == value


@pytest.mark.parametrize(
    "value, message",
    [
        (1e39, r"`rho` must be finite in float32 \(\|rho\| <= 3.403e\+38\). Received: rho=1e\+39"),
        (-1e39, r"Received: rho=-1e\+39"),
        (float("inf"), r"`rho` must be a finite number. Received: rho=inf"),
        (float("nan"), r"Received: rho=nan"),
    ],
)
def test_finite_float_refuses_values_that_are_inf_in_float32(value, message):
    with pytest.raises(ValueError, match=message):
        validation.finite_float(value, "rho")


def test_rho_setters_refuse_inf_in_float32():
    """`--rho 1e39` trained with rho = inf and saved a model that could not be reloaded."""
    with pytest.raises(ValueError, match=r"finite in float32.*Received: rho=1e\+39"):
        keras_ceb.StochasticEncoder(4, rho=1e39)
    model = keras.Sequential([keras.Input((3,)), keras_ceb.StochasticEncoder(2)])
    with pytest.raises(ValueError, match=r"finite in float32.*Received: rho=1e\+39"):
        keras_ceb.set_rho(model, 1e39)
    with pytest.raises(ValueError, match=r"Received: start=1e\+39"):
        keras_ceb.callbacks.linear_anneal(start=1e39, end=0.0, epochs=5)


@pytest.mark.parametrize("value", ["0", "2", b"1", "nan"])
def test_numbers_given_as_strings_are_refused(value):
    """`rho='0'` was accepted (float('0') works) while every other argument refuses strings."""
    with pytest.raises(ValueError, match=r"`rho` must be a finite number. Received: rho="):
        keras_ceb.StochasticEncoder(4, rho=value)
    model = keras.Sequential([keras.Input((3,)), keras_ceb.StochasticEncoder(2)])
    with pytest.raises(ValueError, match=r"`rho` must be a finite number. Received: rho="):
        keras_ceb.set_rho(model, value)
    with pytest.raises(ValueError, match=r"Received: learning_rate="):
        validation.positive_float(value, "learning_rate")
    assert keras_ceb.get_rho(model) == 0.0
