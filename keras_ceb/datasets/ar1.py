"""A stationary Gaussian AR(1) process: sequences whose predictive information is known exactly.

`x_t = a x_{t-1} + e_t` with `e_t ~ N(0, noise_std^2)` i.i.d. and `|a| < 1`, started from the
stationary law `x_0 ~ N(0, noise_std^2 / (1 - a^2))`. The process is Markov, so the past
`X_<t` tells about the future `X_>=t` only through `x_{t-1}`, and

    I(X_<t; X_>=t) = I(x_{t-1}; x_t) = -1/2 log(1 - a^2) nats,

whatever the lengths of the past and of the future (the predictive information of the
process; Bialek, Nemenman & Tishby 2001). It is the target of predictive CEB (Fischer 2020,
appendix C.2): at the Minimum Necessary Information point, I(X_<t; Z_t) equals it.
"""

import math

import numpy as np


def _check_coefficient(coefficient):
    if (
        isinstance(coefficient, bool)
        or not isinstance(coefficient, (int, float))
        or not (abs(coefficient) < 1.0)
    ):
        raise ValueError(
            "`coefficient` must be a number in (-1, 1) (a stationary process). "
            f"Received: coefficient={coefficient!r}"
        )
    return float(coefficient)


def ar1_predictive_information(coefficient):
    """`I(past; future) = -1/2 log(1 - a^2)` nats for a stationary Gaussian AR(1) process.

    Examples:

        >>> round(ar1_predictive_information(0.9), 4)
        0.8304
    """
    return -0.5 * math.log1p(-(_check_coefficient(coefficient) ** 2))


def ar1_information_bottleneck(coefficient, rho):
    """The exact optimum of CEB at `rho` for predicting an AR(1) process: `{"i_xz", "i_yz"}`.

    With X the past and Y the future of a stationary Gaussian AR(1) process, CEB minimizes
    `I(X;Z|Y) - gamma I(Y;Z) = I(X;Z) - (1 + gamma) I(Y;Z)`, `gamma = exp(rho)`. Everything the
    past tells about the future is in `x_{t-1}`, and for jointly Gaussian variables the optimal
    representation is a noisy copy of it (Chechik et al. 2005), `z = x_{t-1} + noise` whose
    squared correlation with `x_{t-1}` is `u`: `I(X;Z) = -1/2 log(1 - u)` and
    `I(Y;Z) = -1/2 log(1 - a^2 u)`. Minimizing over u gives

        u* = max(0, ((1 + gamma) a^2 - 1) / (gamma a^2)).

    As rho grows, `I(Y;Z)` rises to the predictive information `-1/2 log(1 - a^2)` while
    `I(X;Z)` grows without bound; the Minimum Necessary Information point, where both equal it,
    is out of reach of any noisy channel on a Gaussian process.

    Args:
        coefficient: `a`, in (-1, 1).
        rho: CEB's rho.

    Returns:
        `{"i_xz": I(X_<t; Z), "i_yz": I(X_>=t; Z)}` in nats at the optimum.

    Examples:

        >>> {k: round(v, 3) for k, v in ar1_information_bottleneck(0.9, rho=0.0).items()}
        {'i_xz': 0.725, 'i_yz': 0.484}
    """
    coefficient = _check_coefficient(coefficient)
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not math.isfinite(rho):
        raise ValueError(f"`rho` must be a finite number. Received: rho={rho!r}")
    gamma, a2 = math.exp(rho), coefficient**2
    u = 0.0 if a2 == 0.0 else max(0.0, ((1.0 + gamma) * a2 - 1.0) / (gamma * a2))
    return {"i_xz": -0.5 * math.log1p(-u), "i_yz": -0.5 * math.log1p(-a2 * u)}


def ar1_sequences(num_sequences, length, coefficient, noise_std=1.0, seed=None, standardize=True):
    """Samples independent stationary AR(1) sequences.

    Args:
        num_sequences: Number of sequences N.
        length: Steps per sequence T.
        coefficient: `a`, in (-1, 1).
        noise_std: Standard deviation of the innovations `e_t`.
        seed: Seed of `numpy.random.default_rng`.
        standardize: Divide by the stationary standard deviation
            `noise_std / sqrt(1 - a^2)`, so every `x_t` is N(0, 1) (information is unchanged).

    Returns:
        float32 array `[N, T]`.

    Examples:

        >>> x = ar1_sequences(20000, 6, 0.9, seed=0)
        >>> x.shape, round(float(x.std()), 1), round(float(np.corrcoef(x[:, 2], x[:, 3])[0, 1]), 2)
        ((20000, 6), 1.0, 0.9)
    """
    coefficient = _check_coefficient(coefficient)
    for name, value in (("num_sequences", num_sequences), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if not (isinstance(noise_std, (int, float)) and noise_std > 0):
        raise ValueError(f"`noise_std` must be positive. Received: noise_std={noise_std!r}")
    rng = np.random.default_rng(seed)
    stationary_std = noise_std / math.sqrt(1.0 - coefficient**2)
    x = np.empty((num_sequences, length))
    x[:, 0] = rng.normal(scale=stationary_std, size=num_sequences)
    noise = rng.normal(scale=noise_std, size=(num_sequences, length))
    for t in range(1, length):
        x[:, t] = coefficient * x[:, t - 1] + noise[:, t]
    if standardize:
        x = x / stationary_std
    return x.astype("float32")
