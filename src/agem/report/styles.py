"""One fixed look per method, the same in every figure of every run, and the print settings.

A method's colour, marker and line style are keyed by its *name*, never by its position in the
config: adding a method changes no other method's look. The known methods (the paper's, and
``er`` reserved for experience replay) have hand-picked styles; colours come from the
colour-blind-safe palettes of Okabe & Ito and of Paul Tol, and no two known methods share a
marker, so every line stays identifiable in greyscale and for colour-blind readers. Line styles
group the families: memory-based solid, regularisation dashed, the rest dotted or dash-dotted.
A method not listed here (a user's own, registered by a plugin) gets a solid line, a saturated
colour and a marker that no known method uses, derived from a hash of its name (stable across
runs): never grey or dashed, so it is not mistaken for MULTI-TASK's reference line or a regulariser.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import matplotlib as mpl


@dataclass(frozen=True)
class MethodStyle:
    colour: str
    marker: str
    linestyle: str | tuple

    def line_kwargs(self) -> dict:
        return {"color": self.colour, "marker": self.marker, "linestyle": self.linestyle}


SOLID, DASHED, DOTTED, DASHDOT = "-", (0, (4, 2)), (0, (1, 1.5)), (0, (5, 1.5, 1, 1.5))

METHOD_STYLES: dict[str, MethodStyle] = {
    # memory-based: solid
    "agem": MethodStyle("#D55E00", "o", SOLID),     # vermillion: the paper's method stands out
    "gem": MethodStyle("#0072B2", "s", SOLID),      # blue
    "sgem": MethodStyle("#56B4E9", "D", SOLID),     # sky blue
    "icarl": MethodStyle("#CC79A7", "P", SOLID),    # reddish purple
    "er": MethodStyle("#E69F00", "X", SOLID),       # orange, reserved for experience replay
    # regularisation-based: dashed
    "ewc": MethodStyle("#009E73", "^", DASHED),     # bluish green
    "pi": MethodStyle("#999933", "v", DASHED),      # olive
    "mas": MethodStyle("#332288", "<", DASHED),     # indigo
    "rwalk": MethodStyle("#882255", ">", DASHED),   # wine
    # architecture and baselines
    "prognn": MethodStyle("#44AA99", "h", DASHDOT),  # teal
    "van": MethodStyle("#000000", "x", DOTTED),     # black
    "multitask": MethodStyle("#777777", "*", (0, (6, 2, 1, 2, 1, 2))),  # grey; a reference line
}
ALIASES = {"prog_nn": "prognn", "a_gem": "agem"}

# For methods not listed above: saturated colours and markers no known method uses, a solid line.
_SPARE_COLOURS = ("#661100", "#6699CC", "#AA4499", "#117733", "#DDAA33", "#BB5566", "#004488", "#994F00")
_SPARE_MARKERS = ("d", "p", "8", "H", "1", "2", "3", "4", "+", "|")


def method_style(method: str) -> MethodStyle:
    """The style of ``method``: its own if known, else one derived from its name alone."""
    method = ALIASES.get(method, method)
    if method in METHOD_STYLES:
        return METHOD_STYLES[method]
    code = zlib.crc32(method.encode("utf-8"))  # stable across processes, unlike hash()
    return MethodStyle(_SPARE_COLOURS[code % len(_SPARE_COLOURS)],
                       _SPARE_MARKERS[(code // 8) % len(_SPARE_MARKERS)], SOLID)


# Print size: a figure is drawn at the width it is printed (a two-column paper's text width,
# 7 in), so 8 pt on the canvas is 8 pt on paper.
TEXT_WIDTH_IN = 7.0
FONT_PT = 8
PAPER_RC = {
    "font.size": FONT_PT, "axes.titlesize": FONT_PT, "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT, "ytick.labelsize": FONT_PT, "legend.fontsize": FONT_PT,
    "figure.titlesize": FONT_PT, "lines.linewidth": 1.2, "lines.markersize": 4,
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays text, editable and searchable
    "savefig.dpi": 300,
}


def paper_theme() -> None:
    """Seaborn's white grid at the print font sizes."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", rc=PAPER_RC)
    mpl.rcParams.update(PAPER_RC)
