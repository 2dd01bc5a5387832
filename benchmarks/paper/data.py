"""`ReproductionData`: the arrays a reproduction trains and measures on."""

import dataclasses

import numpy as np

from keras_ceb.evaluation import ood_sets as ood_sets_lib

NOISE_SEED = 0


@dataclasses.dataclass(frozen=True)
class ReproductionData:
    """Training and test arrays, and the OoD sets every model is scored on.

    Attributes:
        dataset: Dataset name, e.g. `"fashion_mnist"`.
        class_names: One name per class.
        x_train, y_train: Training images (float32 NHWC in [0, 1]) and int labels.
        x_test, y_test: Test images and labels.
        x_in: The in-distribution images of the OoD evaluation (the first test images).
        ood_sets: Dict `{name: images}` of the OoD sets that do not depend on the model (the
            CW-L2 set is made per model).
    """

    dataset: str
    class_names: tuple
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_in: np.ndarray
    ood_sets: dict

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    def sizes(self):
        """The number of images of each part, JSON-ready."""
        return {
            "train": int(len(self.x_train)),
            "test": int(len(self.x_test)),
            "ood_in": int(len(self.x_in)),
            **{f"ood_{name}": int(len(x)) for name, x in self.ood_sets.items()},
        }


def make_data(
    dataset, class_names, train, test, ood_examples, train_examples=None, extra_ood_sets=None
):
    """The `ReproductionData` of a dataset: the paper's noise and flip sets, extra sets, and
    OpenOOD's 90-degree rotation (near) and Gaussian noise (far) for square images.

    Args:
        dataset: Dataset name.
        class_names: One name per class.
        train: `(x_train, y_train)`.
        test: `(x_test, y_test)`.
        ood_examples: Images per OoD set, and in-distribution images (the first test images).
        train_examples: Keep the first this many training images (`None`: all).
        extra_ood_sets: Dict of more OoD image sets (e.g. `{"mnist": x}`), cut to
            `ood_examples`.

    Examples:

        >>> x = np.zeros((8, 4, 4, 1), "float32"); y = np.arange(8) % 2
        >>> data = make_data("toy", ("a", "b"), (x, y), (x, y), ood_examples=4)
        >>> data.sizes()
        {'train': 8, 'test': 8, 'ood_in': 4, 'ood_uniform_noise': 4, 'ood_vertical_flip': 4,
         'ood_rotate_90': 4, 'ood_gaussian_noise': 4}
    """
    x_train, y_train = train
    x_test, y_test = test
    x_train, y_train = x_train[:train_examples], np.asarray(y_train[:train_examples])
    x_in = x_test[:ood_examples]
    sets = ood_sets_lib.paper_ood_sets(x_in, seed=NOISE_SEED)
    for name, images in (extra_ood_sets or {}).items():
        sets[name] = ood_sets_lib.mnist_test_images(
            images[:ood_examples], image_shape=x_in.shape[1:]
        )
    if x_in.shape[1] == x_in.shape[2]:  # OpenOOD's near rotation needs square images
        standard = ood_sets_lib.standard_ood_sets(x_in, seed=NOISE_SEED)
        sets["rotate_90"], sets["gaussian_noise"] = (
            standard["rotate_90"],
            standard["gaussian_noise"],
        )
    return ReproductionData(
        dataset, tuple(class_names), x_train, y_train, x_test, np.asarray(y_test), x_in, sets
    )
