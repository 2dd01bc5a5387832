"""EOT over z and seeds: attacks on a model whose `StochasticEncoder` can sample."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_ceb
from keras_ceb.attacks import carlini_wagner_l2
from keras_ceb.attacks import gradients
from keras_ceb.attacks import loss_gradient
from keras_ceb.attacks import pgd_attack
from keras_ceb.inference import sampling_at_inference


def _tiny_model(objective, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(16, activation="relu"),
            keras_ceb.StochasticEncoder(2, objective=objective, seed=seed),
            keras_ceb.BackwardEncoder(2),
        ]
    )


@pytest.fixture(scope="module")
def ceb_problem():
    """A tiny CEB classifier trained briefly on a 2-class problem, and 32 test inputs."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, size=(512, 20)).astype("float32")
    score = x @ rng.normal(size=20)
    y = (score > np.median(score)).astype("int64")
    model = _tiny_model("ceb")
    model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    return model, x[:32], y[:32]


def _state(model):
    return [np.array(ops.convert_to_numpy(v.value)) for v in model.non_trainable_variables]


SETTINGS = dict(eps=0.5, norm="l2", steps=3, random_start=False)


def test_eot_samples_z(ceb_problem):
    model, x, y = ceb_problem
    mean_0 = pgd_attack(model, x, y, num_samples=1, seed=0, **SETTINGS)
    mean_1 = pgd_attack(model, x, y, num_samples=1, seed=1, **SETTINGS)
    eot_0 = pgd_attack(model, x, y, num_samples=4, seed=0, **SETTINGS)
    eot_0_again = pgd_attack(model, x, y, num_samples=4, seed=0, **SETTINGS)
    eot_1 = pgd_attack(model, x, y, num_samples=4, seed=1, **SETTINGS)

    # Without a random start, one pass at the encoder mean involves no randomness ...
    np.testing.assert_array_equal(mean_0, mean_1)
    # ... while EOT draws z: it moves elsewhere, and the seed decides its draws.
    assert np.abs(eot_0 - mean_0).max() > 1e-3
    assert np.abs(eot_0 - eot_1).max() > 1e-3
    np.testing.assert_array_equal(eot_0, eot_0_again)


def test_eot_gradient_is_the_mean_over_draws(ceb_problem):
    model, x, y = ceb_problem
    losses, grad = loss_gradient(model, x, y, num_samples=4, seed=5)

    # The same draws by hand: EOT runs the input repeated 4 times along the batch
    # axis through the sampling encoder, one draw of z per row.
    with sampling_at_inference(model):
        draw_losses, draws = loss_gradient(
            model, np.concatenate([x] * 4), np.concatenate([y] * 4), seed=5, batch_size=4 * len(x)
        )
    draws = draws.reshape((4,) + x.shape)
    assert np.abs(draws[0] - draws[1]).max() > 1e-2 * np.abs(draws).max()  # draws differ
    np.testing.assert_allclose(grad, draws.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses, draw_losses.reshape(4, -1).mean(axis=0), rtol=1e-5)

    # One pass at the mean is another gradient.
    _, mean_grad = loss_gradient(model, x, y)
    assert np.abs(mean_grad - grad).max() > 1e-2 * np.abs(grad).max()


def test_attacks_leave_the_model_state_unchanged(ceb_problem):
    model, x, y = ceb_problem
    before = _state(model)
    with sampling_at_inference(model):
        draw = ops.convert_to_numpy(model(x, training=False))
    before_draw = _state(model)  # the draw advanced the encoder's seed state

    # (Configurations the other tests compile too: on JAX a compilation takes seconds.)
    pgd_attack(model, x, y, num_samples=4, seed=0, **SETTINGS)
    pgd_attack(model, x, y, seed=None, **SETTINGS)
    loss_gradient(model, x, y, num_samples=4, seed=0)
    carlini_wagner_l2(model, x, y, max_iterations=2, binary_search_steps=1, seed=0)

    for a, b in zip(before_draw, _state(model)):
        np.testing.assert_array_equal(a, b)
    # So the model's next draws are those it would have made without the attacks.
    for variable, value in zip(model.non_trainable_variables, before):
        variable.assign(value)
    with sampling_at_inference(model):
        np.testing.assert_array_equal(ops.convert_to_numpy(model(x, training=False)), draw)


def test_seed_none_draws_fresh_z(ceb_problem):
    model, x, y = ceb_problem
    a = pgd_attack(model, x, y, num_samples=2, seed=None, **SETTINGS)
    b = pgd_attack(model, x, y, num_samples=2, seed=None, **SETTINGS)
    assert np.abs(a - b).max() > 1e-3


def test_random_start_and_draws_together_are_reproducible(ceb_problem):
    model, x, y = ceb_problem
    settings = dict(eps=0.1, norm="linf", steps=3, num_samples=2)
    a = pgd_attack(model, x, y, seed=7, **settings)
    b = pgd_attack(model, x, y, seed=7, **settings)
    np.testing.assert_array_equal(a, b)


def test_compiled_loop_keys_on_the_sampling_mode(ceb_problem):
    model, x, y = ceb_problem
    trained = model
    model = keras.models.clone_model(trained)  # a fresh entry in the loop cache
    model.set_weights(trained.get_weights())
    at_mean = pgd_attack(model, x, y, seed=0, **SETTINGS)
    with sampling_at_inference(model):
        sampled = pgd_attack(model, x, y, seed=0, **SETTINGS)
        sampled_again = pgd_attack(model, x, y, seed=0, **SETTINGS)
    assert len(gradients._LOOPS[model]) == 2  # the mean-mode trace was not reused
    assert np.abs(sampled - at_mean).max() > 1e-3
    np.testing.assert_array_equal(sampled, sampled_again)
    np.testing.assert_array_equal(pgd_attack(model, x, y, seed=0, **SETTINGS), at_mean)


@pytest.mark.parametrize("objective", ["determ", None])
def test_eot_without_a_sampling_encoder_raises(linear_problem, objective):
    _, _, _, x, y = linear_problem
    if objective is None:
        model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(2)])
    else:
        model = _tiny_model(objective)
    message = r"no StochasticEncoder that samples z.*Received: num_samples=3$"
    with pytest.raises(ValueError, match=message):
        pgd_attack(model, x, y, eps=0.1, num_samples=3)
    with pytest.raises(ValueError, match=message):
        loss_gradient(model, x, y, num_samples=3)


def test_training_argument_is_deprecated(linear_problem):
    model, _, _, x, y = linear_problem
    with pytest.warns(DeprecationWarning, match="`training` argument of the attacks"):
        pgd_attack(model, x, y, eps=0.1, seed=0, training=False)
