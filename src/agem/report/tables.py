"""The main results table (App. E, Table 4 style) rendered and written from run files.

Outputs of :func:`write_tables` in ``out_dir``:

``main.csv``            one row per dataset × method, columns :data:`MAIN_COLUMNS` (the contract).
``main.md``, ``main.tex``, ``main.html`` the same as a readable "mean ± std" table (Markdown,
                        LaTeX booktabs, HTML for ``snakemake --report``).
``metrics_per_seed.csv`` every :func:`agem.runs.metrics.run_metrics` value of every run.
``per_task.csv``        A_k, F_k and constraint violations per task (long format; Fig. 3 top, Fig. 6).
``lca_per_beta.csv``    Z_b and LCA_β (trapezoid and Eq. 5) per β (long format; Fig. 3 bottom).
``ablation_epochs.csv`` with ``--only ablation``: A_T and F_T of every run of the epochs
                        ablation, by network and epochs (Figs. 7–8).

The numbers come from :mod:`agem.report.frames`; this module formats and writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from agem.io.atomic import write_text
from agem.report.frames import (
    lca_frame,
    load_runs,
    main_table,
    per_seed_metrics,
    per_task_frame,
)
from agem.report.labels import beyond_the_paper_note, dataset_label, table_method_label
from agem.runs.runfile import RunRecord

# Cell formats of the readable tables: (decimals of the mean, decimals of the std), as App. E prints.
_CELL_DECIMALS = {"A_T": (1, 2), "F_T": (2, 3), "LCA10": (2, 3)}
_SYMBOLS = {
    "unicode": {"pm": " ± ", "inf": "∞", "nan": "–"},
    "latex": {"pm": r" $\pm$ ", "inf": r"$\infty$", "nan": "--"},
}
_MIB = 2**20






























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
                    style: str = "unicode", n_seeds: int | None = None) -> str:
    """"mean ± std" as App. E prints it. A single seed has no spread: "mean ± –", never "± 0.00".
    Only the mean where the std is not a number for another reason (a paper value printed without one)."""
    text = format_number(mean, decimals[0], style)
    if not np.isfinite(mean):
        return text
    if n_seeds == 1:
        return text + _SYMBOLS[style]["pm"] + _SYMBOLS[style]["nan"]
    if np.isfinite(std):
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
            table_method_label(row.method),
            str(row.n_seeds) + (f" (+{row.n_diverged} diverged)" if row.n_diverged else ""),
            *(format_mean_std(getattr(row, f"{metric}_mean"), getattr(row, f"{metric}_std"),
                              _CELL_DECIMALS[metric], style, row.n_seeds) for metric in ("A_T", "F_T", "LCA10")),
            format_number(row.train_seconds_mean, 1, style),
            format_number(row.memory_bytes / _MIB, 2, style),
        ])
    return pd.DataFrame(rows, columns=DISPLAY_COLUMNS)


_MARKDOWN_NOTE = (
    "mean ± std over the non-diverged seeds (numpy, ddof=0); A_T in %, F_T as a fraction; "
    "LCA_10 by the trapezoid rule of the authors' notebook (Eq. 5 values: metrics_per_seed.csv); "
    "∞: every seed diverged; –: undefined (MULTI-TASK has no F_T or LCA; one seed has no spread); "
    "memory: max over seeds. "
)


def markdown_table(display: pd.DataFrame, n_label_columns: int, note: str) -> str:
    """A pipe table of string cells, labels left and numbers right, with a note below."""
    align = ["left"] * n_label_columns + ["right"] * (display.shape[1] - n_label_columns)
    # disable_numparse: tabulate would otherwise reformat "15.0" as "15".
    table = display.to_markdown(index=False, tablefmt="pipe", disable_numparse=True, colalign=align)
    return f"{table}\n\n{note}\n"


_HTML_STYLE = ("body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse} "
               "th,td{padding:2px 8px;text-align:right;white-space:nowrap} th{border-bottom:1px solid #333} "
               "td:nth-child(-n+3){text-align:left} tr:nth-child(even){background:#f4f4f4}")


def html_page(title: str, sections: Sequence[tuple[str, pd.DataFrame, str]], intro: str = "",
              style: str = _HTML_STYLE) -> str:
    """A standalone HTML page: a title, an introduction, then per section a heading, a table of
    string cells and its note (all escaped)."""
    parts = [f"<h3>{escape(title)}</h3>"] + ([f"<p>{escape(intro)}</p>"] if intro else [])
    for heading, display, note in sections:
        if heading:
            parts.append(f"<h4>{escape(heading)}</h4>")
        parts.append(display.to_html(index=False, border=0, escape=True, classes="table"))
        if note:
            parts.append(f"<p>{escape(note)}</p>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{style}</style></head>\n<body>{body}</body></html>\n")


def html_table(display: pd.DataFrame, title: str, note: str) -> str:
    """A standalone HTML page of string cells with its note: the readable table for
    ``snakemake --report``, which shows HTML as is (a CSV there is a grid of raw floats)."""
    return html_page(title, [("", display, note)])


def to_markdown(main: pd.DataFrame) -> str:
    return markdown_table(display_table(main, "unicode"), 3, _MARKDOWN_NOTE + beyond_the_paper_note(main["method"]))


# ‡ marks methods beyond the paper (agem.report.labels); LaTeX without a Unicode font needs \ddag.
_LATEX_SPECIALS = str.maketrans({**{c: "\\" + c for c in "&%_#$"}, "‡": r"\ddag{}"})


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
        "main.html": html_table(display_table(main, "unicode"), "Main table (paper Table 4 layout)",
                                _MARKDOWN_NOTE + beyond_the_paper_note(main["method"])),
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




