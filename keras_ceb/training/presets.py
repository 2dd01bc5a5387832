"""The named training configs: Fashion-MNIST's default and the paper's CIFAR-10 recipe.

`PRESETS` holds each recipe of `keras_ceb.training.recipe_presets` (the data) as a complete
`TrainConfig`, the way KerasHub keeps named presets beside the code that consumes them.
"""

from keras_ceb.training import recipe_presets
from keras_ceb.training.config import TrainConfig

PRESETS = {
    "fashion_mnist": TrainConfig(**recipe_presets.DEFAULT_RECIPE),
    "cifar10": TrainConfig(dataset="cifar10", **recipe_presets.CIFAR10_RECIPE),
}


def get_preset(name):
    """The named config of `PRESETS` (`"fashion_mnist"` or `"cifar10"`)."""
    if name not in PRESETS:
        raise ValueError(f"`name` must be one of {tuple(PRESETS)}. Received: name={name!r}")
    return PRESETS[name]
