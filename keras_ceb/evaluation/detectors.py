"""OoD detectors fitted on in-distribution training features: Mahalanobis and KNN.

The baselines that OpenOOD (v1.5) compares detectors with, beside the logit scores of
`keras_ceb.evaluation.ood` (max-softmax, max-logit, energy, entropy) and the rate:

- `MahalanobisDetector` (Lee et al., 2018): class-conditional Gaussians with one shared
  covariance, fitted on training features; the score is minus the smallest squared Mahalanobis
  distance to a class mean. Fitting costs one pass over the training features and a `d x d`
  inverse; the fitted state is `C x d` means and a `d x d` precision.
- `KNNDetector` (Sun et al., 2022): features normalized to unit length; the score is minus
  the distance to the `k`-th nearest normalized training feature. Fitting stores the
  normalized training features (`N x d` floats: 60,000 x 4 for z, 60,000 x 128 for the small
  convnet's features); scoring computes `N` distances per example, in chunks.

Both are fitted on features of a model (`feature_arrays`): `"z"`, the encoder mean mu(x), and
`"features"`, the backbone's output that the encoder consumes (the penultimate features).
`FeatureDetectors` fits both detectors on both, and is what `evaluate_ood(reference=...)`
takes. Scoring before fitting is an error. Each detector saves to and loads from one `.npz`.
"""

import os
import pathlib
import tempfile

import numpy as np
from keras import ops

from keras_ceb import export
from keras_ceb import rho as rho_lib
from keras_ceb import validation
from keras_ceb.evaluation.ood import as_numeric_array
from keras_ceb.evaluation.ood import check_finite
from keras_ceb.evaluation.ood import describe_array

FEATURE_KINDS = ("features", "z")
DEFAULT_K = 50  # Sun et al.'s k for CIFAR-10 with the whole training set


def _features_array(features, name="features"):
    array = as_numeric_array(features, name)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 2-D array (examples, dimensions). "
            f"Received: {name}={describe_array(array)}"
        )
    check_finite(array, name)
    return array.astype("float64")


def _save(path, arrays):
    """Writes `arrays` to `path` (`.npz`) through a temporary file: never a half-written file."""
    path = pathlib.Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def _load(path, names, kind):
    with np.load(path) as data:
        missing = [n for n in names if n not in data]
        if missing or str(data.get("kind", "")) != kind:
            raise ValueError(f"{path} is not a saved {kind} (missing {missing or ['kind']}).")
        return {n: data[n] for n in names}


class MahalanobisDetector:
    """Minus the smallest squared Mahalanobis distance to a class mean (Lee et al., 2018).

    Fitted like scikit-learn's `EmpiricalCovariance` on the class-centred features: the
    covariance is `sum_c sum_{i in c} (f_i - mu_c)(f_i - mu_c)^T / N`, shared by the classes;
    its pseudo-inverse is the precision. Higher on in-distribution data.

    Examples:

        >>> rng = np.random.default_rng(0)
        >>> train = rng.normal(size=(200, 3)); labels = rng.integers(0, 2, 200)
        >>> detector = MahalanobisDetector().fit(train, labels)
        >>> bool(detector.score(np.zeros((1, 3)))[0] > detector.score(np.full((1, 3), 9.0))[0])
        True
    """

    def __init__(self):
        self.means = self.precision = None

    def fit(self, features, labels):
        """Fits the class means and the shared precision; returns `self`."""
        features = _features_array(features)
        labels = np.asarray(labels)
        if labels.shape != (len(features),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                "`labels` must be integer class labels, one per feature row. "
                f"Received: labels={describe_array(labels)}"
            )
        classes = np.unique(labels)
        self.means = np.stack([features[labels == c].mean(axis=0) for c in classes])
        centred = features - self.means[np.searchsorted(classes, labels)]
        covariance = centred.T @ centred / len(features)
        self.precision = np.linalg.pinv(covariance, hermitian=True)
        return self

    def score(self, features):
        """`-min_c (f - mu_c)^T P (f - mu_c)` per row: float64 `[N]`."""
        if self.means is None:
            raise ValueError(
                "MahalanobisDetector.score needs a fitted detector: call "
                "fit(train_features, train_labels) first."
            )
        features = _features_array(features)
        if features.shape[1] != self.means.shape[1]:
            raise ValueError(
                f"`features` must have {self.means.shape[1]} dimensions, as fitted. "
                f"Received: features={describe_array(features)}"
            )
        best = np.full(len(features), np.inf)
        for mean in self.means:
            d = features - mean
            best = np.minimum(best, np.einsum("ij,jk,ik->i", d, self.precision, d))
        return -best

    def save(self, path):
        """Writes the fitted state to `path` (`.npz`)."""
        self.score(self.means[:1])  # fitted?
        _save(
            path, {"kind": "MahalanobisDetector", "means": self.means, "precision": self.precision}
        )

    @classmethod
    def load(cls, path):
        """A detector from `save`'s file."""
        detector = cls()
        state = _load(path, ("means", "precision"), "MahalanobisDetector")
        detector.means, detector.precision = state["means"], state["precision"]
        return detector


class KNNDetector:
    """Minus the distance to the `k`-th nearest normalized training feature (Sun et al., 2022).

    Args:
        k: Which neighbour (default 50, the paper's for CIFAR-10).
        chunk: Rows scored at once (memory: `chunk x N` distances).

    Examples:

        >>> rng = np.random.default_rng(0)
        >>> detector = KNNDetector(k=5).fit(rng.normal(size=(100, 3)) + [5, 0, 0])
        >>> bool(detector.score([[5.0, 0, 0]])[0] > detector.score([[-5.0, 0, 0]])[0])
        True
    """

    def __init__(self, k=DEFAULT_K, chunk=1024):
        self.k = validation.positive_int(k, "k")
        self.chunk = validation.positive_int(chunk, "chunk")
        self.reference = None

    @staticmethod
    def normalize(features):
        """Rows scaled to unit L2 length (a zero row stays zero)."""
        features = _features_array(features)
        return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)

    def fit(self, features, labels=None):
        """Stores the normalized training features; `labels` are ignored. Returns `self`."""
        features = self.normalize(features)
        if self.k > len(features):
            raise ValueError(
                f"`k` must be at most the number of training features "
                f"({len(features)}). Received: k={self.k}"
            )
        self.reference = features.astype("float32")
        return self

    def score(self, features):
        """`-||f/|f| - r_(k)||` per row, `r_(k)` its k-th nearest reference: float64 `[N]`."""
        if self.reference is None:
            raise ValueError(
                "KNNDetector.score needs a fitted detector: call fit(train_features) first."
            )
        features = self.normalize(features)
        if features.shape[1] != self.reference.shape[1]:
            raise ValueError(
                f"`features` must have {self.reference.shape[1]} dimensions, as "
                f"fitted. Received: features={describe_array(features)}"
            )
        reference = self.reference.astype("float64")
        squared = (reference**2).sum(axis=1)
        out = np.empty(len(features))
        for start in range(0, len(features), self.chunk):
            rows = features[start : start + self.chunk]
            d2 = (rows**2).sum(axis=1)[:, None] + squared[None] - 2.0 * rows @ reference.T
            kth = np.partition(d2, self.k - 1, axis=1)[:, self.k - 1]
            out[start : start + self.chunk] = -np.sqrt(np.maximum(kth, 0.0))
        return out

    def save(self, path):
        """Writes the fitted state to `path` (`.npz`)."""
        self.score(self.reference[:1])  # fitted?
        _save(path, {"kind": "KNNDetector", "k": self.k, "reference": self.reference})

    @classmethod
    def load(cls, path):
        """A detector from `save`'s file."""
        state = _load(path, ("k", "reference"), "KNNDetector")
        detector = cls(k=int(state["k"]))
        detector.reference = state["reference"]
        return detector


def feature_arrays(model, x, batch_size=256):
    """`{"features": backbone output, "z": encoder mean mu(x)}` of `model` on `x` (NumPy).

    Uses the model's first `StochasticEncoder` (a Determ one too: its z is the mean).

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5),
        ...                           keras_ceb.StochasticEncoder(2, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> arrays = feature_arrays(model, np.ones((4, 8), "float32"))
        >>> arrays["features"].shape, arrays["z"].shape
        ((4, 5), (4, 2))
    """
    encoders = rho_lib.encoders(model)
    if not encoders:
        raise ValueError(
            "Feature detectors need a model with a StochasticEncoder (its input "
            "are the features, its mean z). "
            f"Received: model={getattr(model, 'name', model)!r}"
        )
    encoder = encoders[0]
    features = export.feature_model(model, encoder).predict(x, batch_size=batch_size, verbose=0)
    z = [
        ops.convert_to_numpy(encoder.loc_projection(features[i : i + batch_size]))
        for i in range(0, len(features), batch_size)
    ]
    flat = features.reshape(len(features), -1)
    return {
        "features": flat.astype("float32"),
        "z": np.concatenate(z).astype("float32") if z else np.zeros((0, encoder.latent_dim)),
    }


class FeatureDetectors:
    """Mahalanobis and KNN on a model's z and backbone features, fitted on its training data.

    Scores: `mahalanobis` and `knn` (on the backbone features, as their papers), and
    `mahalanobis_z` and `knn_z` (on the encoder mean z), all higher on in-distribution data.

    Args:
        k: The KNN detectors' `k`.
        max_examples: Fit on at most this many training examples (the first ones), to bound
            KNN's memory and time; `None` for all.

    Examples:

        ```python
        detectors = FeatureDetectors().fit(model, x_train, y_train)
        detectors.scores(model, x_test)["knn"]
        keras_ceb.evaluation.evaluate_ood(model, x_test, ood_sets, reference=detectors)
        ```
    """

    SCORES = ("mahalanobis", "mahalanobis_z", "knn", "knn_z")

    def __init__(self, k=DEFAULT_K, max_examples=None):
        self.k = validation.positive_int(k, "k")
        self.max_examples = (
            None if max_examples is None else validation.positive_int(max_examples, "max_examples")
        )
        self.detectors = None

    def fit(self, model, x, y, batch_size=256):
        """Fits the four detectors on `model`'s features of `(x, y)`; returns `self`."""
        x, y = x[: self.max_examples], np.asarray(y)[: self.max_examples]
        arrays = feature_arrays(model, x, batch_size)
        labels = np.asarray(y).astype("int64")
        self.detectors = {}
        for kind, suffix in (("features", ""), ("z", "_z")):
            self.detectors["mahalanobis" + suffix] = (
                kind,
                MahalanobisDetector().fit(arrays[kind], labels),
            )
            self.detectors["knn" + suffix] = (kind, KNNDetector(self.k).fit(arrays[kind]))
        return self

    def scores(self, model, x, batch_size=256):
        """`{score name: float64 [N]}` of the four detectors on `x`."""
        if self.detectors is None:
            raise ValueError(
                "FeatureDetectors.scores needs fitted detectors: call "
                "fit(model, x_train, y_train) first."
            )
        arrays = feature_arrays(model, x, batch_size)
        return {
            name: detector.score(arrays[kind]) for name, (kind, detector) in self.detectors.items()
        }
