"""The paper's figures (docs/reproduction.md#artefacts) drawn from run files; each saved as PNG and PDF.

``fig1_bars``               A_T, F_T, LCA_10, time and memory relative to the most expensive method,
                            one row of bars per dataset (paper Fig. 1).
``fig2_cub_awa_je``         A_T, F_T, LCA_10 per method, standard vs joint embedding (Fig. 2).
``fig3_accuracy_vs_tasks``  A_k vs number of tasks per method, MULTI-TASK as a horizontal line (Fig. 3 top).
``fig3_lca_vs_beta``        LCA_β vs β = 0..10 (Fig. 3 bottom).
``fig4_lca_cub_awa_je``     LCA_β vs β, standard (hollow markers) vs joint embedding (filled) (Fig. 4).
``fig5_zero_shot``          zero-shot accuracy a_{k,0,k} per task, standard vs joint embedding (Fig. 5).
``fig6_violations``         constraint violations per task: GEM, A-GEM and S-GEM (Fig. 6).
``fig7_epochs_accuracy``    A_T vs epochs per method, per network size (Fig. 7; the epochs
                            ablation, from ``results/ablation/runs``).
``fig8_epochs_forgetting``  F_T vs epochs, the same runs (Fig. 8).

Every figure is drawn at print size (:data:`agem.report.styles.TEXT_WIDTH_IN`, fonts of 8 pt),
each method in its fixed style (:func:`agem.report.styles.method_style`), and says in its own
title what it shows: the seeds behind each mean and what the band or whisker is (± 1 std over
the non-diverged seeds, ddof=0; none with one seed), and the key to its marks ("–" undefined,
‡ beyond the paper). Only datasets with runs get a panel; a figure without any data
is not drawn at all (:func:`draw_figures` leaves it out, the gallery says "not run"). A method
whose every seed diverged is named in the panel title and once in the legend, "(diverged)".
Figures 2, 4 and 5 pair each benchmark ``<name>`` with its joint-embedding variant ``<name>_je``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from agem.io.atomic import atomic_output  # noqa: E402
from agem.report.frames import (  # noqa: E402
    ablation_frame,
    lca_frame,
    load_runs,
    main_table,
    mean_std,
    per_seed_metrics,
    per_task_frame,
)
from agem.report.labels import (  # noqa: E402
    beyond_the_paper_note,
    dataset_label,
    method_label,
    resolve_order,
    table_method_label,
)
from agem.report.paper import ARTEFACTS, JE_SUFFIX  # noqa: E402
from agem.report.styles import TEXT_WIDTH_IN, method_style, paper_theme  # noqa: E402
from agem.runs.runfile import RunRecord  # noqa: E402

MULTITASK = "multitask"
VIOLATION_METHODS = ("gem", "agem")
DPI = 300
_PANEL_HEIGHT_IN = 2.3
_MAX_COLUMNS = 3
_PM_STD = "±\u00a01\u00a0std"  # no-break spaces: the caption never wraps inside it
UNDEFINED_NOTE = "–: undefined (MULTI-TASK, trained on all tasks at once, has no F_T or LCA_10)"
# PDF: no creation date, a fixed producer, so a rebuild from the same runs gives the same bytes.
# PNG: matplotlib writes only "Software" (its version), no time.
SAVE_METADATA = {"pdf": {"CreationDate": None, "Producer": "agem-repro (matplotlib)"}, "png": {}}


def save_figure(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (dpi 300) and ``stem.pdf`` (vector) atomically, then close it."""
    paths = []
    for fmt in ("png", "pdf"):
        path = Path(out_dir) / f"{stem}.{fmt}"
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=SAVE_METADATA[fmt])
        paths.append(path)
    plt.close(fig)
    return paths


# --- what a figure says about its data -----------------------------------------------------------
def seed_counts(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> dict[tuple[str, str], int]:
    """Non-diverged seeds behind each dataset × method with runs (diverged-only pairs: 0)."""
    counts = {}
    for (dataset, method), runs in frame.groupby(["dataset", "method"], sort=False):
        if dataset in datasets and method in methods:
            counts[dataset, method] = runs.loc[~runs["diverged"].astype(bool), "seed"].nunique()
    return counts


def seeds_text(counts: dict[tuple[str, str], int]) -> str:
    """"3 seeds", or "2–3 seeds (MAS, Permuted digits: 2)" when they differ; diverged-only
    pairs (0 seeds) are named in the panel titles instead."""
    drawn = {key: n for key, n in counts.items() if n > 0}
    if not drawn:
        return "no seeds"
    values = sorted(set(drawn.values()))
    if len(values) == 1:
        return f"{values[0]} seed{'s' if values[0] > 1 else ''}"
    most = max(values, key=list(drawn.values()).count)
    fewer = [f"{method_label(m)}, {dataset_label(d)}: {n}" for (d, m), n in drawn.items() if n != most]
    listed = "; ".join(fewer[:3]) + ("; …" if len(fewer) > 3 else "")
    return f"{values[0]}–{values[-1]} seeds ({listed})"


def spread_text(counts: dict[tuple[str, str], int], kind: str = "band") -> str:
    """What the band (or whisker) is: "band: ± 1 std"; with one seed everywhere there is none,
    "one seed: no band"; where only some means have one seed, those have none."""
    drawn = [n for n in counts.values() if n > 0]
    if drawn and max(drawn) == 1:
        return f"one seed: no {kind}"
    text = f"{kind}{'s' if kind == 'whisker' else ''}: {_PM_STD}"
    return text + (" (none where one seed)" if 1 in drawn else "")


def figure_method_label(method: str) -> str:
    """A method's label in a legend or on an axis: as in the tables, ‡ marks one beyond the paper."""
    return table_method_label(method)


def _diverged_methods(frame: pd.DataFrame, datasets: Iterable[str], methods: Sequence[str]) -> list[str]:
    """Methods whose every run on ``datasets`` diverged."""
    runs = frame[frame["dataset"].isin(list(datasets)) & frame["method"].isin(list(methods))]
    diverged = runs.groupby("method", sort=False)["diverged"].apply(lambda d: bool(d.astype(bool).all()))
    return [m for m in methods if diverged.get(m, False)]


def _beyond(methods: Iterable[str]) -> str:
    """The caption's sentence on ‡, when a method beyond the paper is shown."""
    note = beyond_the_paper_note(methods).strip()
    return f" {note}" if note else ""


def _caption(fig: Figure, text: str) -> None:
    """What the figure shows, in the image itself, wrapped to the figure's width."""
    fig.suptitle(textwrap.fill(text, width=105))


def _title(ax: Axes, text: str, diverged: Sequence[str]) -> None:
    if diverged:
        text += "\n(diverged: " + ", ".join(method_label(m) for m in diverged) + ")"
    ax.set_title(text)


def _with_runs(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str] | None = None) -> list[str]:
    """The ``datasets`` that have at least one run (of ``methods``, if given) in ``frame``."""
    if frame.empty:
        return []
    runs = frame if methods is None else frame[frame["method"].isin(list(methods))]
    present = set(runs["dataset"])
    return [d for d in datasets if d in present]


# --- layout ----------------------------------------------------------------------------------------
def _panels(n_panels: int, panel_height: float = _PANEL_HEIGHT_IN) -> tuple[Figure, list[Axes]]:
    """One panel per dataset across the text width, wrapped at three columns."""
    ncols = min(n_panels, _MAX_COLUMNS)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(TEXT_WIDTH_IN, panel_height * nrows + 0.9))
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def _legend(fig: Figure, handles: dict[str, object], ncols: int = 5) -> None:
    """One legend below all panels, each entry once."""
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center",
                   ncols=min(len(handles), ncols), frameon=False, handlelength=2.6)


def method_legend(methods: Sequence[str], drawn: Iterable[str], diverged: Iterable[str]) -> dict[str, Line2D]:
    """Legend entries in the order of ``methods``: each drawn method once in its style, and a
    method that only diverged once, marked "(diverged)", with its marker and no line."""
    drawn, diverged = set(drawn), set(diverged)
    handles = {}
    for method in methods:
        style = method_style(method).line_kwargs()
        if method in drawn:
            handles[figure_method_label(method)] = Line2D([], [], **style)
        elif method in diverged:
            handles[f"{figure_method_label(method)} (diverged)"] = Line2D([], [], **{**style, "linestyle": "none"})
    return handles


def _select(frame: pd.DataFrame, dataset: str, method: str) -> pd.DataFrame:
    return frame[(frame["dataset"] == dataset) & (frame["method"] == method)]


def _plot_mean_band(ax: Axes, runs: pd.DataFrame, x: str, y: str, method: str, **overrides) -> bool:
    """Mean over the non-diverged seeds with a ± 1 std band, in the method's style; False when
    there was nothing to draw (no runs, or every seed diverged)."""
    kept = runs[~runs["diverged"].astype(bool)]
    if kept.empty:
        return False
    by_seed = kept.pivot(index="seed", columns=x, values=y)
    mean, std = mean_std(by_seed.to_numpy(), axis=0)
    xs = by_seed.columns.to_numpy()
    style = {**method_style(method).line_kwargs(), "markevery": max(1, len(xs) // 10), **overrides}
    ax.plot(xs, mean, **style)
    if len(by_seed) > 1:  # one seed has no spread to show
        ax.fill_between(xs, mean - std, mean + std, color=style["color"], alpha=0.15, linewidth=0)
    return True


def _curve_figure(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str], x: str, y: str,
                  xlabel: str, ylabel: str, what: str) -> tuple[Figure, list[Axes], dict] | None:
    """One panel per dataset with runs, one mean ± std curve per method; None without data."""
    shown = _with_runs(frame, datasets, methods)
    if not shown:
        return None
    fig, axes = _panels(len(shown))
    drawn, diverged = set(), set()
    for ax, dataset in zip(axes, shown):
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        diverged_here = _diverged_methods(frame, [dataset], methods)
        _title(ax, dataset_label(dataset), diverged_here)
        diverged.update(diverged_here)
        drawn.update(m for m in methods if _plot_mean_band(ax, _select(frame, dataset, m), x, y, m))
    counts = seed_counts(frame, shown, methods)
    _caption(fig, f"{what}. Mean over {seeds_text(counts)}, {spread_text(counts)}.{_beyond(drawn | diverged)}")
    return fig, axes, method_legend(methods, drawn, diverged)


def fig3_accuracy_vs_tasks(per_task: pd.DataFrame, main: pd.DataFrame, datasets: Sequence[str],
                           methods: Sequence[str]) -> Figure | None:
    """A_k (%) vs number of tasks k = 1..T (paper Fig. 3 top); MULTI-TASK, trained on all tasks
    at once, has only A_T and is drawn as a horizontal line at it, without markers."""
    per_task = per_task.assign(A_k=100.0 * per_task["A_k"])
    curves = [m for m in methods if m != MULTITASK]
    drawn = _curve_figure(per_task, datasets, curves, "task", "A_k", "Tasks learned, k",
                          "Average accuracy, $A_k$ (%)", "Average accuracy after each task")
    if drawn is None:
        return None
    fig, axes, handles = drawn
    shown = _with_runs(per_task, datasets, curves)
    for ax, dataset in zip(axes, shown):
        multitask = _select(main, dataset, MULTITASK)
        if MULTITASK in methods and not multitask.empty and np.isfinite(multitask["A_T_mean"].iloc[0]):
            style = method_style(MULTITASK)
            ax.axhline(multitask["A_T_mean"].iloc[0], color=style.colour, linestyle=style.linestyle)
            handles["MULTI-TASK (joint, $A_T$)"] = Line2D([], [], color=style.colour,
                                                                       linestyle=style.linestyle)
    _legend(fig, handles)
    return fig


def fig3_lca_vs_beta(lca: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str],
                     batches: str = "") -> Figure | None:
    """LCA_β vs β = 0..10 (paper Fig. 3 bottom), MULTI-TASK excluded: it has no learning curve."""
    drawn = _curve_figure(lca, datasets, [m for m in methods if m != MULTITASK], "beta", "LCA",
                          f"Mini-batches{batches} seen on the task, β", r"Learning curve area, LCA$_\beta$",
                          "How fast each task is learned")
    if drawn is None:
        return None
    fig, _, handles = drawn
    _legend(fig, handles)
    return fig


def fig6_violations(per_task: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure | None:
    """Steps per task whose gradient violated a constraint: GEM and A-GEM (paper Fig. 6), and any
    other method with violations (S-GEM). None without GEM or A-GEM runs."""
    with_violations = set(per_task.loc[per_task["violations"] > 0, "method"]) if not per_task.empty else set()
    shown_methods = [m for m in methods if m in VIOLATION_METHODS or m in with_violations]
    datasets = _with_runs(per_task, datasets, [m for m in methods if m in VIOLATION_METHODS])
    drawn = _curve_figure(per_task, datasets, shown_methods, "task", "violations", "Task, k",
                          "Steps violating a constraint", "Constraint violations while learning each task")
    if drawn is None:
        return None
    fig, _, handles = drawn
    _legend(fig, handles)
    return fig


# --- bars (Figs. 1, 2) -----------------------------------------------------------------------------
# Panels of Fig. 1: (column of the main table, its std column or None, title, relative to max?).
_FIG1_PANELS = (
    ("A_T_mean", "A_T_std", "Average accuracy\n$A_T$ (%)", False),
    ("F_T_mean", "F_T_std", "Forgetting\n$F_T$", False),
    ("LCA10_mean", "LCA10_std", "Learning curve\narea, LCA$_{10}$", False),
    ("train_seconds_mean", None, "Time\n(rel. to slowest)", True),
    ("memory_bytes", None, "Memory\n(rel. to largest)", True),
)
_BAR_ROW_IN = 0.15
_INVISIBLE = 0.01  # a bar shorter than this share of the panel's longest is marked and labelled


def _relative(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    return values / finite.max() if finite.size and finite.max() > 0 else values * np.nan


def _hbars(ax: Axes, values: np.ndarray, errors: np.ndarray | None, methods: Sequence[str],
           y: np.ndarray, ran: np.ndarray, height: float = 0.8, hatch: str | None = None,
           alpha: float = 1.0) -> bool:
    """One horizontal bar per method at rows ``y``, ± std whiskers where there is a spread.
    +inf (every seed diverged) is written "∞ diverged", NaN of a method that ran (undefined) "–",
    a method that did not run (``ran`` False) is left empty. A bar too short to see (PROG-NN's
    F_T = 0) gets a tick mark at its end and its value. Returns whether a "–" was written."""
    colours = [method_style(m).colour for m in methods]
    finite = np.isfinite(values)
    ax.barh(y[finite], values[finite], height=height, color=[c for c, f in zip(colours, finite) if f],
            hatch=hatch, alpha=alpha, edgecolor="white" if hatch else None, linewidth=0)
    # Whiskers only where there is a spread: one seed has none, and a zero-length whisker still draws caps.
    spread = finite & np.isfinite(errors) if errors is not None else np.zeros_like(finite)
    if spread.any():
        ax.errorbar(values[spread], y[spread], xerr=errors[spread], fmt="none", ecolor="black",
                    elinewidth=0.8, capsize=1.5, alpha=alpha)
    longest = np.abs(values[finite]).max() if finite.any() else 0.0
    for i in np.flatnonzero(finite & (np.abs(np.where(finite, values, 0.0)) <= _INVISIBLE * longest)):
        ax.plot([values[i]], [y[i]], marker="|", markersize=7, markeredgewidth=1.5, color=colours[i], alpha=alpha,
                gid="short bar")
        ax.text(values[i], y[i], f"  {0.0 if values[i] == 0 else values[i]:.2g}", ha="left", va="center", color=colours[i])
    undefined = False
    for i in np.flatnonzero(~finite & ran):
        undefined |= not np.isposinf(values[i])
        text = "∞ diverged" if np.isposinf(values[i]) else "–"
        ax.text(0, y[i], " " + text, ha="left", va="center", color=colours[i] if np.isposinf(values[i]) else "0.4")
    return undefined


def _bar_rows(n_rows: int, n_columns: int, n_methods: int) -> tuple[Figure, np.ndarray]:
    height = n_rows * (n_methods * _BAR_ROW_IN + 0.55) + 0.5
    return plt.subplots(n_rows, n_columns, squeeze=False, sharey="row", layout="constrained",
                        figsize=(TEXT_WIDTH_IN, height))


def _method_axis(ax: Axes, methods: Sequence[str], ylabel: str) -> None:
    ax.set_yticks(np.arange(len(methods)), [figure_method_label(m) for m in methods])
    ax.set_ylim(len(methods) - 0.5, -0.5)  # the first method on top
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", visible=False)


def fig1_bars(main: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure | None:
    """Per dataset with runs, bars per method of A_T, F_T, LCA_10 (± std over seeds) and of time and
    memory relative to the most expensive method (paper Fig. 1). None without runs."""
    shown = _with_runs(main, datasets, methods)
    if not shown:
        return None
    methods = [m for m in methods if m in set(main.loc[main["dataset"].isin(shown), "method"])]
    fig, axes = _bar_rows(len(shown), len(_FIG1_PANELS), len(methods))
    y = np.arange(len(methods))
    undefined = False
    for row, dataset in zip(axes, shown):
        # A method without runs on this dataset becomes a NaN row: its place stays empty.
        table = main[main["dataset"] == dataset].set_index("method").reindex(list(methods))
        ran = table["n_seeds"].notna().to_numpy()
        for ax, (column, std_column, title, relative) in zip(row, _FIG1_PANELS):
            values = table[column].to_numpy(dtype=np.float64)
            errors = None if std_column is None else table[std_column].to_numpy(dtype=np.float64)
            undefined |= _hbars(ax, _relative(values) if relative else values, errors, methods, y, ran)
            ax.set_title(title)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=3))
        _method_axis(row[0], methods, dataset_label(dataset))
    counts = {(d, m): int(n) for d, m, n in main[["dataset", "method", "n_seeds"]].itertuples(index=False)
              if d in shown and m in methods}
    _caption(fig, f"Mean over {seeds_text(counts)}; {spread_text(counts, 'whisker')}. Time and memory: measured, "
                  f"relative to the most expensive method.{_bar_notes(undefined, methods)}")
    return fig


def _bar_notes(undefined: bool, methods: Sequence[str]) -> str:
    """The caption's key to the bar figures' marks: "–", and ‡ where shown."""
    return (f" {UNDEFINED_NOTE}." if undefined else "") + _beyond(methods)


# --- standard vs joint embedding (Figs. 2, 4, 5) ---------------------------------------------------
def je_pairs(datasets: Sequence[str]) -> list[tuple[str, str]]:
    """(standard, joint embedding) dataset pairs: each ``<name>`` with ``<name>_je``, in order."""
    standard = [d for d in datasets if not d.endswith(JE_SUFFIX)]
    standard += [d.removesuffix(JE_SUFFIX) for d in datasets
                 if d.endswith(JE_SUFFIX) and d.removesuffix(JE_SUFFIX) not in standard]
    return [(d, d + JE_SUFFIX) for d in standard]


def _pairs_with_runs(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> list[tuple[str, str]]:
    present = set(_with_runs(frame, [d for pair in je_pairs(datasets) for d in pair], methods))
    return [pair for pair in je_pairs(datasets) if present & set(pair)]


def _pair_title(pair: tuple[str, str]) -> str:
    return f"{dataset_label(pair[0])}: standard vs joint embedding"


# Standard: hollow markers and light hatched bars; joint embedding: filled markers, solid bars.
STANDARD_LINE = {"markerfacecolor": "white", "alpha": 0.8}
STANDARD_BAR = {"hatch": "////", "alpha": 0.55}


def fig2_cub_awa_je(main: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure | None:
    """Per benchmark pair (CUB, AWA) with runs, bars per method of A_T, F_T and LCA_10 (± std
    over seeds), standard (light, hatched) above joint embedding (solid) (paper Fig. 2)."""
    pairs = _pairs_with_runs(main, datasets, methods)
    if not pairs:
        return None
    shown = [d for pair in pairs for d in pair]
    methods = [m for m in methods if m in set(main.loc[main["dataset"].isin(shown), "method"])]
    panels = _FIG1_PANELS[:3]
    fig, axes = _bar_rows(len(pairs), len(panels), 2 * len(methods))
    y = np.arange(len(methods))
    undefined = False
    for row, pair in zip(axes, pairs):
        for ax, (column, std_column, title, _) in zip(row, panels):
            for offset, dataset, style in ((-0.2, pair[0], STANDARD_BAR), (0.2, pair[1], {})):
                table = main[main["dataset"] == dataset].set_index("method").reindex(list(methods))
                undefined |= _hbars(ax, table[column].to_numpy(dtype=np.float64),
                                    table[std_column].to_numpy(dtype=np.float64), methods, y + offset,
                                    table["n_seeds"].notna().to_numpy(), 0.4, **style)
            ax.set_title(title)
        _method_axis(row[0], methods, _pair_title(pair).replace(": ", "\n"))
    counts = {(d, m): int(n) for d, m, n in main[["dataset", "method", "n_seeds"]].itertuples(index=False)
              if d in shown and m in methods}
    _caption(fig, f"Mean over {seeds_text(counts)}; {spread_text(counts, 'whisker')}.{_bar_notes(undefined, methods)}")
    _legend(fig, {"standard (hatched, upper bar)": Patch(facecolor="0.6", hatch="////"),
                  "joint embedding (solid, lower bar)": Patch(facecolor="0.3")})
    return fig


def _pair_curve_figure(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str], x: str, y: str,
                       xlabel: str, ylabel: str, what: str) -> Figure | None:
    """One panel per benchmark pair with runs; per method a curve for standard (hollow markers,
    lighter) and joint embedding (filled markers). None without runs."""
    pairs = _pairs_with_runs(frame, datasets, methods)
    if not pairs:
        return None
    fig, axes = _panels(len(pairs))
    drawn, diverged = set(), set()
    for ax, pair in zip(axes, pairs):
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        diverged_here = _diverged_methods(frame, pair, methods)
        _title(ax, _pair_title(pair), diverged_here)
        diverged.update(diverged_here)
        for method in methods:
            for dataset, overrides in zip(pair, (STANDARD_LINE, {})):
                if _plot_mean_band(ax, _select(frame, dataset, method), x, y, method, **overrides):
                    drawn.add(method)
    shown = [d for pair in pairs for d in pair]
    counts = seed_counts(frame, shown, methods)
    _caption(fig, f"{what}. Mean over {seeds_text(counts)}, {spread_text(counts)}.{_beyond(drawn | diverged)}")
    handles = method_legend(methods, drawn, diverged)
    handles["standard (hollow markers)"] = Line2D([], [], color="0.3", marker="o", **STANDARD_LINE)
    handles["joint embedding (filled markers)"] = Line2D([], [], color="0.3", marker="o")
    _legend(fig, handles)
    return fig


def fig4_lca_cub_awa_je(lca: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str],
                        batches: str = "") -> Figure | None:
    """LCA_β vs β on CUB and AWA, standard vs joint embedding (paper Fig. 4)."""
    return _pair_curve_figure(lca, datasets, [m for m in methods if m != MULTITASK], "beta", "LCA",
                              f"Mini-batches{batches} seen on the task, β", r"Learning curve area, LCA$_\beta$",
                              "How fast each task is learned")


def fig5_zero_shot(per_task: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure | None:
    """Zero-shot accuracy a_{k,0,k} (%), before any update on task k, per task; standard vs joint
    embedding (paper Fig. 5): only the JE head can score above chance there."""
    per_task = per_task.assign(zero_shot=100.0 * per_task["zero_shot"])
    return _pair_curve_figure(per_task, datasets, [m for m in methods if m != MULTITASK], "task", "zero_shot",
                              "Task, k", r"Zero-shot accuracy, $a_{k,0,k}$ (%)",
                              "Accuracy on each task before training on it")


# --- epochs ablation (Figs. 7, 8) ----------------------------------------------------------------
# Marker fill of the networks in the order the config lists them (small first: hollow).
NETWORK_STYLES = ({"markerfacecolor": "white", "alpha": 0.8}, {}, {"markerfacecolor": "none", "linestyle": ":"})


def _epochs_figure(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str], metric: str,
                   ylabel: str, what: str) -> Figure | None:
    """One panel per dataset with runs: ``metric`` vs epochs, a style per method, a marker fill
    per network. None without runs."""
    shown = _with_runs(frame, datasets, methods)
    if not shown:
        return None
    networks = list(dict.fromkeys(frame["network"]))
    styles = {network: NETWORK_STYLES[i % len(NETWORK_STYLES)] for i, network in enumerate(networks)}
    fig, axes = _panels(len(shown))
    drawn = set()
    for ax, dataset in zip(axes, shown):
        ax.set(xlabel="Epochs per task", ylabel=ylabel, xscale="log")
        _title(ax, dataset_label(dataset), _diverged_methods(frame, [dataset], methods))
        epochs = sorted(frame.loc[frame["dataset"] == dataset, "epochs"].unique())
        ax.set_xticks(epochs, [str(e) for e in epochs])
        ax.minorticks_off()
        for method in methods:
            runs = _select(frame, dataset, method)
            for network in networks:
                if _plot_mean_band(ax, runs[runs["network"] == network], "epochs", metric, method, **styles[network]):
                    drawn.add(method)
    counts = seed_counts(frame, shown, methods)
    _caption(fig, f"{what}. Mean over {seeds_text(counts)} per point, {spread_text(counts)}.{_beyond(drawn)}")
    handles = method_legend(methods, drawn, _diverged_methods(frame, shown, methods))
    for network in networks:
        handles[f"{network} network"] = Line2D([], [], color="0.3", marker="o", **styles[network])
    _legend(fig, handles)
    return fig


def fig7_epochs_accuracy(ablation: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure | None:
    """A_T (%) vs epochs per task for each method and network size (paper Fig. 7)."""
    return _epochs_figure(ablation, datasets, methods, "A_T", "Average accuracy, $A_T$ (%)",
                          "Accuracy after all tasks vs epochs per task")


def fig8_epochs_forgetting(ablation: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure | None:
    """F_T vs epochs per task for each method and network size (paper Fig. 8)."""
    return _epochs_figure(ablation, datasets, methods, "F_T", "Forgetting, $F_T$",
                          "Forgetting after all tasks vs epochs per task")


DEFAULT_FIGURES = ("fig1", "fig3", "fig6")
FIGURE_NAMES = tuple(name for name, artefact in ARTEFACTS.items() if artefact.kind == "figure")


def batch_note(records: Sequence[RunRecord]) -> str:
    """" of 10 examples" when every run trained on mini-batches of one size, else ""."""
    sizes = {r.config.get("training", {}).get("batch_size") for r in records}
    return f" of {sizes.pop()} examples" if len(sizes) == 1 and None not in sizes else ""


def draw_figures(records: Sequence[RunRecord], names: Iterable[str], datasets: Sequence[str] | None = None,
                 methods: Sequence[str] | None = None) -> dict[str, Figure]:
    """The figures ``names`` (artefact names, e.g. "fig3") drawn from ``records``, by output stem;
    a figure without data to show is left out."""
    per_seed = per_seed_metrics(records)
    datasets = resolve_order(per_seed["dataset"], datasets)
    methods = resolve_order(per_seed["method"], methods)
    main = main_table(per_seed, datasets, methods)
    per_task = per_task_frame(records)
    batches = batch_note(records)
    draw: dict[str, Callable[[], Figure | None]] = {
        "fig1_bars": lambda: fig1_bars(main, datasets, methods),
        "fig2_cub_awa_je": lambda: fig2_cub_awa_je(main, datasets, methods),
        "fig3_accuracy_vs_tasks": lambda: fig3_accuracy_vs_tasks(per_task, main, datasets, methods),
        "fig3_lca_vs_beta": lambda: fig3_lca_vs_beta(lca_frame(records), datasets, methods, batches),
        "fig4_lca_cub_awa_je": lambda: fig4_lca_cub_awa_je(lca_frame(records), datasets, methods, batches),
        "fig5_zero_shot": lambda: fig5_zero_shot(per_task, datasets, methods),
        "fig6_violations": lambda: fig6_violations(per_task, datasets, methods),
        "fig7_epochs_accuracy": lambda: fig7_epochs_accuracy(ablation_frame(records), datasets, methods),
        "fig8_epochs_forgetting": lambda: fig8_epochs_forgetting(ablation_frame(records), datasets, methods),
    }
    paper_theme()
    figures = {stem: draw[stem]() for name in names for stem in ARTEFACTS[name].stems}
    return {stem: fig for stem, fig in figures.items() if fig is not None}


def make_figures(run_paths: Iterable[str | Path], out_dir: str | Path,
                 datasets: Sequence[str] | None = None,
                 methods: Sequence[str] | None = None,
                 only: Iterable[str] = DEFAULT_FIGURES) -> list[Path]:
    """Read the run files, draw the figures ``only`` (default: Figs. 1, 3 and 6) and save each
    that has data as PNG and PDF; return the paths (a figure without data: none, and a note)."""
    only = list(only)
    figures = draw_figures(load_runs(run_paths), only, datasets, methods)
    for stem in (s for name in only for s in ARTEFACTS[name].stems if s not in figures):
        print(f"not written: {stem} (no runs of its datasets and methods)")
    return [path for stem, fig in figures.items() for path in save_figure(fig, out_dir, stem)]
