"""The package's one lazy-import helper (PEP 562 module attributes).

`keras_ceb.StochasticEncoder`, `keras_ceb.callbacks` and `keras_ceb.training.train` load their
module on first use, so that importing `keras_ceb` (and `keras-ceb --help`) imports no Keras.
`keras_ceb.cli` needs no helper: it imports the library inside the functions that use it.
"""

import importlib


def lazy_attributes(module_globals, names, submodules=()):
    """`(__getattr__, __dir__)` for a package whose `names` and `submodules` load on first use.

    Args:
        module_globals: The package's `globals()`; a name, once loaded, is stored there.
        names: `{name: module}`: `package.name` is `module.name`.
        submodules: Names of subpackages reachable as attributes (`package.callbacks`).

    Returns:
        The two functions to assign to the package's `__getattr__` and `__dir__` (which lists
        `__all__`).

    Examples:

        >>> namespace = {"__name__": "demo", "__all__": ["sqrt"]}
        >>> getattr_, dir_ = lazy_attributes(namespace, {"sqrt": "math"})
        >>> getattr_("sqrt")(4.0), "sqrt" in namespace, dir_()
        (2.0, True, ['sqrt'])
    """
    package = module_globals["__name__"]

    def __getattr__(name):
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            module_globals[name] = value
            return value
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(module_globals.get("__all__", ()))

    return __getattr__, __dir__
