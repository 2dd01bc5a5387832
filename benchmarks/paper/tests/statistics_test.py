"""Intervals: Student's t against scipy, the t-interval, the bootstraps."""

import math

import numpy as np
import pytest
import scipy.stats

from benchmarks.paper import statistics


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 29, 200])
@pytest.mark.parametrize("q", [0.6, 0.95, 0.975, 0.995])
def test_student_t_quantile_matches_scipy(df, q):
    assert statistics.student_t_quantile(q, df) == pytest.approx(
        scipy.stats.t.ppf(q, df), rel=1e-9, abs=1e-9
    )
    assert statistics.student_t_quantile(1 - q, df) == pytest.approx(
        scipy.stats.t.ppf(1 - q, df), rel=1e-9, abs=1e-9
    )


def test_t_interval_matches_scipy():
    values = [0.91, 0.93, 0.925, 0.9]
    estimate = statistics.t_interval(values, confidence=0.95)
    lower, upper = scipy.stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=scipy.stats.sem(values)
    )
    assert (estimate.lower, estimate.upper) == pytest.approx((lower, upper))
    assert estimate.method == "t" and estimate.n == 4


def test_t_interval_is_cut_to_the_bounds():
    values = [0.01, 0.30]  # Two seeds of a rate: the t-interval reaches far below 0.
    free = statistics.t_interval(values)
    cut = statistics.t_interval(values, bounds=(0.0, 1.0))
    assert free.lower < 0 and cut.lower == 0.0 and cut.upper == min(free.upper, 1.0)
    assert cut.value == free.value
    near_one = statistics.t_interval([0.99, 0.999, 0.9], bounds=(0.0, 1.0))
    assert near_one.upper == 1.0


def test_t_interval_without_enough_seeds_has_no_interval():
    assert not statistics.t_interval([0.5]).has_interval
    assert math.isnan(statistics.t_interval([]).value)
    assert statistics.t_interval([0.5, math.nan, 0.7]).n == 2  # NaN is left out


def test_bootstrap_is_seeded_and_brackets_the_value():
    rng = np.random.default_rng(0)
    correct = rng.random(500) < 0.8
    a = statistics.bootstrap_interval(np.mean, [(correct,)], resamples=300, seed=1)
    b = statistics.bootstrap_interval(np.mean, [(correct,)], resamples=300, seed=1)
    assert a == b
    assert a.lower < a.value < a.upper and a.method == "bootstrap"
    # About the normal-approximation width of a proportion.
    half = 1.96 * math.sqrt(a.value * (1 - a.value) / 500)
    assert (a.upper - a.lower) / 2 == pytest.approx(half, rel=0.25)


def test_bootstrap_resamples_groups_independently_and_jointly():
    hit = np.array([True, False] * 50)
    counted = np.array([True] * 50 + [False] * 50)
    estimates = statistics.bootstrap_intervals(
        lambda h, c, other: [h[c].mean(), other.mean()],
        [(hit, counted), (np.ones(10),)],
        resamples=100,
    )
    assert estimates[0].value == 0.5 and estimates[1].value == 1.0
    assert estimates[1].lower == estimates[1].upper == 1.0
    with pytest.raises(ValueError, match="Received: groups="):
        statistics.bootstrap_interval(np.mean, [(np.ones(3), np.ones(4))])


def test_proportion_bootstrap_matches_the_bootstrap_of_the_mean():
    values = np.array([1] * 30 + [0] * 70, dtype=bool)
    by_counts = statistics.proportion_bootstrap_interval(30, 100, resamples=4000, seed=0)
    by_values = statistics.bootstrap_interval(np.mean, [(values,)], resamples=4000, seed=1)
    assert by_counts.value == by_values.value == 0.3
    assert by_counts.lower == pytest.approx(by_values.lower, abs=0.02)
    assert by_counts.upper == pytest.approx(by_values.upper, abs=0.02)


def test_estimate_round_trip_and_format():
    estimate = statistics.Estimate(0.5, 0.4, 0.6, "t", 3)
    assert statistics.Estimate.from_dict(estimate.to_dict()) == estimate
    assert statistics.Estimate.from_dict({"value": None}).format() == "n/a"
    assert estimate.format(percent=True, digits=1) == "50.0% [40.0, 60.0]"
