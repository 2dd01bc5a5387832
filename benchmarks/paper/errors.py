"""`ReproduceError`: a problem the user can fix (missing data, an output folder in the way)."""


class ReproduceError(Exception):
    """A reproduction cannot go on; the message says why and what to do, in one line.

    `python -m benchmarks.paper` prints it as `python -m benchmarks.paper: error: <message>`.
    """
