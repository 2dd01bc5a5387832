"""Training as a library: a typed, frozen `TrainConfig` and `train(config)`, the one recipe.

`keras-ceb train` builds a `TrainConfig` from its options and calls `train`; the reproducer
does too; so can a notebook:

    from keras_ceb.training import TrainConfig, train
    result = train(TrainConfig(objective="ceb", rho=0.0, epochs=2, out="runs/ceb"))

`evaluate(EvaluateConfig("runs/ceb/model.keras", ood=True))` measures a saved classifier as
`keras-ceb evaluate` does. `TrainConfig` (and `presets`) import no Keras, so that `keras-ceb
--help` derives its options from the config at once; `train`, `TrainResult` and the rest load
on first use.
"""

from keras_ceb import lazy
from keras_ceb.training.config import TrainConfig
from keras_ceb.training.errors import TrainingError
from keras_ceb.training.errors import TrainingInterrupted

_LAZY = {
    "train": "keras_ceb.training.recipe",
    "TrainResult": "keras_ceb.training.recipe",
    "PRESETS": "keras_ceb.training.presets",
    "get_preset": "keras_ceb.training.presets",
    "load_classifier": "keras_ceb.training.model_files",
    "EvaluateConfig": "keras_ceb.training.evaluate_model",
    "Evaluation": "keras_ceb.training.evaluate_model",
    "evaluate": "keras_ceb.training.evaluate_model",
}

__all__ = ["TrainConfig", "TrainingError", "TrainingInterrupted", *_LAZY]


__getattr__, __dir__ = lazy.lazy_attributes(globals(), _LAZY)
