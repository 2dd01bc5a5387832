"""Intervals of the reproduction: Student's t over seeds, a percentile bootstrap over examples.

- With two or more seeds, every number is the mean over seeds with a two-sided t-interval,
  `mean +- t_{(1 + confidence) / 2, n - 1} * s / sqrt(n)` (`t_interval`).
- With one seed, a number that is a function of per-example values (accuracy, AUROC, FPR,
  targeted success, ECE) gets a percentile bootstrap over the test examples
  (`bootstrap_interval`, fixed seed); a number that is not (the maximum of the I(X;Z) bound over
  training) gets no interval.

Pure NumPy and `math`: the t quantile is found by bisection on the t distribution function,
written with the regularized incomplete beta function (no scipy needed at run time).
"""

import dataclasses
import math

import numpy as np

from keras_ceb import validation

T_OVER_SEEDS = "t"
BOOTSTRAP = "bootstrap"
NO_INTERVAL = "none"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A number with its interval and how the interval was made.

    Attributes:
        value: The estimate (the mean over seeds, or the one seed's value).
        lower: Lower end of the interval, or NaN when there is none.
        upper: Upper end, or NaN.
        method: `"t"` (over seeds), `"bootstrap"` (over examples, one seed) or `"none"`.
        n: Number of seeds (t) or of resamples (bootstrap).
        confidence: Coverage of the interval.
    """

    value: float
    lower: float = math.nan
    upper: float = math.nan
    method: str = NO_INTERVAL
    n: int = 1
    confidence: float = 0.95

    @property
    def has_interval(self):
        return math.isfinite(self.lower) and math.isfinite(self.upper)

    def to_dict(self):
        return {
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "method": self.method,
            "n": self.n,
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, data):
        def number(key):
            value = data.get(key)
            return math.nan if value is None else float(value)

        return cls(
            number("value"),
            number("lower"),
            number("upper"),
            data.get("method", NO_INTERVAL),
            int(data.get("n", 1)),
            float(data.get("confidence", 0.95)),
        )

    def format(self, digits=3, percent=False):
        """`0.912 [0.905, 0.919]`, or the value alone without an interval.

        Examples:

            >>> Estimate(0.9123, 0.905, 0.919, "t", 3).format()
            '0.912 [0.905, 0.919]'
            >>> Estimate(0.25).format(percent=True, digits=1)
            '25.0%'
        """
        if not math.isfinite(self.value):
            return "n/a"
        scale, unit = (100.0, "%") if percent else (1.0, "")
        text = f"{self.value * scale:.{digits}f}{unit}"
        if self.has_interval:
            text += f" [{self.lower * scale:.{digits}f}, {self.upper * scale:.{digits}f}]"
        return text


def _betacf(a, b, x, iterations=300, eps=1e-15):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, iterations + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _regularized_beta(a, b, x):
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t, df):
    """Distribution function of Student's t with `df` degrees of freedom.

    Examples:

        >>> round(student_t_cdf(2.0, 4), 6)   # scipy.stats.t.cdf(2, 4) = 0.9419417...
        0.941942
    """
    df = validation.positive_float(df, "df")
    tail = 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_quantile(q, df):
    """Quantile of Student's t: the `t` with `student_t_cdf(t, df) = q`, for `q` in (0, 1).

    Examples:

        >>> round(student_t_quantile(0.975, 2), 4)   # scipy.stats.t.ppf(0.975, 2)
        4.3027
    """
    if not (isinstance(q, (int, float)) and 0.0 < q < 1.0):
        raise ValueError(f"`q` must be in (0, 1). Received: q={q!r}")
    if q < 0.5:
        return -student_t_quantile(1.0 - q, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < q:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if student_t_cdf(middle, df) < q:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def t_interval(values, confidence=0.95, bounds=None):
    """Mean of per-seed values and its two-sided t-interval; NaN values are left out.

    With fewer than two finite values there is no interval (`method="none"`). With `bounds`,
    the interval is cut to the range the quantity can take (a t-interval over 2 or 3 seeds of
    a rate near 0 would otherwise reach below 0).

    Args:
        values: One number per seed.
        confidence: Coverage, e.g. 0.95.
        bounds: `(low, high)` of the quantity (e.g. `(0, 1)` for a proportion), or `None`.

    Returns:
        An `Estimate` with `method="t"` and `n` the number of finite values.

    Examples:

        >>> t_interval([0.90, 0.92, 0.91]).format()
        '0.910 [0.885, 0.935]'
        >>> t_interval([0.02, 0.30], bounds=(0.0, 1.0)).format()
        '0.160 [0.000, 1.000]'
    """
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], "float64")
    if values.size == 0:
        return Estimate(math.nan, confidence=confidence)
    mean = float(values.mean())
    if values.size < 2:
        return Estimate(mean, n=int(values.size), confidence=confidence)
    half = (
        student_t_quantile(0.5 + confidence / 2.0, values.size - 1)
        * float(values.std(ddof=1))
        / math.sqrt(values.size)
    )
    lower, upper = mean - half, mean + half
    if bounds is not None:
        lower, upper = max(lower, bounds[0]), min(upper, bounds[1])
    return Estimate(mean, lower, upper, T_OVER_SEEDS, int(values.size), confidence)


def bootstrap_interval(statistic, groups, resamples=1000, seed=0, confidence=0.95):
    """Percentile bootstrap interval of `statistic` over examples.

    Each group is a tuple of arrays with the same first dimension, resampled together (the same
    indices for every array of the group); different groups are resampled independently (for
    example the in-distribution and the OoD scores of an AUROC).

    Args:
        statistic: A function of the groups' arrays, in order, flattened
            (`statistic(*group_0, *group_1, ...)`), returning a float (NaN allowed).
        groups: A list of tuples of arrays.
        resamples: Number of bootstrap resamples.
        seed: Seed of the resampling (the same seed gives the same interval).
        confidence: Coverage.

    Returns:
        An `Estimate` with the statistic on the data itself as `value`, `method="bootstrap"`
        and `n = resamples`; resamples whose statistic is NaN are left out.

    Examples:

        >>> correct = np.array([1, 1, 1, 0] * 25, dtype=bool)
        >>> estimate = bootstrap_interval(np.mean, [(correct,)], resamples=200, seed=0)
        >>> estimate.value, estimate.lower < 0.75 < estimate.upper
        (0.75, True)
    """
    return bootstrap_intervals(
        lambda *arrays: [statistic(*arrays)], groups, resamples, seed, confidence
    )[0]


def bootstrap_intervals(statistic, groups, resamples=1000, seed=0, confidence=0.95):
    """`bootstrap_interval` of a statistic that returns several numbers, from the same resamples.

    Returns:
        A list of `Estimate`s, one per number `statistic` returns.

    Examples:

        >>> x = np.arange(100.0)
        >>> low, high = bootstrap_intervals(lambda a: [a.min(), a.max()], [(x,)], resamples=100)
        >>> low.value, high.value
        (0.0, 99.0)
    """
    resamples = validation.positive_int(resamples, "resamples")
    groups = [tuple(np.asarray(a) for a in group) for group in groups]
    for group in groups:
        if not group or any(len(a) != len(group[0]) for a in group):
            raise ValueError(
                "Every group must hold arrays with the same first dimension. "
                f"Received: groups={[tuple(len(a) for a in g) for g in groups]}"
            )
    points = np.asarray(statistic(*[a for group in groups for a in group]), "float64")
    if any(len(group[0]) == 0 for group in groups):
        return [Estimate(float(p), method=BOOTSTRAP, n=0, confidence=confidence) for p in points]
    rng = np.random.default_rng(seed)
    values = np.empty((resamples, points.size))
    for i in range(resamples):
        arrays = []
        for group in groups:
            index = rng.integers(0, len(group[0]), len(group[0]))
            arrays += [a[index] for a in group]
        values[i] = statistic(*arrays)
    alpha = (1.0 - confidence) / 2.0
    estimates = []
    for j, point in enumerate(points):
        column = values[:, j][np.isfinite(values[:, j])]
        if column.size == 0:
            estimates.append(Estimate(float(point), method=BOOTSTRAP, n=0, confidence=confidence))
            continue
        lower, upper = np.quantile(column, [alpha, 1.0 - alpha])
        estimates.append(
            Estimate(float(point), float(lower), float(upper), BOOTSTRAP, resamples, confidence)
        )
    return estimates


def proportion_bootstrap_interval(successes, trials, resamples=1000, seed=0, confidence=0.95):
    """The percentile bootstrap of a proportion from its counts alone.

    Resampling `trials` 0/1 values with replacement draws the number of successes from
    `Binomial(trials, successes / trials)`; this samples that directly, so it is the same
    bootstrap as `bootstrap_interval(np.mean, ...)` on the 0/1 values, without them.

    Examples:

        >>> estimate = proportion_bootstrap_interval(50, 100, resamples=500)
        >>> estimate.value, estimate.lower < 0.5 < estimate.upper
        (0.5, True)
    """
    resamples = validation.positive_int(resamples, "resamples")
    trials = validation.positive_int(trials, "trials")
    p = successes / trials
    draws = np.random.default_rng(seed).binomial(trials, p, size=resamples) / trials
    alpha = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(draws, [alpha, 1.0 - alpha])
    return Estimate(float(p), float(lower), float(upper), BOOTSTRAP, resamples, confidence)
