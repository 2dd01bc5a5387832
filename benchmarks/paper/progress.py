"""One progress bar over the whole plan of a reproduction, with an ETA.

The units are the plan's trainings, evaluations, memorization runs and the report. In a
terminal the bar is redrawn in place (`\\r`) with the unit at work and its epoch; anywhere else
(a log file, a pipe, CI) it prints one line per finished unit instead.

The ETA adds, over the units left, the mean time of the units of the same kind that ran in this
invocation (units found done take no time and are not counted); before any unit of a kind has
run, the mean over all kinds stands in for it.
"""

import sys
import time

from keras_ceb import reporting

MODES = ("auto", "bar", "lines", "off")
BAR_WIDTH = 24


def format_duration(seconds):
    """`1h02m`, `12m05s` or `42s`.

    Examples:

        >>> format_duration(3725), format_duration(725), format_duration(42.4)
        ('1h02m', '12m05s', '42s')
    """
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Counts finished units of a plan and shows them.

    Args:
        units: The plan (a list of `presets.Unit`).
        mode: `"bar"` (redrawn in place), `"lines"` (one line per unit), `"off"`, or `"auto"`:
            a bar when `stream` is a terminal, else lines.
        stream: Where to write; default `sys.stdout`.
        clock: A function returning seconds (for tests).

    Examples:

        >>> import io
        >>> from benchmarks.paper import presets
        >>> units = [presets.Unit("train", presets.ModelSpec("determ"), 0), presets.Unit("report")]
        >>> stream = io.StringIO()
        >>> clock = iter([0, 0, 60, 60]).__next__
        >>> progress = Progress(units, mode="lines", stream=stream, clock=clock)
        >>> progress.start(units[0]); progress.finish(units[0])
        >>> print(stream.getvalue().strip())
        [1/2] train determ_seed0: done in 1m00s (elapsed 1m00s, ETA 1m00s)
    """

    def __init__(self, units, mode="auto", stream=None, clock=time.monotonic):
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
        self.units = list(units)
        self.stream = sys.stdout if stream is None else stream
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.times = {}  # kind -> seconds of the units that ran now
        self.current = None
        self.unit_started = None
        self.detail = ""

    @property
    def total(self):
        return len(self.units)

    def eta(self):
        """Seconds left by the means of this run, or `None` before any unit has run."""
        measured = [t for times in self.times.values() for t in times]
        if not measured:
            return None
        overall = sum(measured) / len(measured)
        left = 0.0
        for unit in self.units[self.done :]:
            times = self.times.get(unit.kind)
            left += sum(times) / len(times) if times else overall
        if self.current is not None and self.unit_started is not None:
            left = max(left - (self.clock() - self.unit_started), 0.0)
        return left

    def start(self, unit):
        """A unit begins."""
        self.current, self.unit_started, self.detail = unit, self.clock(), ""
        self._draw()

    def update(self, detail):
        """A note on the unit at work (e.g. `"epoch 3/20"`), shown in the bar."""
        self.detail = detail
        self._draw()

    def finish(self, unit, cached=False, note=""):
        """A unit ends; `cached` when it was found done and nothing ran."""
        seconds = 0.0 if self.unit_started is None else self.clock() - self.unit_started
        if not cached:
            self.times.setdefault(unit.kind, []).append(seconds)
        self.done += 1
        self.current, self.unit_started, self.detail = None, None, ""
        if self.mode == "lines":
            what = "found done, skipped" if cached else f"done in {format_duration(seconds)}"
            self._write(
                f"[{self.done}/{self.total}] {unit.key}: {what}{note} ({self._times_text()})\n"
            )
        else:
            self._draw()

    def close(self):
        """Ends the bar's line."""
        if self.mode == "bar":
            self._draw()
            self._write("\n")

    def _times_text(self):
        eta = self.eta()
        elapsed = format_duration(self.clock() - self.started)
        return f"elapsed {elapsed}, ETA {'--' if eta is None else format_duration(eta)}"

    def _draw(self):
        if self.mode != "bar":
            return
        filled = int(BAR_WIDTH * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        doing = ""
        if self.current is not None:
            doing = f" | {self.current.key}" + (f" {self.detail}" if self.detail else "")
        line = f"[{bar}] {self.done}/{self.total} units, {self._times_text()}{doing}"
        self._write("\r" + line[:160].ljust(160))

    def _write(self, text):
        if self.mode == "off":
            return
        self.stream.write(text)
        self.stream.flush()


def unit_seconds(progress):
    """The measured seconds per kind of this invocation, JSON-ready."""
    return reporting.to_jsonable({kind: list(times) for kind, times in progress.times.items()})
