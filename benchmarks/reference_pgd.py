"""A plain reference PGD: eager TensorFlow on the weights of a Keras `Sequential` model.

Independent of `keras_ceb.attacks`: the forward pass is rebuilt from raw
TensorFlow ops (`tf.matmul`, `tf.nn.conv2d`, ...) out of the model's weights, so
it works whatever the Keras backend, and gradients come from an eager
`tf.GradientTape`, one step at a time. It is the second implementation the
attack tests compare against and the baseline of `attack_throughput.py`.

The random start follows the procedure documented in `keras_ceb.attacks.pgd_attack`,
so with the same `seed` both start from the same points.
"""

import numpy as np
import tensorflow as tf


def reference_forward(model):
    """A function computing `model`'s logits with raw TensorFlow ops.

    Supports `Sequential` models made of `Flatten`, `Dense`, `Conv2D`,
    `MaxPooling2D` and `Dropout` layers with `relu` or `linear` activations.
    """
    steps = []
    for layer in model.layers:
        kind = type(layer).__name__
        config = layer.get_config()
        if kind in ("Dense", "Conv2D"):
            weights = [tf.constant(w) for w in layer.get_weights()]
            steps.append(_affine(kind, weights, config))
        elif kind == "Flatten":
            steps.append(lambda x: tf.reshape(x, (tf.shape(x)[0], -1)))
        elif kind == "MaxPooling2D":
            steps.append(_max_pool(config))
        elif kind == "Dropout":
            continue
        else:
            raise ValueError(f"The reference does not support layer {kind}.")

    def forward(x):
        for step in steps:
            x = step(x)
        return x

    return forward


def _affine(kind, weights, config):
    activation = {"relu": tf.nn.relu, "linear": tf.identity}[config["activation"]]
    kernel, bias = weights if len(weights) == 2 else (weights[0], 0.0)
    if kind == "Dense":
        return lambda x: activation(tf.matmul(x, kernel) + bias)
    strides, padding = config["strides"], config["padding"].upper()
    return lambda x: activation(tf.nn.conv2d(x, kernel, strides, padding) + bias)


def _max_pool(config):
    size, strides = config["pool_size"], config["strides"] or config["pool_size"]
    padding = config["padding"].upper()
    return lambda x: tf.nn.max_pool2d(x, size, strides, padding)


def random_start(x, eps, norm, seed, clip_min=0.0, clip_max=1.0):
    """The uniform random start in the `eps` ball, drawn as documented by `pgd_attack`."""
    rng = np.random.default_rng(seed)
    if norm == "linf":
        noise = rng.uniform(-eps, eps, size=x.shape)
    else:
        g = rng.standard_normal(size=x.shape).reshape(len(x), -1)
        u = rng.uniform(size=len(x))
        radius = eps * u ** (1.0 / g.shape[1])
        noise = (g / np.linalg.norm(g, axis=1, keepdims=True) * radius[:, None]).reshape(x.shape)
    return np.clip(x.astype("float64") + noise, clip_min, clip_max).astype("float32")


def reference_pgd(
    forward,
    x,
    y,
    *,
    eps,
    norm="linf",
    steps=7,
    step_size=None,
    targeted=False,
    random_start_seed=None,
    clip_min=0.0,
    clip_max=1.0,
    batch_size=256,
):
    """PGD (Madry et al., 2018) one eager step at a time.

    Args:
        forward: Function from a batch of inputs to logits (`reference_forward`).
        x: Clean inputs. y: integer labels (targets when `targeted`).
        eps, norm, steps, step_size, targeted, clip_min, clip_max: as `pgd_attack`.
        random_start_seed: Seed of the random start; `None` starts at `x`.
        batch_size: Examples per batch.

    Returns:
        NumPy array of adversarial examples.
    """
    if step_size is None:
        # The documented default of `pgd_attack`: Madry's 2.5 eps / steps, capped at 3% of the
        # input range per feature (its L2 length over all features for "l2").
        features = np.prod(np.shape(x)[1:])
        cap = 0.03 * (clip_max - clip_min) * (1.0 if norm == "linf" else np.sqrt(features))
        step_size = min(2.5 * eps / steps, cap)
    sign = -1.0 if targeted else 1.0
    x = np.asarray(x, "float32")
    start = (
        x
        if random_start_seed is None
        else random_start(x, eps, norm, random_start_seed, clip_min, clip_max)
    )
    out = []
    for i in range(0, len(x), batch_size):
        x0 = tf.constant(x[i : i + batch_size])
        labels = tf.constant(np.asarray(y[i : i + batch_size]), tf.int64)
        x_adv = tf.constant(start[i : i + batch_size])
        for _ in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x_adv)
                loss = tf.reduce_sum(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels, forward(x_adv))
                )
            grad = tape.gradient(loss, x_adv)
            if norm == "linf":
                x_adv = x_adv + sign * step_size * tf.sign(grad)
                x_adv = tf.clip_by_value(x_adv, x0 - eps, x0 + eps)
            else:
                flat = tf.reshape(grad, (len(grad), -1))
                flat = flat / tf.maximum(tf.reduce_max(tf.abs(flat), 1, keepdims=True), 1e-30)
                flat = flat / tf.maximum(tf.norm(flat, axis=1, keepdims=True), 1e-12)
                delta = tf.reshape(x_adv - x0, (len(grad), -1)) + sign * step_size * flat
                norm_delta = tf.norm(delta, axis=1, keepdims=True)
                scale = tf.minimum(1.0, eps / tf.maximum(norm_delta, 1e-12))
                x_adv = x0 + tf.reshape(delta * scale, x0.shape)
            x_adv = tf.clip_by_value(x_adv, clip_min, clip_max)
        out.append(x_adv.numpy())
    return np.concatenate(out)
