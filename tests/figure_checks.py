"""Checks that a saved figure can be read: titles, labelled axes, legends off the data.

`captured_figures()` records every matplotlib `Figure` saved inside it (the plotting
functions save and return paths, not figures), so a test can look at what was drawn.
"""

import contextlib

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@contextlib.contextmanager
def captured_figures():
    """Yields a list that receives each `Figure` saved with `savefig` inside the block."""
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    Figure.savefig = savefig
    try:
        yield saved
    finally:
        Figure.savefig = original


def data_axes(figure):
    """The axes that show data (not colour bars, not empty placeholders)."""
    found = []
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>":
            continue
        if ax.lines or ax.collections or ax.patches:
            found.append(ax)
    return found


def assert_readable(figure, path):
    """A title for the figure or each axes; both axis labels on every axes with data;
    every legend outside every axes; the PNG written."""
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    figure_title = figure._suptitle.get_text() if figure._suptitle is not None else ""
    axes = data_axes(figure)
    assert axes, f"{path.name}: nothing drawn"
    for ax in axes:
        assert figure_title or ax.get_title(), f"{path.name}: no title"
        assert ax.get_xlabel().strip(), f"{path.name}: an axes without an x label"
        assert ax.get_ylabel().strip(), f"{path.name}: an axes without a y label"
    assert_legends_off_the_data(figure, path)


def assert_legends_off_the_data(figure, path):
    """No legend box overlaps the plotting area of an axes with data."""
    renderer = figure.canvas.get_renderer()
    legends = list(figure.legends) + [
        ax.get_legend() for ax in figure.axes if ax.get_legend() is not None
    ]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in data_axes(figure):
            area = ax.get_window_extent(renderer)
            overlap = (
                box.overlaps(area)
                and min(box.x1, area.x1) - max(box.x0, area.x0) > 1
                and min(box.y1, area.y1) - max(box.y0, area.y0) > 1
            )
            assert not overlap, f"{path.name}: a legend lies on the data of {ax.get_title()!r}"
