"""The named training recipes: Fashion-MNIST's default and the paper's CIFAR-10 recipe.

`TrainConfig` fields left `None` (backbone, head, augmentation, learning-rate schedule) take
the recipe of the config's dataset (`recipe(dataset)`); `PRESETS` holds each recipe as a
complete config, the way KerasHub keeps named presets beside the code that consumes them.
"""

import numpy as np

from keras_ceb.training.config import TrainConfig

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
PRESETS = {
    "fashion_mnist": TrainConfig(**DEFAULT_RECIPE),
    "cifar10": TrainConfig(dataset="cifar10", **CIFAR10_RECIPE),
}


def recipe(dataset):
    """The recipe fields of `dataset`: `CIFAR10_RECIPE` for `"cifar10"`, else `DEFAULT_RECIPE`.

    Examples:

        >>> recipe("cifar10")["head"], recipe("fashion_mnist")["head"]
        ('catgen', 'consistent')
    """
    return dict(CIFAR10_RECIPE if dataset == "cifar10" else DEFAULT_RECIPE)


def get_preset(name):
    """The named config of `PRESETS` (`"fashion_mnist"` or `"cifar10"`)."""
    if name not in PRESETS:
        raise ValueError(f"`name` must be one of {tuple(PRESETS)}. Received: name={name!r}")
    return PRESETS[name]


def learning_rate_schedule(learning_rate, total_steps):
    """Adam's rate in the paper's CIFAR-10 recipe: divided by 10 at 1/2 and 3/4 of training.

    Args:
        learning_rate: The initial rate (the paper: 1e-3).
        total_steps: Training steps of the whole run.

    Returns:
        A `keras.optimizers.schedules.PiecewiseConstantDecay`.

    Examples:

        >>> schedule = learning_rate_schedule(1e-3, total_steps=100)
        >>> [round(float(schedule(step)), 6) for step in (0, 50, 51, 75, 76)]
        [0.001, 0.001, 0.0001, 0.0001, 1e-05]
    """
    import keras

    total_steps = int(total_steps)
    if total_steps < 1:
        raise ValueError(
            f"`total_steps` must be a positive integer. Received: total_steps={total_steps!r}"
        )
    boundaries = [max(total_steps // 2, 1), max(3 * total_steps // 4, 2)]
    values = [float(learning_rate), float(learning_rate) / 10, float(learning_rate) / 100]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def evaluate_cifar10_1(model, data_dir=None, batch_size=128):
    """Accuracy of a CIFAR-10 classifier on CIFAR-10.1 (Recht et al. 2018), if it is prepared.

    Args:
        model: A trained CIFAR-10 classifier (images, or `{"images", "labels"}`, to logits).
        data_dir: The tensorflow-datasets data dir searched first.
        batch_size: Batch size of the evaluation.

    Returns:
        `{"accuracy", "num_examples", "summary"}`, or `{"accuracy": None, "missing": ...,
        "summary"}` when no prepared CIFAR-10.1 is found (it is never downloaded).
    """
    from keras_ceb import datasets
    from keras_ceb.attacks import predict_classes

    try:
        x, y = datasets.load_cifar10_1(data_dir=data_dir)
    except datasets.DatasetNotFoundError as e:
        return {
            "accuracy": None,
            "num_examples": 0,
            "missing": e.places,
            "summary": "CIFAR-10.1: not found (prepare it with `tfds build cifar10_1`)",
        }
    predicted = predict_classes(model, x, batch_size=batch_size)
    accuracy = float(np.mean(predicted == y))
    return {
        "accuracy": accuracy,
        "num_examples": int(len(x)),
        "summary": f"CIFAR-10.1 accuracy: {accuracy:.4f} ({len(x)} images)",
    }
