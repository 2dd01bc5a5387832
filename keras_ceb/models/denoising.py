"""Denoising CEB autoencoder (Fischer 2020, appendix C.3.1): e(z|x) and b(z|x') with CatGen."""

import keras

from keras_ceb.layers import bottleneck as bottleneck_lib
from keras_ceb.layers.catgen_head import CatGenHead
from keras_ceb.layers.stochastic_encoder import StochasticEncoder
from keras_ceb.models import backbones


def build_denoising_ceb(
    input_shape=(28, 28, 1),
    latent_dim=4,
    rho=0.0,
    backbone="small_convnet",
    shared_backbone=True,
    marginal=None,
    bidirectional=True,
    seed=None,
    backbone_kwargs=None,
    name="denoising_ceb",
):
    """Builds the denoising CEB autoencoder on pairs `(X, X' = f(X, U))` (uncompiled).

    The encoder `e(z|x)` and the backward encoder `b(z|x')` are two `StochasticEncoder`s (on a
    shared backbone by default, as X and X' come from the same distribution), joined by a
    `CatGenHead()`: the decoder is the CatGen softmax over the batch, `d(x'_i|z_i) = softmax_j
    log b(z_i|x'_j)`, so no image is generated. The objective is eq. 26 with Y = X': at rho = 0
    the representation keeps what X and X' share, `I(X; X')`, and nothing else. What that is
    depends on the noise `f` (`keras_ceb.datasets.noise`): with the oracle noise (X' another
    image of the same class) it is the class, so a linear probe reads the label off z.

    Args:
        input_shape: Shape of one example.
        latent_dim: Dimension of z.
        rho: rho of both encoders.
        backbone: `"small_convnet"`, `"wide_resnet"` or a `keras.Model` to features `[B, F]`.
        shared_backbone: One backbone for X and X' (else two with the same architecture; a
            `keras.Model` backbone is always shared).
        marginal: Mixture components of e's marginal m(z) (for the rate), or `None`.
        bidirectional: Also train the X' -> Z direction (eq. 26).
        seed: Seed of the encoders' sampling.
        backbone_kwargs: Arguments of a named backbone's builder.
        name: Model name.

    Returns:
        A functional `keras.Model` from `{"x", "x_noisy"}` to z `[B, latent_dim]` (the mean of
        e(z|x) at inference), with layers `"encoder"` and `"noisy_encoder"`. Compile it with no
        loss and train it on `keras_ceb.datasets.NoisyPairs`; `representation_model(model)`
        maps X alone to z.

    Examples:

        >>> model = build_denoising_ceb((8,), backbone=keras.Sequential(
        ...     [keras.Input((8,)), keras.layers.Dense(16, "relu")]), seed=0)
        >>> model.compile("adam")
        >>> x, y = np.random.rand(64, 8).astype("float32"), np.arange(64) % 4
        >>> pairs = keras_ceb.datasets.NoisyPairs(
        ...     x, y, keras_ceb.datasets.noise.oracle_noise(x, y), batch_size=32, seed=0)
        >>> history = model.fit(pairs, epochs=1, verbose=0)
        >>> sorted(history.history)
        ['i_xz_lower', 'i_yz', 'loss', 'noisy_i_xz_lower', 'noisy_rho', 'rex', 'rho']
        >>> representation_model(model).output_shape
        (None, 4)
    """
    backbone_kwargs = dict(backbone_kwargs or {})
    if isinstance(backbone, str):
        backbone_kwargs.setdefault("name", "backbone")
    features = backbones.get_backbone(backbone, input_shape, **backbone_kwargs)
    if shared_backbone or not isinstance(backbone, str):
        noisy_features = features
    else:
        noisy_features = backbones.get_backbone(
            backbone, input_shape, **{**backbone_kwargs, "name": "noisy_backbone"}
        )
    input_shape = tuple(features.input_shape[1:])
    x = keras.Input(input_shape, name="x")
    x_noisy = keras.Input(input_shape, name="x_noisy")
    encoded = StochasticEncoder(latent_dim, rho=rho, marginal=marginal, seed=seed, name="encoder")(
        features(x)
    )
    noisy_encoded = StochasticEncoder(
        latent_dim,
        rho=rho,
        seed=None if seed is None else seed + 1,
        metric_prefix="noisy_",
        name="noisy_encoder",
    )(noisy_features(x_noisy))
    z = CatGenHead(bidirectional=bidirectional, name="catgen")([encoded, noisy_encoded])
    return keras.Model({"x": x, "x_noisy": x_noisy}, z, name=name)


def representation_model(model, encoder="encoder"):
    """The model from X alone to the mean of e(z|x), for probes and downstream use.

    It reuses `model`'s layers and graph (no copy): from `model.input["x"]` to the `"loc"` of
    the bottleneck of the encoder named `encoder`.

    Args:
        model: A model from `build_denoising_ceb` (or any functional model with dict inputs
            whose `encoder` layer is a CEB `StochasticEncoder` reading only `"x"`).
        encoder: Name of the encoder layer.

    Returns:
        A `keras.Model` from X `[B, ...]` to z `[B, latent_dim]`.
    """
    outputs = keras.tree.pack_sequence_as(
        {key: None for key in bottleneck_lib.KEYS}, model.get_layer(encoder).output
    )
    return keras.Model(
        model.input["x"], outputs[bottleneck_lib.LOC], name=f"{model.name}_representation"
    )
