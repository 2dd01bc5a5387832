"""The Square attack of Andriushchenko et al. (2020): random search, no gradients."""

import math

import numpy as np

from keras_ceb.attacks import gradients

NORMS = ("linf", "l2")
P_INIT = {"linf": 0.8, "l2": 0.8}  # AutoAttack's initial share of the image a square covers


def square_attack(
    model,
    x,
    y,
    *,
    eps,
    norm="linf",
    queries=5000,
    p_init=None,
    clip_min=0.0,
    clip_max=1.0,
    batch_size=256,
    seed=None,
):
    """Score-based, gradient-free Square attack (Andriushchenko et al., 2020), untargeted.

    Random search on the margin `z_y - max_{i != y} z_i` of the logits: each query changes
    one random square window of the perturbation and keeps the change if the margin fell; an
    example stops as soon as it is misclassified (margin < 0). L-inf: the perturbation starts
    as vertical stripes of `+-eps` and a window is set to a random `+-eps` per channel. L2: the
    perturbation starts as a grid of "pseudo-Gaussian" squares and each query moves mass
    between two windows, keeping its L2 norm at `eps`. The window's side shrinks over the
    queries from `sqrt(p_init * pixels)` as in the paper's schedule (halved at 10, 50, 200,
    500, 1,000, 2,000, 4,000, 6,000 and 8,000 of 10,000 queries, rescaled to `queries`).

    Because it needs no gradient, it is the check that a model's robustness is not gradient
    masking: if Square breaks examples that APGD did not, APGD's gradients were misleading.
    Inputs are images `[N, H, W, C]` (channels last, `H` and `W` at least 2). A model whose
    encoders sample z at inference is attacked through its noisy scores as they come (no
    averaging).

    Args:
        model: Keras model mapping images in `[clip_min, clip_max]` to logits.
        x: Clean images `[N, H, W, C]`. Never modified.
        y: True integer (or one-hot) labels.
        eps: Radius in the metric `norm`, a finite number >= 0 or one per example.
        norm: `"linf"` or `"l2"`.
        queries: Queries per example (AutoAttack: 5,000), the first one included.
        p_init: Initial share of the pixels a window covers (default 0.8).
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        batch_size: Examples per forward pass.
        seed: Non-negative integer seed of the search and the model's draws.

    Returns:
        NumPy array shaped like `x`: for each example the point of lowest margin found.

    Examples:

        ```python
        x_adv = square_attack(model, x_test, y_test, eps=0.1, queries=1000, seed=0)
        accuracy_under_attack(model, x_adv, y_test)
        ```

    References:
        Andriushchenko, Croce, Flammarion and Hein. Square Attack: a query-efficient black-box
        adversarial attack via random search. ECCV 2020.
    """
    if norm not in NORMS:
        raise ValueError(f"Argument `norm` must be one of {NORMS}. Received: norm={norm!r}")
    gradients.check_positive_int(queries, "queries")
    gradients.check_positive_int(batch_size, "batch_size")
    gradients.check_seed(seed)
    p_init = P_INIT[norm] if p_init is None else p_init
    if not (isinstance(p_init, (int, float)) and 0.0 < p_init <= 1.0):
        raise ValueError(f"Argument `p_init` must be in (0, 1]. Received: p_init={p_init!r}")
    x_in = np.asarray(x)
    if x_in.ndim != 4 or x_in.shape[1] < 2 or x_in.shape[2] < 2:
        raise ValueError(
            "Argument `x` must hold images [N, H, W, C] with H, W >= 2. "
            f"Received: x.shape={x_in.shape}"
        )
    x, labels, out_dtype, num_classes = gradients.prepare_inputs(
        model, x_in, y, clip_min, clip_max
    )
    eps = gradients.per_example(eps, len(x), "eps").astype("float32")
    if len(x) == 0:
        return x.astype(out_dtype)
    rng = np.random.default_rng(seed)
    x_adv = np.empty_like(x)
    with gradients.attack_scope(model, seed=seed):
        forward = gradients.logits_function(model)
        for rows, (xb, yb, eb) in gradients.batches(len(x), batch_size, x, labels, eps):
            search = _LinfSearch if norm == "linf" else _L2Search
            best = search(forward, xb, yb, eb, rng, p_init, int(queries), clip_min, clip_max).run()
            x_adv[rows] = best[: len(rows)]
    return x_adv.astype(out_dtype, copy=False)


def margins(logits, labels):
    """`z_y - max_{i != y} z_i` per example: negative when misclassified.

    Examples:

        >>> margins(np.array([[2.0, 0.5, 1.0]]), np.array([0])).tolist()
        [1.0]
    """
    rows = np.arange(len(labels))
    true = logits[rows, labels]
    other = logits.copy()
    other[rows, labels] = -np.inf
    return true - other.max(axis=1)


def window_fraction(p_init, query, queries):
    """The share of pixels a window covers at `query` of `queries` (the paper's schedule).

    Examples:

        >>> window_fraction(0.8, 0, 10000), window_fraction(0.8, 100, 10000)
        (0.8, 0.2)
    """
    it = int(query / queries * 10000)
    for bound, divisor in (
        (10, 1),
        (50, 2),
        (200, 4),
        (500, 8),
        (1000, 16),
        (2000, 32),
        (4000, 64),
        (6000, 128),
        (8000, 256),
    ):
        if it <= bound:
            return p_init / divisor
    return p_init / 512


class _Search:
    """The search loop of one batch; subclasses set the start and the proposal."""

    def __init__(self, forward, x, labels, eps, rng, p_init, queries, clip_min, clip_max):
        self.forward, self.x, self.labels, self.rng = forward, x, labels, rng
        self.eps = eps.reshape(-1, 1, 1, 1)
        self.p_init, self.queries, self.box = p_init, queries, (clip_min, clip_max)
        self.n, self.h, self.w, self.c = x.shape

    def side(self, query, minimum=1):
        p = window_fraction(self.p_init, query, self.queries)
        side = max(int(round(math.sqrt(p * self.h * self.w))), minimum)
        return min(side, self.h - 1, self.w - 1)

    def signs(self, shape):
        return self.rng.choice(np.array([-1.0, 1.0], "float32"), size=shape)

    def run(self):
        best = self.start()
        margin = margins(self.forward(best), self.labels)
        for query in range(1, self.queries):
            active = margin > 0
            if not active.any():
                break
            candidate = self.propose(best, query)
            new = margins(self.forward(candidate), self.labels)
            better = active & (new < margin)
            best = np.where(better.reshape(-1, 1, 1, 1), candidate, best)
            margin = np.where(better, new, margin)
        return best


class _LinfSearch(_Search):
    def start(self):
        stripes = self.signs((self.n, 1, self.w, self.c))
        return np.clip(self.x + self.eps * stripes, *self.box).astype("float32")

    def propose(self, best, query):
        s = self.side(query)
        i, j = self.rng.integers(0, self.h - s + 1), self.rng.integers(0, self.w - s + 1)
        candidate = best.copy()
        window = self.x[:, i : i + s, j : j + s] + self.eps * self.signs((self.n, 1, 1, self.c))
        candidate[:, i : i + s, j : j + s] = window
        low, high = self.x - self.eps, self.x + self.eps
        return np.clip(np.clip(candidate, low, high), *self.box).astype("float32")


def pseudo_gaussian_square(s, rng):
    """The L2 Square attack's `s x s` window: two opposite-signed halves of nested
    rectangles, unit L2 norm, transposed at random.

    Examples:

        >>> square = pseudo_gaussian_square(5, np.random.default_rng(0))
        >>> square.shape, round(float((square ** 2).sum()), 6)
        ((5, 5), 1.0)
    """
    delta = np.zeros((s, s))
    delta[: s // 2] = _rectangles(s // 2, s)
    delta[s // 2 :] = -_rectangles(s - s // 2, s)
    delta /= np.sqrt((delta**2).sum())
    return delta.T if rng.random() > 0.5 else delta


def _rectangles(rows, cols):
    delta = np.zeros((rows, cols))
    if rows == 0:
        return delta
    centre = [rows // 2, cols // 2]
    for k in range(max(rows // 2 + 1, cols // 2 + 1)):
        delta[
            max(centre[0], 0) : min(centre[0] + 2 * k + 1, rows),
            max(centre[1], 0) : min(centre[1] + 2 * k + 1, cols),
        ] += 1.0 / (k + 1) ** 2
        centre[0] -= 1
        centre[1] -= 1
    return delta / np.sqrt((delta**2).sum())


class _L2Search(_Search):
    def start(self):
        s = max(self.h // 5, 1)
        delta = np.zeros_like(self.x)
        for i in range((self.h - s * (self.h // s)) // 2, self.h - s + 1, s):
            for j in range((self.w - s * (self.w // s)) // 2, self.w - s + 1, s):
                square = pseudo_gaussian_square(s, self.rng)[None, :, :, None]
                delta[:, i : i + s, j : j + s] += square * self.signs((self.n, 1, 1, self.c))
        return self.project(delta)

    def project(self, delta):
        norm = np.sqrt((delta**2).sum(axis=(1, 2, 3), keepdims=True))
        return np.clip(self.x + self.eps * delta / np.maximum(norm, 1e-12), *self.box).astype(
            "float32"
        )

    def propose(self, best, query):
        s = self.side(query, minimum=3)
        if s % 2 == 0 and s + 1 <= min(self.h, self.w) - 1:
            s += 1  # an odd side, as the authors' code has it
        delta = best - self.x
        i, j = self.rng.integers(0, self.h - s + 1), self.rng.integers(0, self.w - s + 1)
        i2, j2 = self.rng.integers(0, self.h - s + 1), self.rng.integers(0, self.w - s + 1)
        mask = np.zeros_like(delta[:1])
        mask[:, i : i + s, j : j + s] = 1.0
        mask[:, i2 : i2 + s, j2 : j2 + s] = 1.0

        def l2(t, axes=(1, 2, 3)):
            return np.sqrt((t**2).sum(axis=axes, keepdims=True))

        window = delta[:, i : i + s, j : j + s]
        budget = np.maximum(self.eps**2 - l2(delta) ** 2, 0.0) / self.c + l2(delta * mask) ** 2
        new = pseudo_gaussian_square(s, self.rng)[None, :, :, None] * self.signs(
            (self.n, 1, 1, self.c)
        )
        new = new + window / (1e-12 + l2(window, (1, 2)))
        new = new / (1e-12 + l2(new, (1, 2))) * np.sqrt(budget)
        delta = delta.copy()
        delta[:, i2 : i2 + s, j2 : j2 + s] = 0.0
        delta[:, i : i + s, j : j + s] = new
        return self.project(delta)
