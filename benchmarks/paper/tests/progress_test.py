"""The progress bar over the plan."""

import io

from benchmarks.paper import presets
from benchmarks.paper import progress as progress_lib

UNITS = [
    presets.Unit("train", presets.ModelSpec("determ"), 0),
    presets.Unit("evaluate", presets.ModelSpec("determ"), 0),
    presets.Unit("train", presets.ModelSpec("ceb", 0.0), 0),
    presets.Unit("evaluate", presets.ModelSpec("ceb", 0.0), 0),
    presets.Unit("report"),
]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_when_not_a_terminal_with_an_eta_by_kind():
    clock, stream = Clock(), io.StringIO()
    bar = progress_lib.Progress(UNITS, stream=stream, clock=clock)
    assert bar.mode == "lines"
    bar.start(UNITS[0])
    clock.now = 100
    bar.finish(UNITS[0])
    bar.start(UNITS[1])
    clock.now = 110
    bar.finish(UNITS[1])
    # Left: one training (100 s), one evaluation (10 s), the report (the mean, 55 s).
    assert bar.eta() == 165
    bar.start(UNITS[2])
    bar.finish(UNITS[2], cached=True)  # found done: no time counted
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[1/5] train determ_seed0: done in 1m40s (elapsed 1m40s, ETA 6m40s)"
    assert lines[2].startswith("[3/5] train ceb_rho0_seed0: found done, skipped")
    assert bar.times == {"train": [100.0], "evaluate": [10.0]}


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_in_a_terminal_redraws_one_line():
    stream = Terminal()
    bar = progress_lib.Progress(UNITS, stream=stream, clock=Clock())
    assert bar.mode == "bar"
    bar.start(UNITS[0])
    bar.update("epoch 1/2 done")
    bar.finish(UNITS[0])
    bar.close()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "train determ_seed0 epoch 1/2 done" in text
    assert "1/5 units" in text


def test_off_writes_nothing():
    stream = io.StringIO()
    bar = progress_lib.Progress(UNITS, mode="off", stream=stream)
    bar.start(UNITS[0])
    bar.finish(UNITS[0])
    bar.close()
    assert stream.getvalue() == ""
