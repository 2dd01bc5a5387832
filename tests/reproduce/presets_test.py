"""Presets and the plan of a reproduction."""

import dataclasses

import pytest

from keras_ceb.reproduce import fashion_mnist
from keras_ceb.reproduce import presets


def test_model_names_and_labels():
    assert [s.name for s in presets.Preset("x", "").models] == [
        "determ", "vib_rho0", "vib_rho4", "ceb_rho-1", "ceb_rho0", "ceb_rho1", "ceb_rho2",
        "ceb_rho3", "ceb_rho4", "ceb_rho5"]
    assert presets.model_spec("ceb_rho-1") == presets.ModelSpec("ceb", -1.0)
    assert presets.ModelSpec("vib", 4.0).label == "VIB4"
    with pytest.raises(ValueError, match="Received: name='ceb'"):
        presets.model_spec("ceb")
    with pytest.raises(ValueError, match="Received: rho=1.0"):
        presets.ModelSpec("determ", 1.0)


def test_plan_trains_then_evaluates_each_model_per_seed():
    preset = presets.Preset("x", "", ceb_rhos=(0.0,), vib_rhos=(4.0,),
                            memorization_models=("ceb_rho0",))
    keys = [u.key for u in presets.plan(preset, 2)]
    assert keys == [
        "train determ_seed0", "evaluate determ_seed0", "train vib_rho4_seed0",
        "evaluate vib_rho4_seed0", "train ceb_rho0_seed0", "evaluate ceb_rho0_seed0",
        "train determ_seed1", "evaluate determ_seed1", "train vib_rho4_seed1",
        "evaluate vib_rho4_seed1", "train ceb_rho0_seed1", "evaluate ceb_rho0_seed1",
        "memorize ceb_rho0_seed0", "memorize ceb_rho0_seed1", "report"]


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("attack_examples", -1), ("cw_examples", -1), ("head", "dense"),
    ("confidence", 1.0), ("linf_epsilons", ()), ("l2_epsilons", (0.0,)),
    ("memorization_models", ("vib_rho9",)), ("learning_rate", 0.0),
])
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
    assert set(fashion_mnist.PRESETS) == {"tiny", "cpu", "gpu"}
    gpu = fashion_mnist.GPU
    assert gpu.backbone == "wide_resnet" and len(gpu.models) == 10
    assert fashion_mnist.CPU.backbone == "small_convnet"
    for preset in fashion_mnist.PRESETS.values():
        assert preset.head == "mlp" and preset.attack_steps == 7 and preset.target_class == 1
    assert fashion_mnist.TINY.train_examples <= 512 and fashion_mnist.TINY.cw_examples == 2


def test_describe_plan_counts_units():
    lines = fashion_mnist.describe_plan("tiny", 2)
    assert "11 units: 4 trainings, 4 evaluations, 2 memorization runs, 1 report" in lines
