"""`ReproduceError`: a problem the user can fix (missing data, an output folder in the way)."""


class ReproduceError(Exception):
    """A reproduction cannot go on; the message says why and what to do, in one line.

    `keras-ceb reproduce` prints it as `keras-ceb reproduce: error: <message>`.
    """
