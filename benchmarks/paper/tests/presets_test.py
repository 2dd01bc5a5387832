"""Presets and the plan of a reproduction."""

import dataclasses
import json

import pytest

from benchmarks.paper import fashion_mnist
from benchmarks.paper import presets


def test_model_names_and_labels():
    assert [s.name for s in presets.Preset("x", "").models] == [
        "determ",
        "vib_rho0",
        "vib_rho4",
        "ceb_rho-1",
        "ceb_rho0",
        "ceb_rho1",
        "ceb_rho2",
        "ceb_rho3",
        "ceb_rho4",
        "ceb_rho5",
    ]
    assert presets.model_spec("ceb_rho-1") == presets.ModelSpec("ceb", -1.0)
    assert presets.ModelSpec("vib", 4.0).label == "VIB4"
    with pytest.raises(ValueError, match="Received: name='ceb'"):
        presets.model_spec("ceb")
    with pytest.raises(ValueError, match="Received: rho=1.0"):
        presets.ModelSpec("determ", 1.0)


def test_plan_trains_then_evaluates_each_model_per_seed():
    preset = presets.Preset(
        "x", "", ceb_rhos=(0.0,), vib_rhos=(4.0,), memorization_models=("ceb_rho0",)
    )
    keys = [u.key for u in presets.plan(preset, 2)]
    assert keys == [
        "train determ_seed0",
        "evaluate determ_seed0",
        "train vib_rho4_seed0",
        "evaluate vib_rho4_seed0",
        "train ceb_rho0_seed0",
        "evaluate ceb_rho0_seed0",
        "train determ_seed1",
        "evaluate determ_seed1",
        "train vib_rho4_seed1",
        "evaluate vib_rho4_seed1",
        "train ceb_rho0_seed1",
        "evaluate ceb_rho0_seed1",
        "memorize ceb_rho0_seed0",
        "memorize ceb_rho0_seed1",
        "report",
    ]


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("attack_examples", -1),
        ("cw_examples", -1),
        ("head", "dense"),
        ("confidence", 1.0),
        ("linf_epsilons", ()),
        ("l2_epsilons", (0.0,)),
        ("memorization_models", ("vib_rho9",)),
        ("learning_rate", 0.0),
    ],
)
def test_preset_fields_are_validated(field, value):
    with pytest.raises(ValueError, match=f"Received: {field}="):
        dataclasses.replace(fashion_mnist.CPU, **{field: value})


def test_anneal_and_calibration_epochs():
    preset = presets.Preset("x", "", epochs=8, rho_anneal_epochs=5)
    assert preset.anneal_epochs == 5 and preset.calibration_epochs == (1, 4, 8)
    short = dataclasses.replace(preset, epochs=2)
    assert short.anneal_epochs == 1 and short.calibration_epochs == (1, 2)
    assert dataclasses.replace(preset, rho_anneal_offset=None).anneal_epochs == 0


def test_configs_split_training_from_evaluation():
    preset = fashion_mnist.CPU
    changed = dataclasses.replace(preset, attack_examples=7)
    assert changed.training_config() == preset.training_config()
    assert changed.evaluation_config() != preset.evaluation_config()
    assert set(presets.TRAINING_FIELDS).isdisjoint(presets.EVALUATION_FIELDS)
    every = {f.name for f in dataclasses.fields(presets.Preset)}
    assert set(presets.TRAINING_FIELDS) | set(presets.EVALUATION_FIELDS) <= every


def test_the_presets():
    assert set(fashion_mnist.PRESETS) == {
        "tiny",
        "cpu",
        "cpu-table1",
        "cpu-seeds",
        "cpu-no-anneal",
        "cpu-paper-length",
        "cpu-wrn",
        "cpu-wrn-control",
        "gpu",
        "paper",
    }
    assert fashion_mnist.CPU_NO_ANNEAL.anneal_epochs == 0
    long = fashion_mnist.CPU_PAPER_LENGTH
    assert long.epochs * 60000 // long.batch_size >= 40000  # Figure 5's 40,000 steps
    assert [m.label for m in long.models] == ["Determ", "VIB0", "VIB4", "CEB0"]
    changed = {
        f.name
        for f in dataclasses.fields(presets.Preset)
        if getattr(long, f.name) != getattr(fashion_mnist.CPU_TABLE1, f.name)
    }
    assert changed - {"name", "description", "estimate_note"} == {
        "epochs",
        "cw_examples",
        "cw_models",
        "protocol_models",
    }  # one axis of training
    table1 = fashion_mnist.CPU_TABLE1
    assert [m.label for m in table1.models] == ["Determ", "VIB0", "VIB4", "CEB0"]
    assert table1.training_config() == fashion_mnist.CPU.training_config()  # models reused
    assert table1.evaluation_config() == fashion_mnist.CPU.evaluation_config()
    seeds = fashion_mnist.CPU_SEEDS
    assert seeds.training_config() == fashion_mnist.CPU.training_config()  # models reused
    assert [m.label for m in seeds.models] == ["Determ", "VIB0", "VIB4", "CEB0"]
    wrn, control = fashion_mnist.CPU_WRN, fashion_mnist.CPU_WRN_CONTROL
    assert wrn.backbone == "wide_resnet" and dict(wrn.backbone_kwargs) == {"depth": 10, "width": 2}
    changed = {
        f.name
        for f in dataclasses.fields(presets.Preset)
        if getattr(wrn, f.name) != getattr(control, f.name)
    }
    assert changed - {"name", "description", "estimate_note"} == {
        "backbone",
        "backbone_kwargs",
    }  # one axis: the encoder
    paper = fashion_mnist.PAPER
    assert dict(paper.backbone_kwargs) == {"depth": 10, "width": 2}
    assert paper.epochs * 60000 // paper.batch_size >= 40000  # Figure 5's 40,000 steps
    assert paper.rho_anneal_offset is None and paper.lr_schedule == "constant"
    assert set(paper.protocol_models) == {m.name for m in paper.models if m.rho is not None}
    assert paper.memorization_examples == 60000 and paper.memorization_epochs == 100
    assert fashion_mnist.CPU.cw_examples >= 500
    gpu = fashion_mnist.GPU
    assert gpu.backbone == "wide_resnet" and len(gpu.models) == 10
    assert fashion_mnist.CPU.backbone == "small_convnet"
    for preset in fashion_mnist.PRESETS.values():
        assert preset.head == "mlp" and preset.attack_steps == 7 and preset.target_class == 1
    assert fashion_mnist.TINY.train_examples <= 512 and fashion_mnist.TINY.cw_examples == 2


@pytest.mark.long  # `make test-long` (CI runs it): over 15 s on 2 cores.
def test_the_paper_preset_runs_end_to_end_on_tiny_data(fashion_mnist_dir, tmp_path):
    """The `paper` preset's plan (its backbone, schedule and sampled evaluation) on a few
    images: what an accelerator would run, shrunk to seconds."""
    small = dataclasses.replace(
        fashion_mnist.PAPER,
        ceb_rhos=(0.0,),
        vib_rhos=(),
        epochs=1,
        train_examples=64,
        test_examples=64,
        information_examples=32,
        calibration_examples=32,
        attack_examples=8,
        linf_epsilons=(0.1,),
        l2_epsilons=(1.0,),
        ood_examples=32,
        cw_examples=2,
        cw_binary_search_steps=1,
        cw_max_iterations=5,
        cw_models=("determ", "ceb_rho0"),
        protocol_models=("ceb_rho0",),
        protocol_examples=8,
        eot_samples=2,
        protocol_cw_examples=2,
        robust_models=("determ", "ceb_rho0"),
        robust_examples=8,
        robust_linf_epsilons=(0.1,),
        apgd_steps=3,
        apgd_targets=2,
        square_queries=5,
        reference_examples=64,
        memorization_models=("ceb_rho0",),
        memorization_examples=64,
        memorization_epochs=1,
        bootstrap_resamples=20,
    )
    results = fashion_mnist.run(
        small, seeds=1, out=tmp_path, data_dir=fashion_mnist_dir, download=False, progress="off"
    )
    ceb = results["models"]["ceb_rho0"]
    assert (
        "sampled_accuracy" in ceb["metrics"] and "robust_linf_eps0.1_autoattack" in ceb["metrics"]
    )
    model = json.loads((tmp_path / "models" / "ceb_rho0_seed0" / "metrics.json").read_text())
    assert model["config"]["backbone"] == "wide_resnet" and model["config"]["wrn_depth"] == 10
    assert (
        model["config"]["rho_anneal_start"] is None
        and model["config"]["lr_schedule"] == "constant"
    )
    assert "## The evaluation protocol: z sampled" in (tmp_path / "report.md").read_text()


def test_describe_plan_counts_units():
    lines = fashion_mnist.describe_plan("tiny", 2)
    assert "11 units: 4 trainings, 4 evaluations, 2 memorization runs, 1 report" in lines
