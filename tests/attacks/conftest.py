"""Fixtures for the attack tests: Fashion-MNIST read from the idx files, a tiny trained MLP."""

import importlib.util
import pathlib

import keras
import numpy as np
import pytest

import keras_ceb


@pytest.fixture(scope="session")
def fashion_mnist(fashion_mnist_dir):
    """3000 training and 1000 test images in [0, 1] of shape (28, 28, 1), with labels."""
    (x_train, y_train), (x_test, y_test) = keras_ceb.datasets.load_fashion_mnist(
        data_dir=fashion_mnist_dir, download=False
    )
    return (
        x_train[:3000],
        y_train[:3000].astype("int64"),
        x_test[:1000],
        y_test[:1000].astype("int64"),
    )


@pytest.fixture(scope="session")
def small_model(fashion_mnist):
    """A Flatten-Dense(64, relu)-Dense(10) logits model trained briefly on Fashion-MNIST."""
    x_train, y_train, _, _ = fashion_mnist
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, batch_size=64, epochs=4, verbose=0)
    return model


@pytest.fixture(scope="session")
def reference_pgd_module():
    """`benchmarks/reference_pgd.py`, the plain eager-TensorFlow PGD, loaded by path."""
    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "reference_pgd.py"
    spec = importlib.util.spec_from_file_location("reference_pgd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def linear_problem():
    """A 2-class linear logits model on 20 features, and 64 inputs in [0.3, 0.7].

    Returns `(model, weights, bias, x, y)` with `y` the model's own predictions,
    so every example starts correctly classified.
    """
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(20, 2))
    bias = rng.normal(size=2) * 0.1
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(2)])
    model.layers[-1].set_weights([weights.astype("float32"), bias.astype("float32")])
    x = rng.uniform(0.3, 0.7, size=(64, 20)).astype("float32")
    y = np.argmax(x @ weights + bias, axis=1)
    return model, weights, bias, x, y
