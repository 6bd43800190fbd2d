"""The paper's figures (docs/reproduction.md#artefacts) drawn from run files; each saved as PNG (dpi 150) and PDF.

``fig1_bars``               A_T, F_T, LCA_10, time and memory relative to the most expensive method,
                            one row of bars per dataset (paper Fig. 1).
``fig2_cub_awa_je``         A_T, F_T, LCA_10 per method, standard vs joint embedding (Fig. 2).
``fig3_accuracy_vs_tasks``  A_k vs number of tasks per method, MULTI-TASK as a dashed line (Fig. 3 top).
``fig3_lca_vs_beta``        LCA_β vs β = 0..10, trapezoid definition (Fig. 3 bottom).
``fig4_lca_cub_awa_je``     LCA_β vs β, standard (dashed) vs joint embedding (solid) (Fig. 4).
``fig5_zero_shot``          zero-shot accuracy a_{k,0,k} per task, standard vs joint embedding (Fig. 5).
``fig6_violations``         constraint violations per task, GEM vs A-GEM (Fig. 6).
``fig7_epochs_accuracy``    A_T vs epochs per method, small (dashed) vs big (solid) network (Fig. 7;
                            the epochs ablation, from ``results/ablation/runs``).
``fig8_epochs_forgetting``  F_T vs epochs, the same runs (Fig. 8).

Curves are means over the non-diverged seeds with a ± std band (ddof=0). A dataset or method
without runs leaves a gap or a labelled empty panel, never an error. Figures 2, 4 and 5 pair
each benchmark ``<name>`` with its joint-embedding variant ``<name>_je``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
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
from agem.report.labels import dataset_label, method_label, resolve_order  # noqa: E402
from agem.report.paper import ARTEFACTS, JE_SUFFIX  # noqa: E402
from agem.runs.runfile import RunRecord  # noqa: E402

MULTITASK = "multitask"
VIOLATION_METHODS = ("gem", "agem")
DPI = 150
_PANEL_SIZE = (4.2, 3.4)
_MAX_COLUMNS = 4


def method_palette(methods: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """One fixed colour per method, keyed by its position in ``methods``, shared by all figures."""
    colours = sns.color_palette("tab10" if len(methods) <= 10 else "husl", max(len(methods), 1))
    return dict(zip(methods, colours))


def save_figure(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (dpi 150) and ``stem.pdf`` atomically, then close it."""
    paths = []
    for fmt in ("png", "pdf"):
        path = Path(out_dir) / f"{stem}.{fmt}"
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI)
        paths.append(path)
    plt.close(fig)
    return paths


def _panels(n_panels: int) -> tuple[Figure, list[Axes]]:
    """One panel per dataset, wrapped at four columns; surplus axes hidden."""
    n_panels = max(n_panels, 1)
    ncols = min(n_panels, _MAX_COLUMNS)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(_PANEL_SIZE[0] * ncols, _PANEL_SIZE[1] * nrows + 0.6))
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def _note(ax: Axes, text: str) -> None:
    """Mark a panel without data: the note instead of meaningless default ticks."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _figure_legend(fig: Figure, axes: Iterable[Axes]) -> None:
    """One legend below all panels, each method once, in the order first drawn."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center",
                   ncols=min(len(handles), 6), frameon=False)


def _select(frame: pd.DataFrame, dataset: str, method: str) -> pd.DataFrame:
    return frame[(frame["dataset"] == dataset) & (frame["method"] == method)]


def _plot_mean_band(ax: Axes, runs: pd.DataFrame, x: str, y: str, colour, label: str,
                    linestyle: str = "-") -> None:
    """Mean over the non-diverged seeds with a ± std band; a method that only diverged is listed
    in the legend as such (the paper's "∞") instead of silently missing."""
    kept = runs[~runs["diverged"].astype(bool)]
    if kept.empty:
        if not runs.empty:
            ax.plot([], [], color=colour, linestyle=":", label=f"{label} (diverged)")
        return
    by_seed = kept.pivot(index="seed", columns=x, values=y)
    mean, std = mean_std(by_seed.to_numpy(), axis=0)
    xs = by_seed.columns.to_numpy()
    ax.plot(xs, mean, color=colour, marker="o", markersize=3, label=label, linestyle=linestyle)
    ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)


def _curve_figure(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str],
                  x: str, y: str, xlabel: str, ylabel: str, skip: Iterable[str] = ()) -> tuple[Figure, list[Axes]]:
    """One panel per dataset with one mean ± std curve per method (Fig. 3 top and bottom)."""
    palette = method_palette(methods)
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets):
        ax.set(title=dataset_label(dataset), xlabel=xlabel, ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if frame.empty or not (frame["dataset"] == dataset).any():
            _note(ax, "no runs")
            continue
        for method in methods:
            if method not in skip:
                _plot_mean_band(ax, _select(frame, dataset, method), x, y, palette[method], method_label(method))
    return fig, axes


def fig3_accuracy_vs_tasks(per_task: pd.DataFrame, main: pd.DataFrame, datasets: Sequence[str],
                           methods: Sequence[str]) -> Figure:
    """A_k (%) vs number of tasks k = 1..T (paper Fig. 3 top); MULTI-TASK, trained on all tasks
    at once, has only A_T and is drawn as a horizontal dashed line at it."""
    per_task = per_task.assign(A_k=100.0 * per_task["A_k"])
    fig, axes = _curve_figure(per_task, datasets, methods, "task", "A_k", "number of tasks k",
                              "average accuracy $A_k$ (%)", skip=(MULTITASK,))
    palette = method_palette(methods)
    for ax, dataset in zip(axes, datasets):
        multitask = _select(main, dataset, MULTITASK)
        if not multitask.empty and np.isfinite(multitask["A_T_mean"].iloc[0]):
            ax.axhline(multitask["A_T_mean"].iloc[0], color=palette[MULTITASK], linestyle="--",
                       label=method_label(MULTITASK))
    _figure_legend(fig, axes)
    return fig


def fig3_lca_vs_beta(lca: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure:
    """LCA_β vs β = 0..10 (paper Fig. 3 bottom), MULTI-TASK excluded: it has no learning curve."""
    fig, axes = _curve_figure(lca, datasets, methods, "beta", "LCA", r"$\beta$ (mini-batches)",
                              r"LCA$_\beta$ (trapezoid; $Z_0$ at $\beta$=0)", skip=(MULTITASK,))
    _figure_legend(fig, axes)
    return fig


def fig6_violations(per_task: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure:
    """Steps per task whose gradient violated a constraint, GEM vs A-GEM (paper Fig. 6); any other
    method with violations is drawn as well."""
    palette = method_palette(methods)
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets):
        ax.set(title=dataset_label(dataset), xlabel="task", ylabel="constraint violations (steps)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        drawn = False
        for method in methods:
            runs = _select(per_task, dataset, method)
            if runs.empty or (method not in VIOLATION_METHODS and not runs["violations"].any()):
                continue
            _plot_mean_band(ax, runs, "task", "violations", palette[method], method_label(method))
            drawn = True
        if not drawn:
            _note(ax, "no GEM/A-GEM runs")
    _figure_legend(fig, axes)
    return fig


# Panels of Fig. 1: (column of the main table, its std column or None, title, relative to max?).
_FIG1_PANELS = (
    ("A_T_mean", "A_T_std", "$A_T$ (%)", False),
    ("F_T_mean", "F_T_std", "$F_T$", False),
    ("LCA10_mean", "LCA10_std", r"LCA$_{10}$", False),
    ("train_seconds_mean", None, "time (rel. to max)", True),
    ("memory_bytes", None, "memory (rel. to max)", True),
)


def _bars(ax: Axes, values: np.ndarray, errors: np.ndarray | None, colours: list,
          x: np.ndarray | None = None, width: float = 0.8, hatch: str | None = None) -> None:
    """Bars at fixed method positions ``x``; NaN leaves a gap, +inf (diverged) is marked ∞."""
    x = np.arange(len(values)) if x is None else x
    finite = np.isfinite(values)
    ax.bar(x[finite], values[finite], width=width, color=[c for c, f in zip(colours, finite) if f],
           yerr=None if errors is None else np.nan_to_num(errors[finite]), capsize=3, hatch=hatch,
           edgecolor="white" if hatch else None)
    for i in np.flatnonzero(np.isposinf(values)):
        ax.text(x[i], 0, "∞", ha="center", va="bottom", fontsize=14, color=colours[i])


def fig1_bars(main: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure:
    """Per dataset, bars per method of A_T, F_T, LCA_10 (± std over seeds) and of time and memory
    relative to the most expensive method (paper Fig. 1)."""
    palette = method_palette(methods)
    colours = [palette[m] for m in methods]
    nrows = max(len(datasets), 1)
    fig, axes = plt.subplots(nrows, len(_FIG1_PANELS), squeeze=False, layout="constrained",
                             figsize=(2.9 * len(_FIG1_PANELS), 2.7 * nrows + 0.4))
    if not datasets:
        _note(axes[0][0], "no runs")
    for row, dataset in zip(axes, datasets):
        # Missing methods become NaN rows: their bar positions stay empty.
        table = main[main["dataset"] == dataset].set_index("method").reindex(list(methods))
        for ax, (column, std_column, title, relative) in zip(row, _FIG1_PANELS):
            values = table[column].to_numpy(dtype=np.float64)
            errors = None if std_column is None else table[std_column].to_numpy(dtype=np.float64)
            if relative:
                finite = values[np.isfinite(values)]
                values = values / finite.max() if finite.size and finite.max() > 0 else values * np.nan
            _bars(ax, values, errors, colours)
            ax.set_xticks(np.arange(len(methods)), [method_label(m) for m in methods],
                          rotation=45, ha="right", fontsize=8)
            ax.set_title(title)
        if table["n_seeds"].isna().all():
            for ax in row:
                _note(ax, "no runs")
        row[0].set_ylabel(dataset_label(dataset), fontsize=12)
    return fig


# --- standard vs joint embedding (Figs. 2, 4, 5) ---------------------------------------------------
# Line styles of the paper's Fig. 4: standard dashed, joint embedding solid.
VARIANT_STYLES = {"standard": "--", "JE": "-"}


def je_pairs(datasets: Sequence[str]) -> list[tuple[str, str]]:
    """(standard, joint embedding) dataset pairs: each ``<name>`` with ``<name>_je``, in order."""
    standard = [d for d in datasets if not d.endswith(JE_SUFFIX)]
    standard += [d.removesuffix(JE_SUFFIX) for d in datasets
                 if d.endswith(JE_SUFFIX) and d.removesuffix(JE_SUFFIX) not in standard]
    return [(d, d + JE_SUFFIX) for d in standard]


def _has_runs(frame: pd.DataFrame, datasets: Iterable[str]) -> bool:
    return not frame.empty and frame["dataset"].isin(list(datasets)).any()


def _pair_title(pair: tuple[str, str]) -> str:
    return f"{dataset_label(pair[0])}: standard vs JE"


def fig2_cub_awa_je(main: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure:
    """Per benchmark pair (CUB, AWA), bars per method of A_T, F_T and LCA_10 (± std over seeds),
    standard (hatched) beside joint embedding (solid) (paper Fig. 2)."""
    pairs = je_pairs(datasets)
    palette = method_palette(methods)
    colours = [palette[m] for m in methods]
    panels = _FIG1_PANELS[:3]
    fig, axes = plt.subplots(max(len(pairs), 1), len(panels), squeeze=False, layout="constrained",
                             figsize=(3.6 * len(panels), 2.9 * max(len(pairs), 1) + 0.4))
    x = np.arange(len(methods))
    for row, pair in zip(axes, pairs):
        for ax, (column, std_column, title, _) in zip(row, panels):
            for offset, (variant, dataset) in zip((-0.2, 0.2), zip(VARIANT_STYLES, pair)):
                table = main[main["dataset"] == dataset].set_index("method").reindex(list(methods))
                values = table[column].to_numpy(dtype=np.float64)
                _bars(ax, values, table[std_column].to_numpy(dtype=np.float64), colours, x + offset, 0.4,
                      hatch="//" if variant == "standard" else None)
            ax.set_xticks(x, [method_label(m) for m in methods], rotation=45, ha="right", fontsize=8)
            ax.set_title(title)
            if not _has_runs(main, pair):
                _note(ax, "no runs")
        row[0].set_ylabel(_pair_title(pair), fontsize=10)
    if pairs:
        handles = [plt.Rectangle((0, 0), 1, 1, facecolor="0.7", hatch="//"), plt.Rectangle((0, 0), 1, 1, facecolor="0.3")]
        fig.legend(handles, ["standard (hatched)", "joint embedding (solid)"], loc="outside lower center",
                   ncols=2, frameon=False)
    else:
        _note(axes[0][0], "no runs")
    return fig


def _pair_curve_figure(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str], x: str, y: str,
                       xlabel: str, ylabel: str, skip: Iterable[str] = ()) -> Figure:
    """One panel per benchmark pair; per method a curve for standard (dashed) and JE (solid)."""
    pairs = je_pairs(datasets)
    palette = method_palette(methods)
    fig, axes = _panels(len(pairs))
    for ax, pair in zip(axes, pairs):
        ax.set(title=_pair_title(pair), xlabel=xlabel, ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not _has_runs(frame, pair):
            _note(ax, "no runs")
            continue
        for method in methods:
            if method in skip:
                continue
            for (variant, style), dataset in zip(VARIANT_STYLES.items(), pair):
                _plot_mean_band(ax, _select(frame, dataset, method), x, y, palette[method],
                                f"{method_label(method)} ({variant})", style)
    if not pairs:
        _note(axes[0], "no runs")
    _figure_legend(fig, axes)
    return fig


def fig4_lca_cub_awa_je(lca: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure:
    """LCA_β vs β on CUB and AWA, standard dashed vs joint embedding solid (paper Fig. 4)."""
    return _pair_curve_figure(lca, datasets, methods, "beta", "LCA", r"$\beta$ (mini-batches)",
                              r"LCA$_\beta$ (trapezoid; $Z_0$ at $\beta$=0)", skip=(MULTITASK,))


def fig5_zero_shot(per_task: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure:
    """Zero-shot accuracy a_{k,0,k} (%), before any update on task k, per task; standard dashed vs
    joint embedding solid (paper Fig. 5): only the JE head can score above chance there."""
    per_task = per_task.assign(zero_shot=100.0 * per_task["zero_shot"])
    return _pair_curve_figure(per_task, datasets, methods, "task", "zero_shot", "task k",
                              r"zero-shot accuracy $a_{k,0,k}$ (%)", skip=(MULTITASK,))


# --- epochs ablation (Figs. 7, 8) ----------------------------------------------------------------
# Line styles of the networks in the order the config lists them (small first: dashed).
NETWORK_STYLES = ("--", "-", ":", "-.")


def _epochs_figure(frame: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str], metric: str,
                   ylabel: str) -> Figure:
    """One panel per dataset: ``metric`` vs epochs, a colour per method, a line style per network."""
    palette = method_palette(methods)
    networks = list(dict.fromkeys(frame["network"]))
    styles = dict(zip(networks, NETWORK_STYLES * len(networks)))
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets):
        ax.set(title=dataset_label(dataset), xlabel="epochs per task", ylabel=ylabel)
        if not _has_runs(frame, [dataset]):
            _note(ax, "no runs")
            continue
        ax.set_xscale("log")
        epochs = sorted(frame.loc[frame["dataset"] == dataset, "epochs"].unique())
        ax.set_xticks(epochs, [str(e) for e in epochs])
        ax.minorticks_off()
        for method in methods:
            for network in networks:
                runs = _select(frame, dataset, method)
                _plot_mean_band(ax, runs[runs["network"] == network], "epochs", metric, palette[method],
                                f"{method_label(method)} ({network})", styles[network])
    _figure_legend(fig, axes)
    return fig


def fig7_epochs_accuracy(ablation: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure:
    """A_T (%) vs epochs per task for each method and network size (paper Fig. 7)."""
    return _epochs_figure(ablation, datasets, methods, "A_T", "average accuracy $A_T$ (%)")


def fig8_epochs_forgetting(ablation: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str]) -> Figure:
    """F_T vs epochs per task for each method and network size (paper Fig. 8)."""
    return _epochs_figure(ablation, datasets, methods, "F_T", "forgetting $F_T$")


DEFAULT_FIGURES = ("fig1", "fig3", "fig6")
FIGURE_NAMES = tuple(name for name, artefact in ARTEFACTS.items() if artefact.kind == "figure")


def draw_figures(records: Sequence[RunRecord], names: Iterable[str], datasets: Sequence[str] | None = None,
                 methods: Sequence[str] | None = None) -> dict[str, Figure]:
    """The figures ``names`` (artefact names, e.g. "fig3") drawn from ``records``, by output stem."""
    per_seed = per_seed_metrics(records)
    datasets = resolve_order(per_seed["dataset"], datasets)
    methods = resolve_order(per_seed["method"], methods)
    main = main_table(per_seed, datasets, methods)
    per_task = per_task_frame(records)
    draw = {
        "fig1_bars": lambda: fig1_bars(main, datasets, methods),
        "fig2_cub_awa_je": lambda: fig2_cub_awa_je(main, datasets, methods),
        "fig3_accuracy_vs_tasks": lambda: fig3_accuracy_vs_tasks(per_task, main, datasets, methods),
        "fig3_lca_vs_beta": lambda: fig3_lca_vs_beta(lca_frame(records), datasets, methods),
        "fig4_lca_cub_awa_je": lambda: fig4_lca_cub_awa_je(lca_frame(records), datasets, methods),
        "fig5_zero_shot": lambda: fig5_zero_shot(per_task, datasets, methods),
        "fig6_violations": lambda: fig6_violations(per_task, datasets, methods),
        "fig7_epochs_accuracy": lambda: fig7_epochs_accuracy(ablation_frame(records), datasets, methods),
        "fig8_epochs_forgetting": lambda: fig8_epochs_forgetting(ablation_frame(records), datasets, methods),
    }
    return {stem: draw[stem]() for name in names for stem in ARTEFACTS[name].stems}


def make_figures(run_paths: Iterable[str | Path], out_dir: str | Path,
                 datasets: Sequence[str] | None = None,
                 methods: Sequence[str] | None = None,
                 only: Iterable[str] = DEFAULT_FIGURES) -> list[Path]:
    """Read the run files, draw the figures ``only`` (default: Figs. 1, 3 and 6) and save each
    as PNG and PDF; return the paths."""
    sns.set_theme(style="whitegrid", context="paper")
    figures = draw_figures(load_runs(run_paths), only, datasets, methods)
    return [path for stem, fig in figures.items() for path in save_figure(fig, out_dir, stem)]
