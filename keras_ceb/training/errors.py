"""The errors of `keras_ceb.training`: each message is one line, ready to show a user."""


class TrainingError(Exception):
    """Bad settings, missing or damaged data, or an unusable output folder; or a run that
    diverged. The message is one line (the data-not-found message lists the places looked
    at); `keras-ceb` prints it as `keras-ceb train: error: <message>`."""


class TrainingInterrupted(KeyboardInterrupt):
    """A Ctrl-C during `train`: the message says what was kept and how to go on."""

    def __str__(self):
        return self.args[0] if self.args else "interrupted"
