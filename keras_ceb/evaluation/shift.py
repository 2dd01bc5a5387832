"""Accuracy under distribution shift: CIFAR-10.1 for a CIFAR-10 classifier."""

import numpy as np

from keras_ceb import datasets
from keras_ceb.attacks import predict_classes


def evaluate_cifar10_1(model, data_dir=None, batch_size=128):
    """Accuracy of a CIFAR-10 classifier on CIFAR-10.1 (Recht et al. 2018), if it is prepared.

    Args:
        model: A trained CIFAR-10 classifier (images to logits).
        data_dir: The tensorflow-datasets data dir searched first.
        batch_size: Batch size of the evaluation.

    Returns:
        `{"accuracy", "num_examples", "summary"}`, or `{"accuracy": None, "missing": ...,
        "summary"}` when no prepared CIFAR-10.1 is found (it is never downloaded).
    """
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
