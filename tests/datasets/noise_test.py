"""Noise functions X' = f(X, U) and `NoisyPairs` for the denoising CEB autoencoder."""

import numpy as np
import pytest

from keras_ceb.datasets import NoisyPairs
from keras_ceb.datasets import noise


def test_oracle_pairs_each_example_with_another_of_its_class():
    rng = np.random.default_rng(0)
    x = np.arange(60, dtype="float32")[:, None] * np.ones((1, 3), "float32")
    y = np.arange(60) % 5
    for _ in range(3):
        x_noisy = noise.oracle_noise()(x, y, rng)
        partner = x_noisy[:, 0].astype(int)
        assert np.all(y[partner] == y) and np.all(partner != np.arange(60))
    # Uniform over the other members: every partner shows up.
    partners = np.concatenate([noise.oracle_noise()(x, y, rng)[:, 0] for _ in range(60)])
    assert len(np.unique(partners[y[partners.astype(int)] == 0])) == 12
    # From a pool: partners come from the pool, of the same class.
    pool_x, pool_y = x[:30] + 100.0, y[:30]
    from_pool = noise.oracle_noise(pool_x, pool_y)(x, y, rng)[:, 0] - 100.0
    assert np.all(y[from_pool.astype(int)] == y) and np.all(from_pool < 30)
    with pytest.raises(ValueError, match="Received: y=None$"):
        noise.oracle_noise()(x, None, rng)


def test_gaussian_masking_identity():
    rng = np.random.default_rng(0)
    x = np.full((2000, 10), 0.5, "float32")
    noisy = noise.gaussian_noise(0.1)(x, None, rng)
    assert noisy.dtype == np.float32 and abs(float(noisy.std()) - 0.1) < 0.005
    assert noise.gaussian_noise(2.0)(x, None, rng).max() <= 1.0
    masked = noise.masking_noise(0.25, value=-1.0)(x, None, rng)
    assert abs(float(np.mean(masked == -1.0)) - 0.25) < 0.01
    assert set(np.unique(masked).tolist()) == {-1.0, 0.5}
    np.testing.assert_array_equal(noise.identity_noise()(x, None, rng), x)
    with pytest.raises(ValueError, match=r"Received: rate=1.5$"):
        noise.masking_noise(1.5)


def test_noisy_pairs_redraw_every_epoch_reproducibly():
    x = np.random.default_rng(0).random((10, 4)).astype("float32")
    pairs = NoisyPairs(x, None, noise.gaussian_noise(0.2), batch_size=4, seed=3)
    assert len(pairs) == 3
    first = [pairs[i][0] for i in range(3)]
    assert [b["x"].shape[0] for b in first] == [4, 4, 2]
    again = NoisyPairs(x, None, noise.gaussian_noise(0.2), batch_size=4, seed=3)
    np.testing.assert_array_equal(again[1][0]["x_noisy"], first[1]["x_noisy"])
    covered = np.concatenate([b["x"] for b in first])
    assert sorted(map(tuple, covered)) == sorted(map(tuple, x))  # a permutation of x
    pairs.on_epoch_end()
    assert not np.array_equal(pairs[0][0]["x_noisy"], first[0]["x_noisy"])
    with pytest.raises(ValueError, match=r"Received: noise=None$"):
        NoisyPairs(x, None, None)
