"""The errors the commands report as one line, without a traceback."""


class CLIError(Exception):
    """An error reported to the user as one line, without a traceback."""


class Interrupted(Exception):
    """A Ctrl-C, reported as one line (what was kept, how to go on) with exit code 130."""
