"""The training recipes as data (KerasHub's `*_presets.py`): what a `TrainConfig` field left
`None` takes for the config's dataset. No imports: `TrainConfig.resolved()` reads it, and
`keras_ceb.training.presets` builds the named configs from it.
"""

# What `train` uses where a recipe field is `None`, for every dataset but CIFAR-10.
DEFAULT_RECIPE = {
    "backbone": "small_convnet",
    "head": "consistent",
    "augment": "none",
    "lr_schedule": "cosine",
}
# The paper's CIFAR-10 recipe (sec. 3.1.6): a Wide ResNet without BatchNorm, bidirectional
# CatGen CEB (eq. 26), AutoAugment's CIFAR-10 policy, Adam divided by 10 at 1/2 and 3/4.
CIFAR10_RECIPE = {
    "backbone": "wide_resnet",
    "head": "catgen",
    "augment": "autoaugment",
    "lr_schedule": "step",
}
# The datasets with a recipe of their own.
RECIPES = {"cifar10": CIFAR10_RECIPE}


def recipe(dataset):
    """The recipe fields of `dataset`: `CIFAR10_RECIPE` for `"cifar10"`, else `DEFAULT_RECIPE`.

    Examples:

        >>> recipe("cifar10")["head"], recipe("fashion_mnist")["head"]
        ('catgen', 'consistent')
    """
    return dict(RECIPES.get(dataset, DEFAULT_RECIPE))
