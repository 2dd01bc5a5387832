"""`benchmarks/paper_fashion_mnist/compare_runs.py` on a committed report's results."""

import copy
import importlib.util
import json

from tests.readme_test import REPO_ROOT

BENCHMARK = REPO_ROOT / "benchmarks" / "paper_fashion_mnist"


def _module():
    spec = importlib.util.spec_from_file_location("compare_runs", BENCHMARK / "compare_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_runs_reads_one_seed_and_several():
    compare_runs = _module()
    one = json.loads((BENCHMARK / "table1_seed0" / "results.json").read_text())
    three = copy.deepcopy(one)
    ceb = three["models"]["ceb_rho0"]
    ceb["per_seed"] = [dict(ceb["per_seed"][0], accuracy=a) for a in (0.90, 0.91, 0.93)]
    ceb["metrics"]["accuracy"]["value"] = 0.92
    lines, data = compare_runs.compare({"one": one, "three": three})
    row = next(r for r in data if r["model"] == "CEB0" and r["quantity"] == "test accuracy")
    assert round(row["one"]["value"], 2) == 91.73 and round(row["three"]["value"], 2) == 92.0
    line = next(row for row in lines if row.startswith("| CEB0 | test accuracy |"))
    assert "90.00, 91.00, 93.00; range 3.00" in line
    determ_h = next(
        r
        for r in data
        if r["model"] == "Determ" and r["quantity"] == "AUROC U(0,1), paper's score"
    )
    assert (
        abs(
            determ_h["one"]["value"]
            - 100 * one["models"]["determ"]["metrics"]["ood_uniform_noise_entropy_auroc"]["value"]
        )
        < 1e-9
    )  # Determ's score is H
