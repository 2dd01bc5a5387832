"""The paper's claims about Fashion-MNIST (Fischer 2020, section 3.1), each with a verdict.

The paper's numbers (Table 1, the log 10 point of section 3.1.1) are entered from its text
with their table or section (`PAPER_VALUES`); where the paper gives only a figure or a
sentence, the claim's `paper_text` says so and describes what it shows.

Each claim has a `rule`, written next to it in the report, and a `check` that applies the rule
to the measured results and returns one of the `VERDICTS`. Every rule can fail ("not
reproduced"), and a claim whose models or measurements are not in the run is "not measured".
Intervals are the report's (t over seeds, or a bootstrap over examples with one seed); where a
number has no interval the rule uses its value.
"""

import dataclasses
import math

from benchmarks.paper import results as results_lib
from benchmarks.paper.statistics import Estimate

REPRODUCED = "reproduced"
PARTLY = "partly reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_MEASURED = "not measured"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_MEASURED)

LOG_10 = math.log(10.0)


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper and how it is checked.

    Attributes:
        id: Short identifier.
        section: Where in the paper (e.g. `"3.1.1, Figure 4"`).
        statement: The claim, in words.
        source: Where the claim as written here comes from (the paper via DESIGN.md or issue 9).
        paper_value: The paper's number, or `None` (a slot to be filled in).
        paper_text: How the paper's result is shown in the report.
        rule: The verdict rule, in words.
        check: `check(results) -> (verdict, ours)`, `ours` a short text of our numbers.
    """

    id: str
    section: str
    statement: str
    source: str
    paper_value: float
    paper_text: str
    rule: str
    check: object

    def evaluate(self, results):
        """The claim's row of the report: the claim, the paper's value, ours and the verdict."""
        verdict, ours = self.check(results)
        if verdict not in VERDICTS:
            raise ValueError(f"A check returned an unknown verdict. Received: verdict={verdict!r}")
        return {
            "id": self.id,
            "section": self.section,
            "statement": self.statement,
            "source": self.source,
            "paper_value": self.paper_value,
            "paper_text": self.paper_text,
            "rule": self.rule,
            "ours": ours,
            "verdict": verdict,
        }


def _bounds(estimate):
    """`(lower, upper)` of an estimate, its value twice when it has no interval."""
    if estimate.has_interval:
        return estimate.lower, estimate.upper
    return estimate.value, estimate.value


def _ceb_models(results):
    return sorted(
        (m for m in results.get("models", {}).values() if m["objective"] == "ceb"),
        key=lambda m: m["rho"],
    )


def _name(objective, rho):
    return f"{objective}_rho{rho:g}"


# Rule: I(X;Z) at rho = 0.
I_XZ_TOLERANCE = 0.10  # relative to log 10
I_XZ_PARTLY_TOLERANCE = 0.25


def check_i_xz_at_mni(results):
    est = results_lib.estimate(results, "ceb_rho0", "i_xz_max_train_at_rho")
    if est is None:
        return NOT_MEASURED, "no CEB0 model with an I(X;Z) bound"
    lower, upper = _bounds(est)
    gap = 0.0 if lower <= LOG_10 <= upper else min(abs(lower - LOG_10), abs(upper - LOG_10))
    ours = f"{est.format()} nats"
    if gap <= I_XZ_TOLERANCE * LOG_10:
        return REPRODUCED, ours
    if gap <= I_XZ_PARTLY_TOLERANCE * LOG_10:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


def check_i_xz_grows_with_rho(results):
    points = [
        (m["rho"], results_lib.estimate(results, _name("ceb", m["rho"]), "i_xz_max_train_at_rho"))
        for m in _ceb_models(results)
    ]
    points = [(rho, est) for rho, est in points if est is not None]
    if len(points) < 3:
        return NOT_MEASURED, "fewer than 3 CEB models"
    pairs = [(a, b) for i, a in enumerate(points) for b in points[i + 1 :]]
    increasing = sum(b[1].value > a[1].value for a, b in pairs) / len(pairs)
    ours = "max I(X;Z): " + ", ".join(f"CEB{rho:g} {est.value:.2f}" for rho, est in points)
    ours += f"; {increasing:.0%} of pairs increase with rho"
    if increasing >= 0.8:
        return REPRODUCED, ours
    if increasing > 0.5:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


def check_accuracy(results):
    ceb = results_lib.estimate(results, "ceb_rho0", "accuracy")
    determ = results_lib.estimate(results, "determ", "accuracy")
    if ceb is None or determ is None:
        return NOT_MEASURED, "needs CEB0 and Determ"
    ours = (
        f"CEB0 {ceb.format(percent=True, digits=2)}, "
        f"Determ {determ.format(percent=True, digits=2)}"
    )
    if ceb.value >= determ.value - 0.005:
        return REPRODUCED, ours
    if _bounds(ceb)[1] >= _bounds(determ)[0]:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


ROBUSTNESS_MIN_DETERM_SUCCESS = 0.05


def check_targeted_robustness(results):
    models = results.get("models", {})
    if "ceb_rho0" not in models or "determ" not in models:
        return NOT_MEASURED, "needs CEB0 and Determ"
    keys = [k for k in models["determ"]["metrics"] if k.startswith("targeted_")]
    points, wins, far = [], 0, 0
    for key in keys:
        ceb = results_lib.estimate(results, "ceb_rho0", key)
        determ = results_lib.estimate(results, "determ", key)
        if ceb is None or determ is None or determ.value < ROBUSTNESS_MIN_DETERM_SUCCESS:
            continue
        points.append(key)
        below = _bounds(ceb)[1] < _bounds(determ)[0]
        wins += below
        far += below and ceb.value <= 0.5 * determ.value
    if not points:
        return NOT_MEASURED, (
            f"Determ's success is below {ROBUSTNESS_MIN_DETERM_SUCCESS:.0%} at every radius"
        )
    ours = (
        f"CEB0 significantly below Determ at {wins} of {len(points)} radii, at most half of "
        f"Determ's success at {far}"
    )
    if far == len(points):
        return REPRODUCED, ours
    if wins > 0:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


FPR_NEAR_ZERO = 0.05


def check_fpr_near_zero(results):
    est = {
        s: results_lib.estimate(
            results, "ceb_rho0", results_lib.ood_key(s, "rate", "fpr_at_95_tpr")
        )
        for s in results_lib.OOD_SETS
    }
    est = {s: e for s, e in est.items() if e is not None}
    if not est:
        return NOT_MEASURED, "no rate of CEB0 on any OoD set"
    near = [s for s, e in est.items() if _bounds(e)[1] <= FPR_NEAR_ZERO]
    ours = ", ".join(
        f"{results_lib.OOD_SET_LABELS[s]} {e.format(percent=True, digits=1)}"
        for s, e in est.items()
    )
    if len(near) == len(est) and len(est) == len(results_lib.OOD_SETS):
        return REPRODUCED, ours
    if near:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


def check_rate_beats_entropy(results):
    pairs = {}
    for s in results_lib.OOD_SETS:
        rate = results_lib.estimate(results, "ceb_rho0", results_lib.ood_key(s, "rate", "auroc"))
        entropy = results_lib.estimate(
            results, "determ", results_lib.ood_key(s, "entropy", "auroc")
        )
        if rate is not None and entropy is not None:
            pairs[s] = (rate, entropy)
    if not pairs:
        return NOT_MEASURED, "needs CEB0's R and Determ's H on an OoD set"
    better = [s for s, (r, h) in pairs.items() if _bounds(r)[0] > _bounds(h)[1]]
    worse = [s for s, (r, h) in pairs.items() if _bounds(r)[1] < _bounds(h)[0]]
    ours = "; ".join(
        f"{results_lib.OOD_SET_LABELS[s]} {r.value:.3f} vs {h.value:.3f}"
        for s, (r, h) in pairs.items()
    )
    if len(better) == len(pairs):
        return REPRODUCED, ours
    if better and not worse:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


def check_calibration(results):
    models = results.get("models", {})
    if "ceb_rho0" not in models or "determ" not in models:
        return NOT_MEASURED, "needs CEB0 and Determ"
    keys = sorted(
        (k for k in models["ceb_rho0"]["metrics"] if k.startswith("ece_epoch")),
        key=lambda k: int(k[len("ece_epoch") :]),
    )
    if not keys:
        return NOT_MEASURED, "no calibration snapshot"
    last = keys[-1]
    ceb = results_lib.estimate(results, "ceb_rho0", last)
    determ = results_lib.estimate(results, "determ", last)
    if ceb is None or determ is None:
        return NOT_MEASURED, "no final ECE"
    ours = (
        f"final ECE: CEB0 {ceb.format(percent=True, digits=2)}, "
        f"Determ {determ.format(percent=True, digits=2)}"
    )
    if _bounds(ceb)[1] < _bounds(determ)[0]:
        return REPRODUCED, ours
    if ceb.value < determ.value:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


MEMORIZES = 0.5  # training accuracy on random labels that counts as memorizing
NEAR_CHANCE = 0.05  # above chance


def _final(results, name):
    entry = results.get("memorization", {}).get(name)
    if entry is None:
        return None, None
    return Estimate.from_dict(entry["final"]), entry["chance_level"]


def check_determ_memorizes(results):
    final, chance = _final(results, "determ")
    if final is None:
        return NOT_MEASURED, "no Determ memorization run"
    ours = (
        f"Determ's final training accuracy on random labels {final.format(percent=True, digits=1)}"
    )
    lower = _bounds(final)[0]
    if lower >= MEMORIZES:
        return REPRODUCED, ours
    if lower > chance + NEAR_CHANCE:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


def check_ceb_does_not_memorize(results):
    finals = {
        name: _final(results, name)
        for name, entry in results.get("memorization", {}).items()
        if entry["objective"] == "ceb" and entry["rho"] < 6
    }
    if not finals:
        return NOT_MEASURED, "no CEB memorization run at rho < 6"
    near = [
        name
        for name, (final, chance) in finals.items()
        if _bounds(final)[1] <= chance + NEAR_CHANCE
    ]
    labels = {name: results["memorization"][name]["label"] for name in finals}
    ours = ", ".join(
        f"{labels[name]} {final.format(percent=True, digits=1)}"
        for name, (final, _) in finals.items()
    )
    if len(near) == len(finals):
        return REPRODUCED, ours
    if near:
        return PARTLY, ours
    return NOT_REPRODUCED, ours


FASHION_MNIST_CLAIMS = (
    Claim(
        "i_xz_mni",
        "3.1, Figure 4",
        "CEB at rho = 0 converges to the Minimum Necessary Information point: the maximum over "
        "training of the I(X;Z) lower bound is log 10 = 2.30 nats",
        "DESIGN.md section 1 and issue 9 (the paper's Figure 4)",
        LOG_10,
        "log 10 = 2.30 nats",
        f"On CEB0's max I(X;Z) over the epochs at rho = 0 (training bound): reproduced if its "
        f"interval (or value) is within {I_XZ_TOLERANCE:.0%} of log 10 "
        f"(+-{I_XZ_TOLERANCE * LOG_10:.2f} nats), partly within {I_XZ_PARTLY_TOLERANCE:.0%}, "
        "else not reproduced",
        check_i_xz_at_mni,
    ),
    Claim(
        "i_xz_rho",
        "3.1, Figure 4",
        "Larger rho keeps more information: CEB's max I(X;Z) grows with rho",
        "DESIGN.md section 2 (rho > 0 keeps more information)",
        None,
        "figure only (Figure 4, second panel): the maximum rate lower bound rises with rho for "
        "CEB and VIB alike, from below log 10 at rho = -1 to several nats at rho = 5",
        "Over all pairs of CEB models (needs 3 or more): reproduced if >= 80% of pairs have the "
        "larger max I(X;Z) at the larger rho, partly if > 50%, else not reproduced",
        check_i_xz_grows_with_rho,
    ),
    Claim(
        "accuracy",
        "3.1, Figure 4",
        "CEB at rho = 0 is accurate: at least as accurate as Determ",
        "issue 9 (what the paper promises: a model that is accurate)",
        None,
        "figure only (Figure 4, first panel; section 3.1.1): VIB and CEB are more accurate "
        "than Determ, CEB more than VIB at every rho; rho = -1 costs much accuracy",
        "Reproduced if CEB0's mean test accuracy is at least Determ's minus 0.5 points; partly "
        "if not, but the intervals overlap; not reproduced if CEB0's interval lies below "
        "Determ's",
        check_accuracy,
    ),
    Claim(
        "targeted_robustness",
        "3.1.2, Figure 4",
        "CEB0 is far more robust than Determ to targeted PGD towards 'Trouser' (L2 and L-inf, "
        "7 steps)",
        "issue 9, section 2b",
        None,
        "figure only (Figure 4, bottom panels; section 3.1.2): CEB is more robust than Determ "
        "at every rho but 5, robustness grows as rho falls, CEB0 'strong robustness to both "
        "attacks'",
        f"At every radius (both norms) where Determ's success is >= "
        f"{ROBUSTNESS_MIN_DETERM_SUCCESS:.0%}: reproduced if at all of them CEB0's interval lies "
        "below Determ's and its success is at most half of Determ's; partly if CEB0's interval "
        "lies below Determ's at one or more; else not reproduced",
        check_targeted_robustness,
    ),
    Claim(
        "fpr_near_zero",
        "3.1.3, Table 1",
        "The rate R of CEB0 detects OoD inputs: FPR at 95% TPR near 0 on U(0,1), MNIST, "
        "Vertical Flip and CW-L2",
        "issue 9, section 1 ('the paper's is near 0')",
        None,
        "Table 1, CEB0 by R: 0.0 (U(0,1)), 0.1 (MNIST), 0.0 (Vertical Flip), 0.0 (CW) %",
        f"Reproduced if the upper end of CEB0's R FPR@95%TPR interval is <= "
        f"{FPR_NEAR_ZERO:.0%} on all four sets; partly on one to three (or all measured, when a "
        "set is missing); else not reproduced",
        check_fpr_near_zero,
    ),
    Claim(
        "rate_vs_entropy",
        "3.1.3, Table 1",
        "CEB0's rate R separates OoD inputs better than Determ's entropy H (AUROC)",
        "issue 9 (a model that detects OoD inputs by its rate; Table 1 scores Determ by H and "
        "CEB by R)",
        None,
        "Table 1, AUROC: CEB0 R 100.0 / 94.4 / 90.7 / 99.7 vs Determ H 93.5 / 88.4 / 88.6 / "
        "90.7 (U(0,1) / MNIST / Vertical Flip / CW)",
        "Per OoD set, R of CEB0 is better when its AUROC interval lies above H of Determ's: "
        "reproduced if better on every measured set; partly if better on some and worse on "
        "none; else not reproduced",
        check_rate_beats_entropy,
    ),
    Claim(
        "calibration",
        "3.1.4",
        "CEB0 is better calibrated than Determ (lower ECE at the end of training)",
        "issue 9 (a model that is calibrated)",
        None,
        "figure only (Figure 5; section 3.1.4): CEB0 and VIB0 end 'only slightly "
        "overconfident', Determ (and rho = 2) clearly overconfident",
        "On the ECE after the last epoch: reproduced if CEB0's interval lies below Determ's; "
        "partly if only CEB0's value is lower; else not reproduced",
        check_calibration,
    ),
    Claim(
        "determ_memorizes",
        "3.1.5",
        "Determ memorizes random labels",
        "DESIGN.md section 4 and issue 9",
        None,
        "text only (section 3.1.5): deterministic models always learn, memorizing after about "
        "40 epochs",
        f"On the final training accuracy on random labels: reproduced if the lower end of "
        f"Determ's interval is >= {MEMORIZES:.0%}; partly if it is above chance + "
        f"{NEAR_CHANCE:.0%}; else not reproduced",
        check_determ_memorizes,
    ),
    Claim(
        "ceb_no_memorization",
        "3.1.5",
        "CEB at rho < 6 does not memorize: its training accuracy on random labels stays near "
        "chance",
        "DESIGN.md section 4 ('CEB at rho < 6 should not')",
        None,
        "text only (section 3.1.5): CEB and VIB at rho < 6 'never learn, even after 100 "
        "epochs' (whole training set)",
        f"Reproduced if the upper end of every CEB (rho < 6) model's final training-accuracy "
        f"interval is <= chance + {NEAR_CHANCE:.0%}; partly if some are; else not reproduced",
        check_ceb_does_not_memorize,
    ),
)


def evaluate_claims(results, claims=FASHION_MNIST_CLAIMS):
    """The rows of the claims table: each claim with its verdict on `results`."""
    return [claim.evaluate(results) for claim in claims]


# The paper's numbers shown beside ours in the tables:
# (model, metric key) -> (value, what it is, source).
# Table 1 as printed (Fischer 2020, section 3.1.3): per set, FPR@95%TPR, AUROC and AUPR-In in %,
# Determ scored by H, VIB and CEB by R; and the CW attack's success. Its FPR figures are not
# always consistent with its AUROCs (FPR 0.0 beside AUROC 90.7 for CEB0 on Vertical Flip): the
# report judges by AUROC and shows FPR as measured.
_TABLE1 = {  # set: {model: (FPR@95%TPR, AUROC, AUPR-In)}
    "uniform_noise": {
        "determ": (35.8, 93.5, 97.1),
        "vib_rho4": (0.0, 100.0, 100.0),
        "vib_rho0": (80.6, 57.1, 51.4),
        "ceb_rho0": (0.0, 100.0, 100.0),
    },
    "mnist": {
        "determ": (59.0, 88.4, 90.0),
        "vib_rho4": (0.0, 100.0, 100.0),
        "vib_rho0": (12.3, 66.7, 91.1),
        "ceb_rho0": (0.1, 94.4, 99.9),
    },
    "vertical_flip": {
        "determ": (66.8, 88.6, 90.2),
        "vib_rho4": (0.0, 100.0, 100.0),
        "vib_rho0": (17.3, 52.7, 91.3),
        "ceb_rho0": (0.0, 90.7, 100.0),
    },
    "cw_l2": {
        "determ": (15.4, 90.7, 86.0),
        "vib_rho4": (0.0, 100.0, 100.0),
        "vib_rho0": (0.0, 98.7, 100.0),
        "ceb_rho0": (0.0, 99.7, 100.0),
    },
}
_CW_SUCCESS = {"determ": 100.0, "vib_rho4": 55.2, "vib_rho0": 35.8, "ceb_rho0": 35.8}
_METRIC_LABELS = {"fpr_at_95_tpr": "FPR", "auroc": "AUROC", "aupr_in": "AUPR-In"}
PAPER_VALUES = {
    ("ceb_rho0", "i_xz_max_train_at_rho"): (
        LOG_10,
        "max I(X;Z) = log 10",
        "section 3.1.1 ('converge to exactly log 10 = 2.3 nats')",
    ),
}
for _set, _rows in _TABLE1.items():
    for _model, _values in _rows.items():
        _score = "entropy" if _model == "determ" else "rate"
        for _metric, _value in zip(("fpr_at_95_tpr", "auroc", "aupr_in"), _values):
            PAPER_VALUES[(_model, results_lib.ood_key(_set, _score, _metric))] = (
                _value / 100.0,
                _METRIC_LABELS[_metric],
                "Table 1",
            )
for _model, _value in _CW_SUCCESS.items():
    PAPER_VALUES[(_model, "cw_success")] = (_value / 100.0, "CW success", "Table 1")

# What the paper shows where it prints no number, per table of the report.
PAPER_FIGURE_ONLY = {
    "figure4": "figure only (Figure 4: accuracy, max rate and targeted PGD success over rho)",
    "table1": "not in Table 1",
    "calibration": "figure only (Figure 5, after 2,000, 20,000 and 40,000 steps)",
    "memorization": "text only (section 3.1.5)",
}
