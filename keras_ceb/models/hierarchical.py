"""Hierarchical CEB (Fischer 2020, appendix C.1): stacked bottlenecks, each with its CEB term."""

import numbers

import keras

from keras_ceb import validation
from keras_ceb.layers import bottleneck as bottleneck_lib
from keras_ceb.layers.stochastic_encoder import StochasticEncoder
from keras_ceb.layers.vceb_head import VCEBHead
from keras_ceb.models import backbones


def build_hierarchical_ceb(
    input_shape=(28, 28, 1),
    num_classes=10,
    latent_dims=(8, 2),
    rho=0.0,
    backbone="small_convnet",
    covariance="full",
    seed=None,
    backbone_kwargs=None,
    name="hierarchical_ceb",
):
    """Builds the hierarchical CEB classifier `Z_n <- ... <- Z_1 <- X <-> Y` (uncompiled).

    Level 1's `StochasticEncoder` reads the backbone's features; level i > 1's reads the
    sample `z_{i-1}` of the level below, so its density is `e_i(z_i|z_{i-1})`. Every level has
    a `VCEBHead`: its own class Gaussians `b_i(z_i|y)`, its consistent classifier `c_i(y|z_i)`
    and its term `exp(-rho_i) (log e_i(z_i|z_{i-1}) - log b_i(z_i|y)) - log c_i(y|z_i)`. The
    model's added losses are their sum, `keras_ceb.losses.hierarchical_ceb`: compile it with no
    loss.

    Layers are named `"backbone"`, `"encoder_{i}"` and `"head_{i}"`; the encoders and heads
    log their estimates with the prefix `"level{i}_"` (`level1_i_xz_lower`, `level2_rex`, ...;
    level i's `i_xz_lower` bounds `I(Z_{i-1}; Z_i)`, which is at most `I(X; Z_{i-1})`).

    Args:
        input_shape: Shape of one image.
        num_classes: Number of classes.
        latent_dims: Dimension of each level's z, from the bottom (nearest X) up.
        rho: rho of every level, or one rho per level.
        backbone: `"small_convnet"`, `"wide_resnet"` or a `keras.Model` to features `[B, F]`.
        covariance: `"full"` or `"diag"`, for the encoders and the class Gaussians.
        seed: Seed of the encoders' sampling (level i uses `seed + i`).
        backbone_kwargs: Arguments of a named backbone's builder.
        name: Model name.

    Returns:
        A functional `keras.Model` from `{"images", "labels"}` to `{"level_1": logits, ...,
        "level_n": logits}`: train it with `fit({"images": x, "labels": y}, {"level_1": y,
        ...})` (the targets feed the compiled metrics, e.g.
        `compile("adam", metrics={"level_2": ["accuracy"]})`).

    Examples:

        >>> model = build_hierarchical_ceb((8,), latent_dims=(4, 2), backbone=keras.Sequential(
        ...     [keras.Input((8,)), keras.layers.Dense(16, "relu")]))
        >>> sorted(model.output)
        ['level_1', 'level_2']
        >>> [layer.name for layer in model.layers if "encoder" in layer.name]
        ['encoder_1', 'encoder_2']
    """
    if isinstance(latent_dims, numbers.Integral) or not latent_dims:
        raise ValueError(
            f"`latent_dims` must be a non-empty sequence. Received: latent_dims={latent_dims!r}"
        )
    latent_dims = [validation.positive_int(d, "latent_dims") for d in latent_dims]
    rhos = list(rho) if isinstance(rho, (list, tuple)) else [rho] * len(latent_dims)
    if len(rhos) != len(latent_dims):
        raise ValueError(
            f"`rho` needs one value per level ({len(latent_dims)}). Received: rho={rho!r}"
        )
    backbone_kwargs = dict(backbone_kwargs or {})
    if isinstance(backbone, str):
        backbone_kwargs.setdefault("name", "backbone")
    features_model = backbones.get_backbone(backbone, input_shape, **backbone_kwargs)
    images = keras.Input(tuple(features_model.input_shape[1:]), name="images")
    labels = keras.Input((), dtype="int32", name="labels")
    below = features_model(images)
    outputs = {}
    for level, (dim, level_rho) in enumerate(zip(latent_dims, rhos), 1):
        encoded = StochasticEncoder(
            dim,
            covariance=covariance,
            rho=level_rho,
            seed=None if seed is None else seed + level,
            metric_prefix=f"level{level}_",
            name=f"encoder_{level}",
        )(below)
        outputs[f"level_{level}"] = VCEBHead(
            num_classes,
            covariance=covariance,
            metric_prefix=f"level{level}_",
            name=f"head_{level}",
        )([encoded, labels])
        below = encoded[bottleneck_lib.Z]
    return keras.Model({"images": images, "labels": labels}, outputs, name=name)
