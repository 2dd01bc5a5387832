"""The learning-rate schedule of the paper's CIFAR-10 recipe."""

import keras


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
    total_steps = int(total_steps)
    if total_steps < 1:
        raise ValueError(
            f"`total_steps` must be a positive integer. Received: total_steps={total_steps!r}"
        )
    boundaries = [max(total_steps // 2, 1), max(3 * total_steps // 4, 2)]
    values = [float(learning_rate), float(learning_rate) / 10, float(learning_rate) / 100]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
