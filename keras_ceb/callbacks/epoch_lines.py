"""`EpochLines`: one line of progress per epoch, for logs, pipes and files."""

import math
import sys
import time

import keras


class EpochLines(keras.callbacks.Callback):
    """Prints one line per epoch: its number, its duration and the epoch's logs.

    Keras's progress bar (`fit(verbose=1)`) redraws itself on a terminal; written to a file
    or a pipe, each update becomes new text (megabytes for a long run), and `verbose=2`
    still prints two lines per epoch. Use `fit(verbose=0, callbacks=[..., EpochLines()])`
    there, with `EpochLines` last so that the logs it prints hold what the other callbacks
    added (held-out estimates, rho). A line is flushed at once, so `tail -f` follows it.

    Args:
        stream: Where to write; default `sys.stdout` at the time of each line.
        keys: Log keys to print, in this order; default all, sorted, with training
            metrics before `val_` ones and `rho` last.
        prefix: Text before each line (e.g. `"trial 2: "`).

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.zeros((32, 8), "float32"), np.arange(32) % 3
        >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[
        ...     keras_ceb.callbacks.EpochLines(keys=["loss"])])  # doctest: +ELLIPSIS
        epoch 1/2 - ...s - loss 1.0986
        epoch 2/2 - ...s - loss 1...
    """

    def __init__(self, stream=None, keys=None, prefix=""):
        super().__init__()
        self.stream = stream
        self.keys = None if keys is None else list(keys)
        if not isinstance(prefix, str):
            raise ValueError(f"`prefix` must be a string. Received: prefix={prefix!r}")
        self.prefix = prefix

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        epochs = (self.params or {}).get("epochs")
        parts = [
            f"epoch {epoch + 1}" + (f"/{epochs}" if epochs else ""),
            f"{time.monotonic() - self._start:.0f}s",
        ]
        keys = self.keys if self.keys is not None else _ordered(logs)
        parts += [f"{key} {_format(logs[key])}" for key in keys if key in logs]
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(self.prefix + " - ".join(parts) + "\n")
        stream.flush()


def _ordered(logs):
    keys = sorted(logs)
    return (
        [k for k in keys if not k.startswith("val_") and k != "rho"]
        + [k for k in keys if k.startswith("val_")]
        + [k for k in keys if k == "rho"]
    )


def _format(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}" if abs(value) >= 1e4 else f"{value:.4f}"
