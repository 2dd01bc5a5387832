"""Tests of `pgd_attack`: closed-form optima, constraints, a second implementation."""

import keras
import numpy as np
import pytest

from keras_ceb.attacks import pgd
from keras_ceb.attacks import pgd_attack
from keras_ceb.attacks import targeted_success_rate
from keras_ceb.attacks import untargeted_success_rate


def margins(weights, bias, x, y):
    """Logit of the label minus the other logit, for the 2-class linear model."""
    logits = x.astype("float64") @ weights + bias
    return logits[np.arange(len(y)), y] - logits[np.arange(len(y)), 1 - y]


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 0.2)])
@pytest.mark.parametrize("targeted", [False, True])
def test_linear_model_reaches_closed_form_optimum(linear_problem, norm, eps, targeted):
    model, weights, bias, x, y = linear_problem
    w_diff = weights[:, 1] - weights[:, 0]  # margin of class 1 over class 0
    toward = np.where(y == 1, -1.0, 1.0)[:, None]  # direction that lowers the margin of y
    if norm == "linf":
        optimum = x + eps * toward * np.sign(w_diff)
        drop = eps * np.abs(w_diff).sum()
    else:
        optimum = x + eps * toward * w_diff / np.linalg.norm(w_diff)
        drop = eps * np.linalg.norm(w_diff)
    assert optimum.min() > 0 and optimum.max() < 1  # no clipping at the optimum

    labels = 1 - y if targeted else y  # with 2 classes the target is the other class
    x_adv = pgd_attack(
        model, x, labels, eps=eps, norm=norm, steps=20, targeted=targeted, random_start=False
    )

    np.testing.assert_allclose(x_adv, optimum, atol=2e-5)
    np.testing.assert_allclose(
        margins(weights, bias, x, y) - margins(weights, bias, x_adv, y),
        np.full(len(x), drop),
        rtol=1e-4,
    )


@pytest.mark.parametrize("norm, eps", [("linf", 0.3), ("l2", 2.0)])
def test_random_start_stays_in_ball_and_box(small_model, fashion_mnist, norm, eps):
    _, _, x_test, y_test = fashion_mnist
    x, y = x_test[:300], y_test[:300]  # many pixels are 0: the box is active
    x_adv = pgd_attack(small_model, x, y, eps=eps, norm=norm, steps=5, seed=1)
    delta = (x_adv.astype("float64") - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert np.all(size <= eps + 1e-6)
    assert np.all(size > 0.5 * eps)  # the attack did move
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_start_is_uniform_in_ball(norm):
    x = np.full((4000, 3), 0.5, "float32")
    start = pgd._random_start(x, 0.2, norm, np.random.default_rng(0), -10.0, 10.0) - 0.5
    if norm == "linf":
        # Each coordinate uniform on [-eps, eps]: mean |d| = eps / 2.
        np.testing.assert_allclose(np.abs(start).mean(), 0.1, rtol=0.02)
    else:
        # Uniform in the 3-d ball: P(radius < eps / 2) = (1/2)^3.
        radius = np.linalg.norm(start, axis=1)
        assert radius.max() <= 0.2 + 1e-6
        np.testing.assert_allclose(np.mean(radius < 0.1), 0.125, atol=0.02)


def test_inputs_are_not_modified(linear_problem):
    model, _, _, x, y = linear_problem
    x_copy, y_copy = x.copy(), y.copy()
    x_adv = pgd_attack(model, x, y, eps=0.1, seed=0)
    assert x_adv is not x and not np.shares_memory(x_adv, x)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_seed_makes_attack_reproducible(linear_problem):
    model, _, _, x, y = linear_problem
    a = pgd_attack(model, x, y, eps=0.5, norm="l2", steps=1, step_size=0.0, seed=3)
    b = pgd_attack(model, x, y, eps=0.5, norm="l2", steps=1, step_size=0.0, seed=3)
    c = pgd_attack(model, x, y, eps=0.5, norm="l2", steps=1, step_size=0.0, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_compiled_step_is_traced_once(linear_problem, monkeypatch):
    model, _, _, x, y = linear_problem
    model = keras.models.clone_model(model)  # a fresh entry in the cache
    traces = []
    make_body = pgd._pgd_body

    def counting_body(*args):
        body = make_body(*args)

        def counted(*inner):
            traces.append(1)
            return body(*inner)

        return counted

    monkeypatch.setattr(pgd, "_pgd_body", counting_body)
    x_big = np.concatenate([x] * 5)  # 320 rows: batches of 128, 128 and a padded 64
    y_big = np.concatenate([y] * 5)
    for eps in (0.05, 0.1):
        pgd_attack(model, x_big, y_big, eps=eps, steps=3, batch_size=128, seed=0)
    if keras.backend.backend() == "torch":
        assert len(traces) == 2 * 3 * 3  # eager: one call per step
    else:
        assert len(traces) == 1


def test_scalar_target_is_broadcast(linear_problem):
    model, _, _, x, y = linear_problem
    settings = dict(eps=0.1, targeted=True, seed=0)
    per_example = pgd_attack(model, x, np.ones(len(x), "int64"), **settings)
    np.testing.assert_array_equal(pgd_attack(model, x, 1, **settings), per_example)
    np.testing.assert_array_equal(pgd_attack(model, x, np.int64(1), **settings), per_example)
    with pytest.raises(ValueError, match=r"target classes in \[0, 2\).*Received: y=2$"):
        pgd_attack(model, x, 2, **settings)


def test_per_example_eps(linear_problem):
    model, _, _, x, y = linear_problem
    eps = np.where(np.arange(len(x)) < 32, 0.05, 0.1)
    settings = dict(norm="l2", steps=5, random_start=False)
    both = pgd_attack(model, x, y, eps=eps, **settings)
    np.testing.assert_allclose(
        both[:32], pgd_attack(model, x[:32], y[:32], eps=0.05, **settings), atol=1e-6
    )
    np.testing.assert_allclose(
        both[32:], pgd_attack(model, x[32:], y[32:], eps=0.1, **settings), atol=1e-6
    )
    # With a random start each example stays in its own ball, and moves.
    for norm in ("linf", "l2"):
        x_adv = pgd_attack(model, x, y, eps=eps, norm=norm, steps=3, seed=0)
        delta = (x_adv.astype("float64") - x).reshape(len(x), -1)
        size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
        assert np.all(size <= eps + 1e-6) and np.all(size > 0.5 * eps)


def test_default_step_size(linear_problem):
    model, _, _, x, y = linear_problem
    # Madry's 2.5 eps / steps, capped at 3% of the range per feature (L2: times sqrt(20)).
    cap = 0.03 * np.sqrt(20)
    for eps, expected in ((0.05, 2.5 * 0.05 / 5), (1.0, cap)):
        assert pgd.default_step_size(eps, 5, "l2", 20) == pytest.approx(expected)
        default = pgd_attack(model, x, y, eps=eps, norm="l2", steps=5, seed=0)
        explicit = pgd_attack(model, x, y, eps=eps, norm="l2", steps=5, seed=0, step_size=expected)
        np.testing.assert_array_equal(default, explicit)
    assert pgd.default_step_size(0.5, 7, "linf", 784, clip_min=-1.0, clip_max=1.0) == 0.06
    np.testing.assert_allclose(pgd.default_step_size(np.array([0.07, 0.7]), 7), [0.025, 0.03])


def test_targeted_attack_beats_chance(small_model, fashion_mnist):
    _, _, x_test, y_test = fashion_mnist
    x, y = x_test[:300], y_test[:300]
    target = (y + np.random.default_rng(0).integers(1, 10, len(y))) % 10
    x_adv = pgd_attack(small_model, x, target, eps=0.2, norm="linf", targeted=True, seed=0)
    rate, count = targeted_success_rate(small_model, x, x_adv, y, target)
    assert count > 150  # clean-correct examples
    assert rate > 0.5  # chance is 1/9


@pytest.mark.parametrize(
    "norm, eps, targeted", [("linf", 0.05, False), ("l2", 1.0, False), ("linf", 0.1, True)]
)
def test_agrees_with_reference_implementation(
    small_model, fashion_mnist, reference_pgd_module, norm, eps, targeted
):
    _, _, x_test, y_test = fashion_mnist
    x, y = x_test[:400], y_test[:400]
    labels = (y + 1) % 10 if targeted else y
    settings = dict(eps=eps, norm=norm, steps=7, targeted=targeted)
    ours = pgd_attack(small_model, x, labels, seed=11, **settings)
    forward = reference_pgd_module.reference_forward(small_model)
    theirs = reference_pgd_module.reference_pgd(
        forward, x, labels, random_start_seed=11, **settings
    )

    if targeted:
        score = lambda x_adv: targeted_success_rate(small_model, x, x_adv, y, labels)  # noqa: E731
    else:
        score = lambda x_adv: untargeted_success_rate(small_model, x, x_adv, y)  # noqa: E731
    (rate_ours, count), (rate_theirs, _) = score(ours), score(theirs)
    assert 0.1 < rate_ours < 0.95  # a regime where the rate is informative
    sampling_error = np.sqrt(2 * rate_ours * (1 - rate_ours) / count)
    assert abs(rate_ours - rate_theirs) < 2 * sampling_error
    # Same start, same steps: the examples themselves agree almost everywhere.
    same = np.abs(ours - theirs).reshape(len(x), -1).max(axis=1) < 1e-3
    assert same.mean() > 0.9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(eps=-0.1), "Received: eps=-0.1"),
        (dict(norm="l1"), "Received: norm=l1"),
        (dict(steps=0), "Received: steps=0"),
        (dict(num_samples=0), "Received: num_samples=0"),
        (dict(y=np.full(64, 2)), "Received: y=2"),
        (dict(y=np.full(64, -1)), "Received: y=-1"),
        (dict(targeted=True, y=np.full(64, 5)), "Received: y=5"),
        (dict(x=np.full((64, 20), 1.5, "float32")), r"Received: min\(x\)=1.5, max\(x\)=1.5$"),
        (dict(x=np.full((64, 20), 255, "uint8")), r"raw 0..255 pixels\? divide by 255"),
        (dict(y=np.zeros(63, "int64")), r"Received: len\(x\)=64, y.shape=\(63,\)$"),
        (dict(clip_min=1.0, clip_max=0.0), "Received: clip_min=1.0, clip_max=0.0$"),
        (dict(eps=np.inf), "must be a finite number >= 0. Received: eps=inf$"),
        (dict(eps=float("nan")), "Received: eps=nan$"),
        (
            dict(eps=np.full(3, 0.1)),
            r"one value per example \(N=64\). Received: eps.shape=\(3,\)$",
        ),
        (dict(eps=np.full((64, 1), 0.1)), r"Received: eps.shape=\(64, 1\)$"),
        (dict(eps=np.r_[np.full(63, 0.1), np.inf]), r"Received: eps\[63\]=inf$"),
        (dict(eps=np.r_[-0.1, np.full(63, 0.1)]), r"Received: eps\[0\]=-0.1$"),
        (dict(eps="big"), "Received: eps='big'$"),
        (dict(step_size=np.inf), "Received: step_size=inf$"),
        (dict(step_size=-0.01), "Received: step_size=-0.01$"),
        (dict(seed=-1), "Received: seed=-1$"),
        (dict(seed=1.5), "Received: seed=1.5$"),
        (dict(y=True), "not booleans. Received: y=True$"),
        (dict(num_samples=2), "Received: num_samples=2$"),
    ],
)
def test_bad_arguments_raise(linear_problem, kwargs, message):
    model, _, _, x, y = linear_problem
    arguments = dict(x=x, y=y, eps=0.1)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        pgd_attack(model, **arguments)
