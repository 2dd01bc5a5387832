"""Every claim's verdict can be each of reproduced, partly, not reproduced and not measured."""

import math

import pytest

from benchmarks.paper import claims
from benchmarks.paper import results as results_lib
from benchmarks.paper.statistics import Estimate


def est(value, half=None):
    if half is None:
        return Estimate(value).to_dict()
    return Estimate(value, value - half, value + half, "bootstrap", 100).to_dict()


def model(objective, rho, **metrics):
    label = "Determ" if rho is None else f"{objective.upper()}{rho:g}"
    return {"objective": objective, "rho": rho, "label": label, "metrics": metrics}


def results(**models):
    return {"models": models, "memorization": {}}


def by_id(claim_id):
    return next(c for c in claims.FASHION_MNIST_CLAIMS if c.id == claim_id)


def verdict(claim_id, data):
    return by_id(claim_id).evaluate(data)["verdict"]


def test_every_claim_is_not_measured_on_empty_results():
    for claim in claims.FASHION_MNIST_CLAIMS:
        row = claim.evaluate({"models": {}, "memorization": {}})
        assert row["verdict"] == claims.NOT_MEASURED, claim.id
        assert row["rule"] and row["statement"] and row["source"]


@pytest.mark.parametrize(
    "value, expected",
    [
        (2.25, claims.REPRODUCED),
        (1.85, claims.PARTLY),
        (1.2, claims.NOT_REPRODUCED),
        (4.0, claims.NOT_REPRODUCED),
    ],
)
def test_i_xz_at_the_mni_point(value, expected):
    data = results(ceb_rho0=model("ceb", 0.0, i_xz_max_train_at_rho=est(value)))
    assert verdict("i_xz_mni", data) == expected
    assert claims.PAPER_VALUES[("ceb_rho0", "i_xz_max_train_at_rho")][0] == pytest.approx(
        math.log(10)
    )


@pytest.mark.parametrize(
    "values, expected",
    [
        ((1.0, 2.0, 3.0, 4.0), claims.REPRODUCED),
        ((1.0, 2.0, 3.0, 1.5), claims.PARTLY),
        ((3.0, 2.0, 1.0, 0.5), claims.NOT_REPRODUCED),
    ],
)
def test_i_xz_grows_with_rho(values, expected):
    data = results(
        **{
            f"ceb_rho{r}": model("ceb", float(r), i_xz_max_train_at_rho=est(v))
            for r, v in zip(range(4), values)
        }
    )
    assert verdict("i_xz_rho", data) == expected


@pytest.mark.parametrize(
    "ceb, determ, expected",
    [
        (est(0.90, 0.01), est(0.902, 0.01), claims.REPRODUCED),
        (est(0.89, 0.01), est(0.90, 0.01), claims.PARTLY),
        (est(0.80, 0.01), est(0.90, 0.01), claims.NOT_REPRODUCED),
    ],
)
def test_accuracy(ceb, determ, expected):
    data = results(
        ceb_rho0=model("ceb", 0.0, accuracy=ceb), determ=model("determ", None, accuracy=determ)
    )
    assert verdict("accuracy", data) == expected


@pytest.mark.parametrize(
    "ceb, expected",
    [
        ((0.1, 0.2), claims.REPRODUCED),
        ((0.1, 0.55), claims.PARTLY),
        ((0.5, 0.7), claims.NOT_REPRODUCED),
    ],
)
def test_targeted_robustness(ceb, expected):
    determ = (0.5, 0.7)
    keys = ("targeted_linf_eps0.1", "targeted_l2_eps1")
    data = results(
        ceb_rho0=model("ceb", 0.0, **{k: est(v, 0.03) for k, v in zip(keys, ceb)}),
        determ=model("determ", None, **{k: est(v, 0.03) for k, v in zip(keys, determ)}),
    )
    assert verdict("targeted_robustness", data) == expected
    # Where Determ itself is not attacked successfully, there is nothing to compare.
    data["models"]["determ"]["metrics"] = {k: est(0.01, 0.01) for k in keys}
    assert verdict("targeted_robustness", data) == claims.NOT_MEASURED


def _ood(score, metric, values):
    return {
        results_lib.ood_key(s, score, metric): est(v, 0.01)
        for s, v in zip(results_lib.OOD_SETS, values)
    }


@pytest.mark.parametrize(
    "values, expected",
    [
        ((0.0, 0.01, 0.02, 0.03), claims.REPRODUCED),
        ((0.0, 0.3, 0.3, 0.3), claims.PARTLY),
        ((0.2, 0.3, 0.3, 0.3), claims.NOT_REPRODUCED),
        ((0.0, 0.0, 0.0), claims.PARTLY),
    ],
)
def test_fpr_near_zero(values, expected):
    data = results(ceb_rho0=model("ceb", 0.0, **_ood("rate", "fpr_at_95_tpr", values)))
    assert verdict("fpr_near_zero", data) == expected


@pytest.mark.parametrize(
    "rate, expected",
    [
        ((0.99, 0.99, 0.99, 0.99), claims.REPRODUCED),
        ((0.99, 0.8, 0.8, 0.8), claims.PARTLY),
        ((0.99, 0.7, 0.8, 0.8), claims.NOT_REPRODUCED),
    ],
)
def test_rate_beats_entropy(rate, expected):
    data = results(
        ceb_rho0=model("ceb", 0.0, **_ood("rate", "auroc", rate)),
        determ=model("determ", None, **_ood("entropy", "auroc", (0.8,) * 4)),
    )
    assert verdict("rate_vs_entropy", data) == expected


@pytest.mark.parametrize(
    "ceb, expected",
    [
        (est(0.01, 0.005), claims.REPRODUCED),
        (est(0.025, 0.01), claims.PARTLY),
        (est(0.05, 0.01), claims.NOT_REPRODUCED),
    ],
)
def test_calibration(ceb, expected):
    data = results(
        ceb_rho0=model("ceb", 0.0, ece_epoch1=est(0.5), ece_epoch8=ceb),
        determ=model("determ", None, ece_epoch1=est(0.01), ece_epoch8=est(0.03, 0.01)),
    )
    assert verdict("calibration", data) == expected


def memorization(name, objective, rho, final):
    lower, upper = final
    estimate = Estimate((lower + upper) / 2, lower, upper, "bootstrap", 100).to_dict()
    return {
        name: {
            "objective": objective,
            "rho": rho,
            "label": name,
            "chance_level": 0.1,
            "final": estimate,
        }
    }


@pytest.mark.parametrize(
    "final, expected",
    [
        ((0.9, 1.0), claims.REPRODUCED),
        ((0.2, 0.3), claims.PARTLY),
        ((0.08, 0.16), claims.NOT_REPRODUCED),
    ],
)
def test_determ_memorizes(final, expected):
    data = {"models": {}, "memorization": memorization("determ", "determ", None, final)}
    assert verdict("determ_memorizes", data) == expected


@pytest.mark.parametrize(
    "finals, expected",
    [
        (((0.08, 0.12), (0.09, 0.14)), claims.REPRODUCED),
        (((0.08, 0.12), (0.5, 0.6)), claims.PARTLY),
        (((0.3, 0.4), (0.5, 0.6)), claims.NOT_REPRODUCED),
    ],
)
def test_ceb_does_not_memorize(finals, expected):
    entries = {
        **memorization("ceb_rho0", "ceb", 0.0, finals[0]),
        **memorization("ceb_rho5", "ceb", 5.0, finals[1]),
        **memorization("ceb_rho8", "ceb", 8.0, (0.9, 1.0)),
    }  # rho >= 6: not in the claim
    assert verdict("ceb_no_memorization", {"models": {}, "memorization": entries}) == expected


def test_every_claim_says_what_the_paper_shows():
    for claim in claims.FASHION_MNIST_CLAIMS:
        if claim.paper_value is None:  # a figure, a sentence or a table, named
            assert any(
                word in claim.paper_text for word in ("figure only", "text only", "Table 1")
            ), claim.id
    # Table 1 as printed: CEB0's R on Vertical Flip, VIB0's CW success.
    assert claims.PAPER_VALUES[("ceb_rho0", "ood_vertical_flip_rate_auroc")][0] == 0.907
    assert claims.PAPER_VALUES[("vib_rho0", "cw_success")][0] == 0.358
    assert claims.PAPER_VALUES[("determ", "ood_mnist_entropy_fpr_at_95_tpr")][0] == 0.59
