"""`python -m benchmarks.paper fashion-mnist --preset tiny` end to end, twice, and its errors."""

import contextlib
import dataclasses
import io
import json

import numpy as np
import pytest

from benchmarks.paper import ReproduceError
from benchmarks.paper import claims
from benchmarks.paper import command
from benchmarks.paper import fashion_mnist
from benchmarks.paper import results as results_lib
from benchmarks.paper import storage
from keras_ceb import datasets

FIGURES = (
    "figure4.png",
    "table1.png",
    "ece.png",
    "calibration_determ.png",
    "calibration_ceb_rho0.png",
    "memorization.png",
)


def _run(argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = command.main(argv)
        except SystemExit as e:
            code = e.code
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def tiny_run(fashion_mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "tiny"
    argv = [
        "fashion-mnist",
        "--preset",
        "tiny",
        "--data-dir",
        str(fashion_mnist_dir),
        "--no-download",
        "--out",
        str(out),
    ]
    code, stdout, stderr = _run(argv)
    assert code == 0, stderr
    return out, argv, stdout


@pytest.mark.long  # shares `tiny_run` (a 45 s reproduction): `make test-long`
def test_writes_the_report_json_and_figures(tiny_run):
    out, _, stdout = tiny_run
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    report = (out / "report.md").read_text()
    for heading in (
        "## The paper's claims",
        "## Figure 4",
        "## Table 1",
        "## Calibration",
        "## Memorization",
        "## How to read the numbers",
        "## Time",
        "### The rate beside the OoD detectors of OpenOOD",
        "## Robust accuracy under the field's attacks",
    ):
        assert heading in report
    assert "| CEB0 | KNN (z) |" in report and "near (mean)" in report
    assert (
        "Does CEB0's rate beat the best baseline" in report
        and "- Vertical Flip: CEB0's R" in report
    )
    assert "AutoAttack-style union" in report and "unbounded APGD-CE (L-inf 1)" in report
    assert "## The evaluation protocol: z sampled, as the paper evaluates" in report
    assert "| CEB0 | U(0,1) |" in report and "targeted PGD, sampled + EOT 2" in report
    assert "[paper: to fill]" not in report and "bootstrap" in report
    assert "AUROC 90.7% (Table 1)" in report and "figure only (Figure 4" in report
    # One line per finished unit when stdout is not a terminal, then the verdicts.
    assert "[1/6] train determ_seed0: done in" in stdout
    assert "[6/6] report: done in" in stdout
    assert "Wrote " in stdout and "i_xz_mni" in stdout


@pytest.mark.long  # shares `tiny_run` (a 45 s reproduction): `make test-long`
def test_results_hold_every_measurement_with_its_interval(tiny_run):
    out, _, _ = tiny_run
    results = json.loads((out / "results.json").read_text())
    assert list(results["models"]) == ["determ", "ceb_rho0"]
    ceb = results["models"]["ceb_rho0"]["metrics"]
    assert ceb["accuracy"]["method"] == "bootstrap"
    assert ceb["accuracy"]["lower"] <= ceb["accuracy"]["value"] <= ceb["accuracy"]["upper"]
    assert ceb["i_xz_max_train_at_rho"]["method"] == "none"  # one seed: no interval
    for key in (
        "targeted_linf_eps0.1",
        "targeted_l2_eps1",
        "ood_uniform_noise_rate_auroc",
        "ood_mnist_rate_fpr_at_95_tpr",
        "ood_vertical_flip_entropy_aupr_in",
        "ece_epoch1",
        "ece_epoch2",
        *results_lib.INFORMATION_KEYS,
    ):
        assert key in ceb, key
    determ = results["models"]["determ"]["metrics"]
    assert "ood_mnist_entropy_auroc" in determ and "ood_mnist_rate_auroc" not in determ
    assert "i_xz_max_train" not in determ or determ["i_xz_max_train"]["value"] is None
    assert results["models"]["determ"]["primary_score"] == "entropy"
    assert [c["id"] for c in results["claims"]] == [c.id for c in claims.FASHION_MNIST_CLAIMS]
    assert all(c["verdict"] in claims.VERDICTS for c in results["claims"])
    assert set(results["memorization"]) == {"ceb_rho0"}
    assert len(results["memorization"]["ceb_rho0"]["curve"]) == 2
    assert results["timing"]["epoch_train_seconds"] > 0
    assert results["timing"]["evaluate_targeted_cpu_seconds"] > 0
    assert results["data_sizes"]["train"] == 256 and results["data_sizes"]["ood_in"] == 64
    # The field's evaluation: robust accuracy under each attack, and the OoD baselines.
    for name in ("determ", "ceb_rho0"):
        metrics = results["models"][name]["metrics"]
        for attack in ("pgd", "apgd-ce", "apgd-t", "square", "autoattack"):
            assert f"robust_linf_eps0.1_{attack}" in metrics, (name, attack)
        union, members = (
            metrics["robust_linf_eps0.1_autoattack"]["value"],
            [metrics[f"robust_linf_eps0.1_{a}"]["value"] for a in ("apgd-ce", "apgd-t", "square")],
        )
        assert union <= min(members)
        assert metrics["robust_unbounded"]["value"] == 0.0
    sampled = results["models"]["ceb_rho0"]["metrics"]
    for key in (
        "sampled_accuracy",
        "sampled_targeted_linf_eps0.1_plain",
        "sampled_targeted_linf_eps0.1_eot",
        "sampled_apgd_linf_eps0.1_eot",
        "sampled_ood_mnist_rate_auroc",
        "sampled_cw_success",
    ):
        assert key in sampled, key
    assert "sampled_accuracy" not in results["models"]["determ"]["metrics"]
    for name in ("determ", "ceb_rho0"):
        metrics = results["models"][name]["metrics"]
        for score in ("max_logit", "energy", "mahalanobis", "mahalanobis_z", "knn", "knn_z"):
            for ood_set in ("rotate_90", "gaussian_noise", "mnist"):
                assert f"ood_{ood_set}_{score}_auroc" in metrics, (name, score, ood_set)


@pytest.mark.long  # shares `tiny_run` (a 45 s reproduction): `make test-long`
def test_per_example_arrays_agree_with_the_recorded_rates(tiny_run):
    out, _, _ = tiny_run
    folder = out / storage.MODELS / "ceb_rho0_seed0"
    record = json.loads((folder / storage.EVAL_MARKER).read_text())
    arrays = dict(np.load(folder / storage.EVAL_ARRAYS))
    counted = arrays["targeted_counted"]
    for norm in ("linf", "l2"):
        hit = arrays[f"targeted_{norm}_0_hit"]
        expected = hit[counted].mean() if counted.any() else None
        assert record["targeted"][norm][0]["success"] == pytest.approx(expected, nan_ok=True)
        assert record["targeted"][norm][0]["count"] == counted.sum()
    assert arrays["correct"].mean() == pytest.approx(record["accuracy"])
    history = json.loads((folder / storage.HISTORY_FILE).read_text())
    # Warmed up from rho + 3 over the first epoch's N steps (the mean of 3 (1 - k/N) over
    # k < N: 1.5 + 1.5/N), then at rho.
    first, second = history["rho"]
    assert 1.5 < first <= 3.0 and second == 0.0


@pytest.mark.long  # shares `tiny_run` (a 45 s reproduction): `make test-long`
def test_second_invocation_retrains_nothing_and_redoes_only_what_is_missing(tiny_run):
    out, argv, _ = tiny_run
    model = out / storage.MODELS / "ceb_rho0_seed0" / storage.MODEL_FILE
    before = model.stat().st_mtime_ns
    # As if the first run had been stopped during Determ's evaluation.
    (out / storage.MODELS / "determ_seed0" / storage.EVAL_MARKER).unlink()
    code, stdout, stderr = _run(argv)
    assert code == 0, stderr
    assert stdout.count("found done, skipped") == 4
    assert "[2/6] evaluate determ_seed0: done in" in stdout
    assert "[6/6] report: done in" in stdout
    assert model.stat().st_mtime_ns == before


@pytest.mark.long  # shares `tiny_run` (a 45 s reproduction): `make test-long`
def test_changed_training_settings_are_refused(tiny_run, fashion_mnist_dir):
    out, _, _ = tiny_run
    changed = dataclasses.replace(fashion_mnist.TINY, epochs=3)
    with pytest.raises(ReproduceError, match="trained with other settings .*epochs"):
        fashion_mnist.run(
            changed, out=out, data_dir=fashion_mnist_dir, download=False, progress="off"
        )


def test_out_must_be_a_folder(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    code, _, stderr = _run(["fashion-mnist", "--preset", "tiny", "--out", str(path)])
    assert code == 1
    assert (
        stderr == f"python -m benchmarks.paper: error: --out exists and is not a folder: {path}\n"
    )


def test_missing_data_is_one_line(monkeypatch, tmp_path):
    def missing(**kwargs):
        raise datasets.DatasetNotFoundError(
            "MNIST", ["/nowhere: no such folder"], ["put the files there"]
        )

    monkeypatch.setattr(fashion_mnist.datasets, "load_mnist_test", missing)
    code, _, stderr = _run(
        ["fashion-mnist", "--preset", "tiny", "--out", str(tmp_path / "out"), "--no-download"]
    )
    assert code == 1
    assert stderr.startswith("python -m benchmarks.paper: error: Could not find MNIST")
    assert stderr.count("\n") == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "the following arguments are required: DATASET"),
        (["cifar100"], "invalid choice: 'cifar100'"),
        (["fashion-mnist", "--preset", "huge"], "invalid choice: 'huge'"),
        (["fashion-mnist", "--seeds", "0"], "expected a positive integer, got '0'"),
    ],
)
def test_bad_arguments_are_one_line(argv, message):
    code, _, stderr = _run(argv)
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1


def test_dry_run_prints_the_plan():
    code, stdout, _ = _run(["fashion-mnist", "--preset", "cpu", "--dry-run"])
    assert code == 0
    assert "preset cpu" in stdout and "units:" in stdout
