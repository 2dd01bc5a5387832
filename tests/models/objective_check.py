"""Helpers: eq. 26 (bidirectional CatGen CEB) in NumPy from two bottlenecks of a model."""

import keras
import numpy as np

from keras_ceb.layers import bottleneck
from tests.backend_utils import to_numpy
from tests.layers.catgen_head_test import direction
from tests.layers.catgen_head_test import pairwise


def bottleneck_outputs(model, *encoder_names):
    """The same layers returning the model's output (`"output"`) and each named encoder's
    bottleneck dict: one call runs the whole model, heads included."""
    outputs = {"output": model.output}
    for name in encoder_names:
        outputs[name] = keras.tree.pack_sequence_as(
            {key: None for key in bottleneck.KEYS}, model.get_layer(name).output
        )
    return keras.Model(model.input, outputs)


def catgen_objective(side_x, side_y, bidirectional=True):
    """eq. 26's batch mean from the NumPy bottleneck dicts of the X and Y encoders."""
    nx = {k: np.asarray(to_numpy(v), "float64") for k, v in side_x.items()}
    ny = {k: np.asarray(to_numpy(v), "float64") for k, v in side_y.items()}
    value = direction(nx["log_prob"], pairwise(nx["z"], ny["loc"], ny["scale"]), nx["rho"][0])
    if bidirectional:
        value = value + direction(
            ny["log_prob"], pairwise(ny["z"], nx["loc"], nx["scale"]), ny["rho"][0]
        )
    return value.mean()
