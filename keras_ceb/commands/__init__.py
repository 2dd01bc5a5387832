"""The `keras-ceb` commands (`keras_ceb.cli` parses the arguments and calls them): the only
code besides `keras_ceb.cli` that reads parsed arguments and names the options in its errors.

- `evaluate`: `keras-ceb evaluate`.
- `tune`: `keras-ceb tune`.
- `errors`: `CLIError` and `Interrupted`, reported as one line.

`keras-ceb train` builds a `keras_ceb.training.TrainConfig` in `keras_ceb.cli` and calls
`keras_ceb.training.train`.
"""
