"""keras_ceb: the Conditional Entropy Bottleneck and the Variational Information Bottleneck,
for Keras 3.

Importing `keras_ceb` is cheap: its submodules and public names load on first use
(`keras_ceb.StochasticEncoder`, `keras_ceb.callbacks`, ...), so that `keras-ceb --help`
answers without importing Keras and TensorFlow. Importing it still registers the serializable
classes (the layers, the metrics and the models) with Keras: at once when Keras is already
imported, else as soon as Keras is. So `import keras_ceb`, then
`keras.models.load_model("m.keras")`, needs no `custom_objects`.

Examples:

    >>> import keras_ceb
    >>> keras_ceb.StochasticEncoder(4).latent_dim
    4
"""

__version__ = "0.1.0"

import importlib as _importlib
import importlib.abc as _importlib_abc
import importlib.util as _importlib_util
import sys as _sys

# Keras-free, and first: JAX on CPU must be configured before its first computation.
from keras_ceb import lazy as _lazy
from keras_ceb import xla_cpu as _xla_cpu

_xla_cpu.apply()

# Public names of the package -> the module that defines them, loaded on first access.
_NAMES = {
    "BackwardEncoder": "keras_ceb.layers",
    "CatGenHead": "keras_ceb.layers",
    "MixtureMarginal": "keras_ceb.layers",
    "StochasticEncoder": "keras_ceb.layers",
    "VCEBHead": "keras_ceb.layers",
    "get_rho": "keras_ceb.rho",
    "set_rho": "keras_ceb.rho",
}
# Submodules reachable as attributes (`keras_ceb.callbacks`), loaded on first access. The
# command line's internals (`cli`, `run_folder`, `validation`, ...) are imported by name.
_SUBMODULES = (
    "attacks",
    "callbacks",
    "datasets",
    "distribute",
    "evaluation",
    "export",
    "inference",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "reporting",
    "rho",
    "training",
    "tuning",
)
# The modules whose import registers keras_ceb's classes with `keras.saving` (the layers, the
# metrics, and the models: `CEBClassifier`, `keras_ceb.models.Sequential` and `Model`).
_SERIALIZABLE_MODULES = ("keras_ceb.layers", "keras_ceb.metrics", "keras_ceb.models")

__all__ = ["__version__", *_NAMES, *_SUBMODULES]


__getattr__, __dir__ = _lazy.lazy_attributes(globals(), _NAMES, _SUBMODULES)


def _register_serializables():
    for module in _SERIALIZABLE_MODULES:
        _importlib.import_module(module)


class _RegisterAfterKerasImport(_importlib_abc.MetaPathFinder):
    """Registers keras_ceb's classes right after `keras` is first imported.

    It finds nothing itself: for the name `keras` it asks the other finders for the spec and
    extends that spec's loader so that, once `keras` has run, the layers and metrics are
    imported (which registers them). It then takes itself off `sys.meta_path`.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        _remove_hook()
        spec = _importlib_util.find_spec("keras")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        run_keras = loader.exec_module

        def exec_module(module):
            run_keras(module)
            del loader.exec_module  # Back to the loader's own method.
            _register_serializables()

        loader.exec_module = exec_module
        return spec


def _remove_hook():
    _sys.meta_path[:] = [f for f in _sys.meta_path if not isinstance(f, _RegisterAfterKerasImport)]


def _install():
    keras_module = _sys.modules.get("keras")
    if keras_module is not None and not getattr(
        getattr(keras_module, "__spec__", None), "_initializing", False
    ):
        _register_serializables()
    elif keras_module is None:
        _remove_hook()
        _sys.meta_path.insert(0, _RegisterAfterKerasImport())


_install()
