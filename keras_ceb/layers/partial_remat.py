"""Rematerialization of a layer's pure part only, for layers with side effects.

Under `keras.RematScope`, Keras wraps a whole `call` in `keras.remat` (`jax.checkpoint`,
`tf.recompute_grad`). A call that samples, adds losses or updates state cannot be wrapped
that way (Keras's own `Dropout` fails there too). The keras_ceb layers instead rematerialize
their pure part (the projections from features to distribution parameters, the density
matrices) and keep the side effects outside: their memory is saved, and training works.
"""

import keras


class PartialRemat:
    """Mixin for a `keras.layers.Layer`: `self.remat(fn)` is `keras.remat(fn)` under a scope.

    Examples:

        >>> class Scaled(PartialRemat, keras.layers.Layer):
        ...     def call(self, x):
        ...         return self.remat(lambda v: v * 2.0)(x)
        >>> with keras.RematScope(mode="full"):
        ...     layer = Scaled()
        >>> float(layer(keras.ops.ones(()))), layer.remat_pure_part
        (2.0, True)
    """

    remat_pure_part = False

    def rematerialized_call(self, layer_call, *args, **kwargs):
        if super().rematerialized_call(layer_call, *args, **kwargs) is not layer_call:
            self.remat_pure_part = True
        return layer_call

    def remat(self, fn):
        """`fn`, rematerialized when the layer was created under a `keras.RematScope`."""
        return keras.remat(fn) if self.remat_pure_part else fn
