"""`TrainConfig`: typed and frozen, refuses bad values, round-trips JSON, and is the source of
`keras-ceb train`'s options."""

import dataclasses
import json
import pathlib

import pytest

from keras_ceb import cli
from keras_ceb.training import TrainConfig
from keras_ceb.training import presets


def test_defaults_are_the_commands_defaults():
    parsed = cli.train_config(cli.build_parser().parse_args(["train"]))
    assert parsed == TrainConfig()


def test_every_field_is_an_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(TrainConfig):
        flag = field.metadata["flag"] or "--" + field.name.replace("_", "-")
        assert flag in text, flag
        assert " ".join(field.metadata["help"].split())[:40] in text, field.name


def test_options_parse_into_the_config():
    args = cli.build_parser().parse_args(
        [
            "train",
            "--objective",
            "vib",
            "--rho",
            "2",
            "--rho-anneal",
            "off",
            "--no-download",
            "--epochs",
            "3",
            "--out",
            "runs/x",
            "--head",
            "mlp",
            "--overwrite",
        ]
    )
    config = cli.train_config(args)
    assert config == TrainConfig(
        objective="vib",
        rho=2.0,
        rho_anneal=None,
        download=False,
        epochs=3,
        out=pathlib.Path("runs/x"),
        head="mlp",
        overwrite=True,
    )


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().rho = 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"objective": "magic"},
            r"`objective` must be one of \('ceb', 'vib', 'determ'\). "
            r"Received: objective='magic'",
        ),
        ({"rho": "0"}, r"`rho` must be a finite number. Received: rho='0'"),
        ({"rho": float("inf")}, r"Received: rho=inf"),
        ({"epochs": 0}, r"`epochs` must be a positive integer. Received: epochs=0"),
        ({"learning_rate": -1.0}, r"Received: learning_rate=-1.0"),
        ({"head": "big"}, r"Received: head='big'"),
        ({"max_train_examples": 0}, r"Received: max_train_examples=0"),
        ({"download": "yes"}, r"`download` must be True or False"),
        ({"out": 3}, r"`out` must be a path or None. Received: out=3"),
        ({"dataset": "imagenet"}, r"Received: dataset='imagenet'"),
        (
            {"rho": 2.0, "rho_anneal": 1.0},
            r"`rho_anneal` must start at or above `rho`.*"
            r"Received: rho_anneal=1.0, rho=2.0",
        ),
    ],
)
def test_bad_values_are_refused_with_the_field_and_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_json_round_trip():
    config = TrainConfig(
        objective="determ",
        rho=-1.5,
        rho_anneal=4.0,
        data_dir="/data",
        out="runs/y",
        seed=7,
        marginal_components=0,
        wrn_depth=16,
        backbone="wide_resnet",
    )
    assert TrainConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["data_dir"] == "/data"


def test_resolved_takes_the_datasets_recipe():
    assert TrainConfig().resolved() == presets.PRESETS["fashion_mnist"]
    cifar = TrainConfig(dataset="cifar10", head="consistent").resolved()
    assert (cifar.backbone, cifar.head, cifar.augment, cifar.lr_schedule) == (
        "wide_resnet",
        "consistent",
        "autoaugment",
        "step",
    )
    with pytest.raises(ValueError, match="Received: name='imagenet'"):
        presets.get_preset("imagenet")
