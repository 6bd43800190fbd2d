"""Tables of the paper's results (App. E, Table 4 style) aggregated from run files.

Outputs of :func:`write_tables` in ``out_dir``:

``main.csv``            one row per dataset × method, columns :data:`MAIN_COLUMNS` (the contract).
``main.md``, ``main.tex`` the same as a readable "mean ± std" table (Markdown, LaTeX booktabs).
``metrics_per_seed.csv`` every :func:`agem.metrics.run_metrics` value of every run.
``per_task.csv``        A_k, F_k and constraint violations per task (long format; Fig. 3 top, Fig. 6).
``lca_per_beta.csv``    Z_b and LCA_β (trapezoid and Eq. 5) per β (long format; Fig. 3 bottom).
``ablation_epochs.csv`` with ``--only ablation``: A_T and F_T of every run of the epochs
                        ablation, by network and epochs (Figs. 7–8).

Diverged seeds are left out of every mean and std and counted in ``n_diverged``; a dataset ×
method whose seeds all diverged reports +inf accuracy metrics (the paper's "∞") and NaN stds.
Dataset × method pairs without any run file get no row.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from agem.atomic import atomic_output
from agem.metrics import (
    average_accuracy_per_task,
    forgetting_per_task,
    lca_curve,
    lca_eq5,
    run_metrics,
    z_b,
)
from agem.runfile import RunRecord, read_run

MAIN_COLUMNS = [
    "dataset", "method", "n_seeds",
    "A_T_mean", "A_T_std", "F_T_mean", "F_T_std", "LCA10_mean", "LCA10_std",
    "train_seconds_mean", "memory_bytes", "n_diverged",
]
# Metrics summarised as mean and std over the non-diverged seeds; a row whose seeds all diverged
# gets +inf for the accuracy metrics (the paper's "∞") and NaN for the time.
SUMMARISED = {"A_T": np.inf, "F_T": np.inf, "LCA10": np.inf, "train_seconds": np.nan}

METHOD_LABELS = {
    "van": "VAN", "ewc": "EWC", "pi": "PI", "mas": "MAS", "rwalk": "RWALK",
    "prognn": "PROG-NN", "prog_nn": "PROG-NN", "gem": "GEM", "sgem": "S-GEM",
    "agem": "A-GEM", "a_gem": "A-GEM", "icarl": "iCaRL", "multitask": "MULTI-TASK",
}
DATASET_LABELS = {
    "mnist": "MNIST", "permuted_mnist": "Permuted MNIST", "cifar": "CIFAR",
    "split_cifar": "Split CIFAR", "cub": "CUB", "split_cub": "Split CUB", "awa": "AWA",
    "split_awa": "Split AWA", "cub_je": "CUB-JE", "awa_je": "AWA-JE", "digits": "Permuted digits",
    "split_cub_je": "Split CUB-JE", "split_awa_je": "Split AWA-JE",
    "permuted_digits": "Permuted digits", "split_digits": "Split digits",
}

# Cell formats of the readable tables: (decimals of the mean, decimals of the std), as App. E prints.
_CELL_DECIMALS = {"A_T": (1, 2), "F_T": (2, 3), "LCA10": (2, 3)}
_SYMBOLS = {
    "unicode": {"pm": " ± ", "inf": "∞", "nan": "–"},
    "latex": {"pm": r" $\pm$ ", "inf": r"$\infty$", "nan": "--"},
}
_MIB = 2**20


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method.replace("_", "-").upper())


def dataset_label(dataset: str) -> str:
    return DATASET_LABELS.get(dataset, dataset)


def resolve_order(present: Iterable[str], given: Sequence[str] | None) -> list[str]:
    """The order of the table/figure axis: ``given`` if any, else first appearance in ``present``."""
    return list(given) if given is not None else list(dict.fromkeys(present))


def load_runs(paths: Iterable[str | Path]) -> list[RunRecord]:
    return [read_run(path) for path in paths]


def _run_key(record: RunRecord) -> dict[str, object]:
    return {"dataset": record.dataset, "method": record.method, "seed": record.seed,
            "diverged": record.diverged}


def per_seed_metrics(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run: dataset, method, seed, n_tasks and every ``run_metrics`` value."""
    rows = [{**_run_key(r), "n_tasks": r.n_tasks, **run_metrics(r)} for r in records]
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "diverged", "n_tasks",
                                       "A_T", "F_T", "F_wst", "LCA10", "LCA10_eq5",
                                       "violations_total", "train_seconds", "memory_bytes",
                                       "A_T_memory", "F_wst_memory"])


def per_task_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Long format, one row per run × task (1-based): A_k, F_k, violations and the zero-shot
    accuracy a_{k,0,k} before any update on task k (Fig. 3 top, Fig. 6, Fig. 5)."""
    frames = [
        pd.DataFrame({
            **_run_key(r),
            "task": np.arange(1, r.n_tasks + 1),
            "A_k": average_accuracy_per_task(r.acc_final),
            "F_k": forgetting_per_task(r.acc_final),
            "violations": np.asarray(r.violations, dtype=np.int64),
            "zero_shot": np.asarray(r.acc_lca, dtype=np.float64)[:, 0],
        })
        for r in records
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "method", "seed", "diverged", "task", "A_k", "F_k", "violations", "zero_shot"])


def lca_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Long format, one row per run × β: Z_b, LCA_β (trapezoid; Z_0 at β = 0) and Eq. 5 (Fig. 3)."""
    frames = []
    for r in records:
        betas = np.arange(r.acc_lca.shape[1])
        frames.append(pd.DataFrame({
            **_run_key(r),
            "beta": betas,
            "Z_b": z_b(r.acc_lca),
            "LCA": lca_curve(r.acc_lca),
            "LCA_eq5": [lca_eq5(r.acc_lca, b) for b in betas],
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "method", "seed", "diverged", "beta", "Z_b", "LCA", "LCA_eq5"])


ABLATION_COLUMNS = ["dataset", "method", "network", "epochs", "seed", "diverged", "A_T", "F_T"]


def ablation_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run of the epochs ablation (Figs. 7–8): its network name and epochs per task
    (from the run's config), A_T and F_T."""
    per_seed = per_seed_metrics(records)
    per_seed["network"] = [r.config.get("ablation_network", "default") for r in records]
    per_seed["epochs"] = [int(r.config.get("training", {}).get("epochs", 1)) for r in records]
    return per_seed[ABLATION_COLUMNS]


def mean_std(values: np.ndarray, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over runs (numpy, ddof=0, NaN propagating), as the paper reports (App. E)."""
    values = np.asarray(values, dtype=np.float64)
    return values.mean(axis=axis), values.std(axis=axis, ddof=0)


def select_runs(frame: pd.DataFrame, dataset: str, method: str) -> pd.DataFrame:
    return frame[(frame["dataset"] == dataset) & (frame["method"] == method)]


def summarise(runs: pd.DataFrame, metric: str, all_diverged: float = np.inf) -> tuple[float, float]:
    """Mean and std of ``metric`` over the non-diverged runs; ``(all_diverged, NaN)`` when every
    run diverged (explicit: the mean of no seeds is not a number to print as one), NaN without runs."""
    kept = runs[~runs["diverged"].astype(bool)]
    if kept.empty:
        return (all_diverged if not runs.empty else np.nan), np.nan
    mean, std = mean_std(kept[metric].to_numpy())
    return float(mean), float(std)


def main_table(per_seed: pd.DataFrame, datasets: Sequence[str] | None = None,
               methods: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per dataset × method present, in the given orders, with columns :data:`MAIN_COLUMNS`."""
    rows = []
    for dataset in resolve_order(per_seed["dataset"], datasets):
        for method in resolve_order(per_seed["method"], methods):
            runs = select_runs(per_seed, dataset, method)
            if runs.empty:
                continue
            n_diverged = int(runs["diverged"].astype(bool).sum())
            row: dict[str, object] = {"dataset": dataset, "method": method, "n_seeds": len(runs) - n_diverged}
            for metric, all_diverged in SUMMARISED.items():
                row[f"{metric}_mean"], row[f"{metric}_std"] = summarise(runs, metric, all_diverged)
            row["memory_bytes"] = int(runs["memory_bytes"].max())
            row["n_diverged"] = n_diverged
            rows.append(row)
    return pd.DataFrame(rows, columns=MAIN_COLUMNS)


def format_number(value: float, decimals: int, style: str = "unicode") -> str:
    """A number for a readable table: ∞ for inf, – for NaN (LaTeX: $\\infty$, --)."""
    symbols = _SYMBOLS[style]
    if np.isnan(value):
        return symbols["nan"]
    if np.isinf(value):
        return symbols["inf"] if value > 0 else "-" + symbols["inf"]
    text = f"{value:.{decimals}f}"
    # A tiny negative (forgetting of -1e-4: a slight gain) rounds to "-0.00"; print it as 0.00.
    return text.removeprefix("-") if not text.strip("-0.") else text


def format_mean_std(mean: float, std: float, decimals: tuple[int, int] = (2, 3),
                    style: str = "unicode") -> str:
    """"mean ± std" as App. E prints it; only the mean where the std is not a number."""
    text = format_number(mean, decimals[0], style)
    if np.isfinite(mean) and np.isfinite(std):
        text += _SYMBOLS[style]["pm"] + format_number(std, decimals[1], style)
    return text


DISPLAY_COLUMNS = ["Dataset", "Method", "Runs", "A_T (%)", "F_T", "LCA_10", "Time (s)", "Memory (MiB)"]


def display_table(main: pd.DataFrame, style: str = "unicode") -> pd.DataFrame:
    """The main table as strings, one "mean ± std" cell per metric (paper Table 4 layout),
    columns :data:`DISPLAY_COLUMNS`."""
    rows = []
    for row in main.itertuples(index=False):
        rows.append([
            dataset_label(row.dataset),
            method_label(row.method),
            str(row.n_seeds) + (f" (+{row.n_diverged} diverged)" if row.n_diverged else ""),
            *(format_mean_std(getattr(row, f"{metric}_mean"), getattr(row, f"{metric}_std"),
                              _CELL_DECIMALS[metric], style) for metric in ("A_T", "F_T", "LCA10")),
            format_number(row.train_seconds_mean, 1, style),
            format_number(row.memory_bytes / _MIB, 2, style),
        ])
    return pd.DataFrame(rows, columns=DISPLAY_COLUMNS)


_MARKDOWN_NOTE = (
    "mean ± std over the non-diverged seeds (numpy, ddof=0); A_T in %, F_T as a fraction; "
    "LCA_10 by the trapezoid rule of the authors' notebook (Eq. 5 values: metrics_per_seed.csv); "
    "∞: every seed diverged; –: undefined (MULTI-TASK has no F_T or LCA); memory: max over seeds."
)


def markdown_table(display: pd.DataFrame, n_label_columns: int, note: str) -> str:
    """A pipe table of string cells, labels left and numbers right, with a note below."""
    align = ["left"] * n_label_columns + ["right"] * (display.shape[1] - n_label_columns)
    # disable_numparse: tabulate would otherwise reformat "15.0" as "15".
    table = display.to_markdown(index=False, tablefmt="pipe", disable_numparse=True, colalign=align)
    return f"{table}\n\n{note}\n"


def to_markdown(main: pd.DataFrame) -> str:
    return markdown_table(display_table(main, "unicode"), 3, _MARKDOWN_NOTE)


_LATEX_SPECIALS = str.maketrans({c: "\\" + c for c in "&%_#$"})


def latex_escape(text: str) -> str:
    return text.translate(_LATEX_SPECIALS)


def latex_table(display: pd.DataFrame, headers: Sequence[str], n_label_columns: int = 2) -> str:
    """A booktabs tabular of string cells (already LaTeX), with ``headers`` (LaTeX). The first
    column is a group (the dataset): named on its first row only, groups ruled apart. The
    other label columns are escaped."""
    lines = [r"\begin{tabular}{" + "l" * n_label_columns + "r" * (len(headers) - n_label_columns) + "}",
             r"\toprule", " & ".join(headers) + r" \\", r"\midrule"]
    previous = None
    for values in display.itertuples(index=False):
        group, *rest = values
        if previous is not None and group != previous:
            lines.append(r"\midrule")
        labels = [latex_escape(label) for label in rest[: n_label_columns - 1]]
        first = latex_escape(group) if group != previous else ""
        lines.append(" & ".join([first, *labels, *rest[n_label_columns - 1:]]) + r" \\")
        previous = group
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_latex(main: pd.DataFrame) -> str:
    """A booktabs tabular; the dataset is named on its first row and datasets are ruled apart."""
    headers = [r"Dataset", r"Method", r"Runs", r"$A_T$ (\%)", r"$F_T$", r"$\mathrm{LCA}_{10}$",
               r"Time (s)", r"Memory (MiB)"]
    return latex_table(display_table(main, "latex"), headers)


def write_text(path: Path, text: str) -> Path:
    """Write a text output atomically (readers never see half a table)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_main_tables(records: Sequence[RunRecord], out_dir: str | Path,
                      datasets: Sequence[str] | None = None,
                      methods: Sequence[str] | None = None) -> list[Path]:
    """Write every table of this module's docstring from loaded runs; return their paths."""
    out_dir = Path(out_dir)
    per_seed = per_seed_metrics(records)
    main = main_table(per_seed, datasets, methods)
    outputs = {
        "main.csv": main.to_csv(index=False),
        "main.md": to_markdown(main),
        "main.tex": to_latex(main),
        "metrics_per_seed.csv": per_seed.to_csv(index=False),
        "per_task.csv": per_task_frame(records).to_csv(index=False),
        "lca_per_beta.csv": lca_frame(records).to_csv(index=False),
    }
    return [write_text(out_dir / name, text) for name, text in outputs.items()]


def write_tables(run_paths: Iterable[str | Path], out_dir: str | Path,
                 datasets: Sequence[str] | None = None,
                 methods: Sequence[str] | None = None) -> list[Path]:
    """Read the run files and write every table of this module's docstring; return their paths."""
    return write_main_tables(load_runs(run_paths), out_dir, datasets, methods)


Writer = Callable[..., list[Path]]


def run_aggregation_cli(write: Writer, description: str, default_out_dir: str,
                        only: Sequence[str] = (), default_only: Sequence[str] | None = None,
                        paper: bool = False, argv: Sequence[str] | None = None) -> list[Path]:
    """The command line shared by scripts/make_tables.py and scripts/make_figures.py:
    ``--runs RUN.h5 ... [--datasets ...] [--methods ...] [--out-dir DIR] [--only NAME ...]
    [--paper YAML]``; calls ``write(runs, out_dir, datasets, methods[, only=...][, paper=...])``
    and prints what it wrote.

    ``--runs`` may be empty: an artefact whose datasets have no runs is still drawn, with gaps.
    ``only`` lists the artefacts the writer can select (default: ``default_only``, else the first);
    ``paper`` adds ``--paper``, the file of the paper's published values.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", nargs="*", default=[], metavar="RUN.h5", help="run files")
    parser.add_argument("--datasets", nargs="+", help="order of the datasets (default: as found)")
    parser.add_argument("--methods", nargs="+", help="order (and colours) of the methods (default: as found)")
    parser.add_argument("--out-dir", default=default_out_dir, help=f"output folder (default: {default_out_dir})")
    if only:
        default_only = list(default_only or only[:1])
        parser.add_argument("--only", nargs="+", choices=only, default=default_only,
                            help=f"artefacts to write (default: {' '.join(default_only)})")
    if paper:
        parser.add_argument("--paper", help="the paper's published values (default: config/paper_results.yaml)")
    args = parser.parse_args(argv)
    extra = {"only": args.only} if only else {}
    if paper and args.paper:
        extra["paper"] = args.paper
    written = write(args.runs, args.out_dir, args.datasets, args.methods, **extra)
    for path in written:
        print(f"wrote {path}")
    return written
