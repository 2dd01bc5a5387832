"""The CEB and VIB objectives as pure functions of log-densities (Fischer 2020, eq. 15 and 18).

One source per formula: the layers call these functions, and the tests check them against
the paper's equations. Every function takes per-example log-densities (in nats, evaluated at a
sample `z ~ e(z|x)`) and `rho`, and returns per-example values; the layers add them with
`add_loss` as shares of the batch mean (`batch_share`). `gamma = exp(rho)`; rho = 0 targets
the Minimum Necessary Information point.

There are no `keras.losses.Loss` wrappers on purpose: in keras_ceb the label-free and the
label-dependent terms are added by the layers that own the densities (the model is compiled
with an ordinary cross-entropy), so a compiled CEB loss would be a second, double-counting
path to the same objective.
"""

from keras import ops

from keras_ceb.ops import catgen
from keras_ceb.ops import information


def ceb_weight(rho):
    """`1 / gamma = exp(-rho)`, the weight on ReX in the per-example VCEB objective.

    Examples:

        >>> float(ceb_weight(0.0))
        1.0
    """
    return ops.exp(-ops.convert_to_tensor(rho, dtype="float32"))


def vib_weight(rho):
    """`1 / beta_IB = 1 / (exp(rho) + 1)`, the weight on the rate in the per-example VIB objective.

    Examples:

        >>> float(vib_weight(0.0))
        0.5
    """
    return ops.sigmoid(-ops.convert_to_tensor(rho, dtype="float32"))


def vceb(log_e, log_b, log_c, rho):
    """Per-example VCEB (Fischer 2020, eq. 15): `exp(-rho) * (log e - log b) - log c`.

    Args:
        log_e: `log e(z|x)`, `[B]`.
        log_b: `log b(z|y)` at the true label, `[B]`.
        log_c: `log c(y|z)` at the true label, `[B]`.
        rho: Scalar or `[B]`.

    Examples:

        >>> round(float(vceb(1.0, -0.5, -0.1, rho=0.0)), 4)  # 1.5 + 0.1
        1.6
    """
    return ceb_weight(rho) * information.residual_information(log_e, log_b) - log_c


def vib(log_e, log_m, log_c, rho):
    """Per-example VIB (Alemi et al. 2017; Fischer 2020, eq. 18): `R / (exp(rho) + 1) - log c`.

    Examples:

        >>> float(vib(1.0, -2.0, -0.5, rho=0.0))  # 3 / 2 + 0.5
        2.0
    """
    return vib_weight(rho) * information.rate(log_e, log_m) - log_c


def hierarchical_ceb(log_e, log_b, log_c, rho):
    """Per-example hierarchical CEB (Fischer 2020, appendix C.1): VCEB summed over the levels.

    For a stack `Z_n <- ... <- Z_1 <- X <-> Y` whose level i has an encoder `e_i(z_i|z_{i-1})`
    (`z_0 = x`), a backward encoder `b_i(z_i|y)` and a classifier `c_i(y|z_i)`, the variational
    bound on `sum_i I(Z_{i-1}; Z_i | Y) - gamma_i I(Y; Z_i)` (scaled by `1 / gamma_i` per level) is

        sum_i exp(-rho_i) (log e_i(z_i|z_{i-1}) - log b_i(z_i|y)) - log c_i(y|z_i)

    at samples `z_i ~ e_i(z_i|z_{i-1})`: each level's residual term conditions on the sample
    of the level below. `keras_ceb.layers.VCEBHead` adds one level's term.

    Args:
        log_e: One `[B]` tensor per level, `log e_i(z_i|z_{i-1})`.
        log_b: One `[B]` tensor per level, `log b_i(z_i|y)`.
        log_c: One `[B]` tensor per level, `log c_i(y|z_i)`.
        rho: One rho per level (scalars or `[B]`), or a single rho for every level.

    Returns:
        Per-example values `[B]`.

    Examples:

        >>> value = hierarchical_ceb([[1.0], [0.5]], [[0.0], [0.0]], [[-0.1], [-0.2]], rho=0.0)
        >>> round(float(value[0]), 4)  # (1 + 0.1) + (0.5 + 0.2)
        1.8
    """
    levels = len(log_e)
    if not levels or len(log_b) != levels or len(log_c) != levels:
        raise ValueError(
            "`log_e`, `log_b` and `log_c` need one entry per level, at least one. Received: "
            f"levels={(len(log_e), len(log_b), len(log_c))}"
        )
    rhos = list(rho) if isinstance(rho, (list, tuple)) else [rho] * levels
    if len(rhos) != levels:
        raise ValueError(f"`rho` needs one value per level ({levels}). Received: rho={rho!r}")
    total = 0.0
    for e, b, c, r in zip(log_e, log_b, log_c, rhos):
        e, b, c = (ops.convert_to_tensor(v, "float32") for v in (e, b, c))
        total = total + vceb(e, b, c, r)
    return total


def residual_term(log_e, log_b, rho):
    """`exp(-rho) * ReX`: the part of VCEB a `BackwardEncoder` fed with labels adds.

    The classifier's `-log c(y|z)` comes from the compiled cross-entropy of a separate head.

    Examples:

        >>> float(residual_term(1.0, 0.0, rho=0.0))
        1.0
    """
    return ceb_weight(rho) * information.residual_information(log_e, log_b)


def consistent_classifier_term(log_e, class_log_b, rho):
    """The label-free part of VCEB with the consistent classifier, scaled by `1/(1 + exp(-rho))`.

    With `c(y|z) = softmax_y log b(z|y)` (uniform prior), `log b(z|y) = log c(y|z) +
    logsumexp_k log b(z|k)`, so VCEB (eq. 15) is
    `exp(-rho) (log e - logsumexp_k log b(z|k)) - (1 + exp(-rho)) log c(y|z)`. Divided by
    `1 + exp(-rho)` (same minimizer) it is this term plus the ordinary cross-entropy of the
    consistent classifier, which the model's compiled loss supplies:
    `sigmoid(-rho) * (log e(z|x) - logsumexp_k log b(z|k))`. It is bounded below by `-log C`
    times the weight, so it cannot run away.

    Args:
        log_e: `log e(z|x)`, `[B]`.
        class_log_b: `log b(z|k)` for every class, `[B, C]`.
        rho: Scalar or `[B]`.

    Examples:

        >>> round(float(consistent_classifier_term(0.0, ops.zeros((1, 2)), rho=0.0)[0]), 4)
        -0.3466
    """
    weight = ops.sigmoid(-ops.convert_to_tensor(rho, dtype="float32"))
    return weight * (ops.convert_to_tensor(log_e) - ops.logsumexp(class_log_b, axis=-1))


def rate_term(log_e, log_m, rho):
    """`R / (exp(rho) + 1)`: the part of VIB a VIB `StochasticEncoder` adds.

    Examples:

        >>> float(rate_term(2.0, 0.0, rho=0.0))
        1.0
    """
    return vib_weight(rho) * information.rate(log_e, log_m)


def catgen_term(log_e, pairwise_log_b, rho):
    """One direction of CatGen CEB (eq. 26): `exp(-rho) (log e(z_i|x_i) - log b(z_i|y_i)) - log c`.

    `c(y_i|z_i) = softmax_j log b(z_i|y_j)` over the K examples of the batch (InfoNCE); the
    other direction of bidirectional CEB is the same function with the roles of the two
    encoders swapped.

    Args:
        log_e: `log e(z_i|x_i)`, `[N]`.
        pairwise_log_b: `[N, K]`, entry `[i, j] = log b(z_i|y_j)`, `K >= N`: the rows are the
            first `N` examples of the batch (all of it, or one replica's share of it).
        rho: Scalar or `[N]`.

    Returns:
        Per-example values `[N]`.

    Examples:

        >>> round(float(ops.mean(catgen_term(ops.zeros(3), ops.eye(3) * 50.0, rho=0.0))), 4)
        -50.0
    """
    pairwise_log_b = ops.convert_to_tensor(pairwise_log_b)
    log_b = ops.diagonal(pairwise_log_b)
    return residual_term(log_e, log_b, rho) - catgen.catgen_log_likelihood(pairwise_log_b)


def batch_share(values):
    """`values / B`: per-example terms `[B]` whose sum is their batch mean.

    The layers add their terms this way: Keras sums what `add_loss` receives, so the loss is
    the batch mean as before, and a model that knows the sample weights
    (`keras_ceb.models.Sequential`, `keras_ceb.models.Model`) can weight every example's
    share like the compiled loss.

    Examples:

        >>> [float(v) for v in batch_share(ops.convert_to_tensor([1.0, 3.0]))]
        [0.5, 1.5]
    """
    values = ops.convert_to_tensor(values)
    return values / ops.cast(ops.shape(values)[0], values.dtype)


def gradient_only(loss):
    """`loss - stop_gradient(loss)`: contributes `loss`'s gradient and zero to the loss value.

    How the marginal m(z) trains beside CEB without changing the reported objective.

    Examples:

        >>> float(gradient_only(ops.convert_to_tensor(3.0)))
        0.0
    """
    return loss - ops.stop_gradient(loss)
