"""Predictive CEB (Fischer 2020, appendix C.2): `X_<t -> Z_t -> X_>=t` with a CatGen decoder."""

import keras

from keras_ceb import validation
from keras_ceb.layers.catgen_head import CatGenHead
from keras_ceb.layers.stochastic_encoder import StochasticEncoder


def _mlp(units, name):
    return keras.Sequential(
        [keras.layers.Dense(u, activation="relu", name=f"dense_{i}") for i, u in enumerate(units)],
        name=name,
    )


def build_predictive_ceb(
    past_length,
    future_length,
    latent_dim=2,
    hidden_units=(64, 64),
    rho=0.0,
    marginal=16,
    bidirectional=False,
    seed=None,
    name="predictive_ceb",
):
    """Builds predictive CEB for sequences of scalars (uncompiled; compile it with no loss).

    The encoder of the past `e(z_t|x_<t)` (an MLP and a `StochasticEncoder`) and a backward
    encoder of the future `b(z_t|x_>=t)` (another MLP and `StochasticEncoder`) are joined by a
    `CatGenHead()`: the decoder is a softmax over the batch, `c(x_>=t,i | z_i) = softmax_j log
    b(z_i|x_>=t,j)`, so the future is never generated. The objective is CatGen CEB with X the
    past and Y the future, `exp(-rho) (log e(z|x_<t) - log b(z|x_>=t)) - log c(x_>=t|z)`
    (eq. 26's first line; `bidirectional=True` adds its second line, which also compresses the
    future's encoder). Its target is the Minimum Necessary Information point,
    `I(X_<t; Z_t) = I(X_>=t; Z_t) = I(X_<t; X_>=t)`, the predictive information. A Gaussian
    process cannot reach it (no noisy channel makes `I(X_<t; Z_t | X_>=t) = 0`): there the
    optimum at each rho is the Gaussian information bottleneck's, which
    `keras_ceb.datasets.ar1_information_bottleneck` gives in closed form for an AR(1) process.
    With `bidirectional=False` the learned bounds land on it (on AR(1) with a = 0.9, 20 epochs:
    `I(X_<t; Z_t)` in [0.709, 0.721] nats against 0.725 at rho = 0; the CatGen bound on
    `I(X_>=t; Z_t)` 0.813 against 0.821 at rho = 4, close to the predictive information 0.830).

    What the model logs when training, in nats:

    - `past_i_xz_lower`: minibatch lower bound on `I(X_<t; Z_t)` (at most log of the batch);
    - `past_rate`: `log e(z|x_<t) - log m(z)`, an upper bound on `I(X_<t; Z_t)` (with a
      marginal m);
    - `i_yz`: the CatGen (InfoNCE) lower bound on `I(X_>=t; Z_t)`, at most log of the batch;
    - `rex`: `log e(z|x_<t) - log b(z|x_>=t)`, the residual information;
    - `future_i_xz_lower`: the minibatch lower bound on `I(X_>=t; Z_t)` of the future's
      encoder.

    Args:
        past_length: Steps of the past `X_<t`.
        future_length: Steps of the future `X_>=t`.
        latent_dim: Dimension of `Z_t`.
        hidden_units: Widths of the ReLU MLP before each encoder.
        rho: rho of both encoders.
        marginal: Mixture components of the past encoder's marginal m(z) (for the rate), or
            `None`.
        bidirectional: Also train the future -> Z direction (eq. 26's second line). Off by
            default: it compresses the future's encoder too, which makes it a looser decoder
            (on AR(1), rho = 0: `I(X_<t; Z_t)` 0.45 nats with it, 0.71 without).
        seed: Seed of the two encoders' sampling.
        name: Model name.

    Returns:
        A functional `keras.Model` from `{"past": [B, past_length], "future": [B,
        future_length]}` to `z_t` `[B, latent_dim]` (the mean of e(z|x_<t) at inference), with
        layers `"past_encoder"` and `"future_encoder"`.

    Examples:

        >>> model = build_predictive_ceb(8, 4, seed=0)
        >>> model.compile("adam")
        >>> x = keras_ceb.datasets.ar1_sequences(256, 12, 0.9, seed=0)
        >>> history = model.fit({"past": x[:, :8], "future": x[:, 8:]}, epochs=1, verbose=0)
        >>> sorted(k for k in history.history if k.startswith("past_"))
        ['past_i_xz_lower', 'past_rate', 'past_rho']
    """
    past_length = validation.positive_int(past_length, "past_length")
    future_length = validation.positive_int(future_length, "future_length")
    past = keras.Input((past_length,), name="past")
    future = keras.Input((future_length,), name="future")
    past_bottleneck = StochasticEncoder(
        latent_dim,
        rho=rho,
        marginal=marginal,
        seed=seed,
        metric_prefix="past_",
        name="past_encoder",
    )(_mlp(hidden_units, "past_mlp")(past))
    future_bottleneck = StochasticEncoder(
        latent_dim,
        rho=rho,
        seed=None if seed is None else seed + 1,
        metric_prefix="future_",
        name="future_encoder",
    )(_mlp(hidden_units, "future_mlp")(future))
    z = CatGenHead(bidirectional=bidirectional, name="catgen")(
        [past_bottleneck, future_bottleneck]
    )
    return keras.Model({"past": past, "future": future}, z, name=name)
