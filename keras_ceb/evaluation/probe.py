"""Linear probes: how much of the labels a representation exposes linearly."""

import numpy as np


def _softmax_cross_entropy(logits, labels):
    logits = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits).sum(axis=1, keepdims=True))
    log_p = logits - log_norm
    return log_p, -log_p[np.arange(len(labels)), labels].mean()


def linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes=None,
    steps=500,
    learning_rate=0.1,
    weight_decay=1e-4,
):
    """Fits a multinomial logistic regression on frozen features; returns its accuracies.

    The features are standardized with the training set's mean and standard deviation, then a
    softmax regression (weights and biases, L2 penalty `weight_decay` on the weights) is fitted
    by full-batch Adam for `steps` steps: a convex problem, so the result is deterministic and
    does not depend on a seed. NumPy only, on any backend.

    Args:
        train_features: `[N, F]` features of the training examples (e.g. the mean of e(z|x)).
        train_labels: `[N]` integer labels.
        test_features: `[M, F]`.
        test_labels: `[M]`.
        num_classes: Number of classes; default `max(label) + 1`.
        steps: Adam steps.
        learning_rate: Adam's rate.
        weight_decay: L2 penalty on the weights.

    Returns:
        A dict with `train_accuracy`, `test_accuracy` and `train_loss` (the final
        cross-entropy, in nats).

    Examples:

        >>> rng = np.random.default_rng(0)
        >>> labels = np.arange(400) % 2
        >>> features = rng.normal(size=(400, 3)) + 3.0 * labels[:, None]
        >>> result = linear_probe(features[:300], labels[:300], features[300:], labels[300:])
        >>> result["test_accuracy"] > 0.95
        True
    """
    x = np.asarray(train_features, "float64").reshape(len(train_features), -1)
    x_test = np.asarray(test_features, "float64").reshape(len(test_features), -1)
    y = np.asarray(train_labels).reshape(-1).astype("int64")
    y_test = np.asarray(test_labels).reshape(-1).astype("int64")
    if len(x) != len(y) or len(x_test) != len(y_test) or x.shape[1] != x_test.shape[1]:
        raise ValueError(
            "Features and labels must match. Received: "
            f"train_features.shape={x.shape}, train_labels.shape={y.shape}, "
            f"test_features.shape={x_test.shape}, test_labels.shape={y_test.shape}"
        )
    num_classes = int(num_classes or max(y.max(), y_test.max()) + 1)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-8
    x, x_test = (x - mean) / std, (x_test - mean) / std
    params = [np.zeros((x.shape[1], num_classes)), np.zeros(num_classes)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    one_hot = np.eye(num_classes)[y]
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        log_p, _ = _softmax_cross_entropy(x @ params[0] + params[1], y)
        error = (np.exp(log_p) - one_hot) / len(x)
        grads = [x.T @ error + weight_decay * params[0], error.sum(axis=0)]
        for param, grad, moment in zip(params, grads, moments):
            moment[0] = beta1 * moment[0] + (1 - beta1) * grad
            moment[1] = beta2 * moment[1] + (1 - beta2) * grad**2
            m_hat = moment[0] / (1 - beta1**step)
            v_hat = moment[1] / (1 - beta2**step)
            param -= learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
    _, loss = _softmax_cross_entropy(x @ params[0] + params[1], y)

    def accuracy(features, labels):
        return float(np.mean(np.argmax(features @ params[0] + params[1], axis=1) == labels))

    return {
        "train_accuracy": accuracy(x, y),
        "test_accuracy": accuracy(x_test, y_test),
        "train_loss": float(loss),
    }
