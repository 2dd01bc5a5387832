"""Information estimates of a trained model on held-out data (the `val_` of the information plane).

The layers estimate the rate and the minibatch I(X;Z) bound in `fit` and `evaluate` (never in
`predict`, attacks or serving). This module computes the same estimates, the same way (at
samples of e(z|x), over batches), on any data, with a seed of your choice and no compiled model.
"""

import keras
from keras import ops

from keras_ceb import export
from keras_ceb import rho as rho_lib
from keras_ceb import validation
from keras_ceb.ops import gaussian
from keras_ceb.ops import information


def information_estimates(model, x, *, batch_size=128, seed=0):
    """Batch means of `rate` and `i_xz_lower` for every CEB/VIB encoder of `model` on `x`.

    As in training: z is sampled from e(z|x), and the minibatch lower bound on I(X;Z) is
    computed over batches of `batch_size` (it is at most `log(batch_size)`, so use the
    training batch size to compare with the training logs).

    Args:
        model: A model with `StochasticEncoder`s.
        x: Inputs, in the format the model takes.
        batch_size: Batch size of the I(X;Z) bound.
        seed: Seed of the samples of z (the model's own seed state is not touched).

    Returns:
        A dict `{metric_prefix + "i_xz_lower": float, metric_prefix + "rate": float}` (the
        rate only for encoders that have one).

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> estimates = information_estimates(model, np.random.rand(64, 8).astype("float32"))
        >>> sorted(estimates)
        ['i_xz_lower', 'rate']
    """
    batch_size = validation.positive_int(batch_size, "batch_size")
    seed_generator = keras.random.SeedGenerator(seed)
    results = {}
    for encoder in rho_lib.encoders(model):
        if encoder.objective == "determ":
            continue
        features = export.feature_model(model, encoder).predict(
            x, batch_size=batch_size, verbose=0
        )
        sums = {"i_xz_lower": 0.0, "rate": 0.0}
        for start in range(0, len(features), batch_size):
            dist = encoder.distribution(
                ops.convert_to_tensor(features[start : start + batch_size])
            )
            z, log_e = gaussian.sample_and_log_prob(dist, seed=seed_generator)
            bound = information.minibatch_i_xz_lower_bound(z, dist, log_e)
            sums["i_xz_lower"] += float(ops.convert_to_numpy(ops.sum(bound)))
            if encoder.has_rate:
                rate = information.rate(log_e, encoder.log_marginal(z))
                sums["rate"] += float(ops.convert_to_numpy(ops.sum(rate)))
        names = ["i_xz_lower"] + (["rate"] if encoder.has_rate else [])
        for name in names:
            results[encoder.metric_prefix + name] = sums[name] / max(len(features), 1)
    return results
