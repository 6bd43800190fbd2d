"""The paper's Tables 2–7 rebuilt from run files, each side by side with the published values.

For every table of :data:`agem.report.paper.TABLES`, three files in the output folder:

``{stem}.csv``  long format, one row per dataset × method × metric, columns
                :data:`COMPARISON_COLUMNS`: the paper's value (mean, std, or a formula note),
                ours (mean, std over the non-diverged seeds), Δ in units of σ and the verdict.
``{stem}.md``   readable: per metric the paper's value, ours, and Δ with the verdict.
``{stem}.tex``  the same as a booktabs tabular.
``{stem}.html`` the same as a page for ``snakemake --report``.

Rows: every dataset × method the paper reports (a method we did not run shows "not run"), and
every dataset × method we ran (without a published value: "no paper value").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agem.io.atomic import write_text
from agem.report.frames import per_seed_metrics, select_runs, summarise
from agem.report.labels import beyond_the_paper_note, dataset_label, table_method_label
from agem.report.memory_formulas import FORMULAS, paper_memory_formula
from agem.report.paper import (
    ARTEFACTS,
    NO_PAPER_VALUE,
    NOT_COMPARABLE,
    NOT_RUN,
    PAPER_RESULTS,
    RESOLUTION,
    SCALED_COUNTERPARTS,
    SMALLER_SCALE,
    Artefact,
    Comparison,
    PaperResults,
    PaperValue,
    artefact_datasets,
    compare,
    counterpart,
    load_paper_results,
    method_order,
)
from agem.report.tables import (
    format_mean_std,
    html_table,
    latex_escape,
    latex_table,
    markdown_table,
)
from agem.runs.runfile import RunRecord

COMPARISON_COLUMNS = [
    "table", "dataset", "method", "metric", "paper_mean", "paper_std", "paper_note",
    "ours_mean", "ours_std", "n_seeds", "n_diverged", "sigma", "sigma_source", "diff_sigmas", "verdict",
]
AGEM = "agem"


@dataclass(frozen=True)
class Metric:
    label: str                 # header of the readable table (Markdown)
    latex: str                 # the same in LaTeX
    decimals: tuple[int, int]  # of the mean and of the std, as the paper prints them
    scale: float = 1.0         # shown value = stored value × scale (bytes → MiB)
    # Value of a dataset × method whose every seed diverged: the paper's "∞" for accuracy
    # metrics, nothing for costs.
    all_diverged: float = math.inf
    # The readable table's cells of this metric: the paper's value, ours, Δ with the verdict,
    # and "formula" (the paper's formula text, Table 7). Headers: "{label} {part}", or ``headers``.
    parts: tuple[str, ...] = ("paper", "ours", "delta")
    headers: tuple[str, ...] | None = None


_MIB = 1.0 / 2**20
METRICS = {
    "A_T": Metric("A_T (%)", r"$A_T$ (\%)", (1, 2)),
    "F_T": Metric("F_T", r"$F_T$", (2, 3)),
    "LCA10": Metric("LCA_10", r"LCA$_{10}$", (2, 3)),
    "A_T_memory": Metric("A_T on memory (%)", r"$A_T$ on $\mathcal{M}$ (\%)", (1, 2)),
    "F_wst_memory": Metric("F_wst on memory", r"$F_\mathrm{wst}$ on $\mathcal{M}$", (3, 3)),
    "F_wst": Metric("F_wst on test", r"$F_\mathrm{wst}$ on test", (2, 3)),
    # Seconds on different hardware are never compared (HARDWARE_BOUND): no Δ column.
    "train_seconds": Metric("time (s)", "time (s)", (1, 1), all_diverged=math.nan, parts=("paper", "ours")),
    "time_vs_agem": Metric("time / A-GEM", "time / A-GEM", (2, 2), all_diverged=math.nan),
    # The paper gives memory as formulas only (Table 7): ours measured, and its formula evaluated.
    "memory_bytes": Metric("memory measured (MiB)", "memory measured (MiB)", (2, 2), _MIB, math.nan,
                           parts=("ours",), headers=("memory measured (MiB)",)),
    "memory_formula_bytes": Metric("memory by formula (MiB)", "memory by formula (MiB)", (2, 2), _MIB, math.nan,
                                   parts=("formula", "ours"),
                                   headers=("memory formula (paper)", "memory by formula (MiB)")),
}
# Seconds on the paper's GPU and on this machine measure different hardware: shown side by
# side, judged only through the ratio to A-GEM (time_vs_agem).
HARDWARE_BOUND = ("train_seconds",)

PaperLookup = Callable[[PaperResults, str, str, str], tuple[PaperValue | None, str]]


def with_published_std(paper: PaperResults, value: PaperValue | None, dataset: str, method: str,
                       metric: str) -> PaperValue | None:
    """``value`` with the std the paper prints for the same number elsewhere: Table 2's test-set
    A_T of GEM (89.5) is App. E's 89.5 ± 0.48, so both tables judge ours against the same σ."""
    if value is None or value.std is not None:
        return value
    main = paper.value("main", dataset, method, metric)
    return main if main is not None and main.mean == value.mean and main.std is not None else value


def _from_section(section: str) -> PaperLookup:
    def lookup(paper: PaperResults, dataset: str, method: str, metric: str) -> tuple[PaperValue | None, str]:
        return with_published_std(paper, paper.value(section, dataset, method, metric), dataset, method, metric), ""
    return lookup


def _gem_variants(paper: PaperResults, dataset: str, method: str, metric: str) -> tuple[PaperValue | None, str]:
    """Table 3: S-GEM as printed there; its GEM and A-GEM rows are App. E's."""
    value = paper.value("gem_variants", dataset, method, metric)
    value = value if value is not None else paper.value("main", dataset, method, metric)
    return with_published_std(paper, value, dataset, method, metric), ""


def _cost(paper: PaperResults, dataset: str, method: str, metric: str) -> tuple[PaperValue | None, str]:
    """Table 7: seconds as printed, their ratio to A-GEM, and the memory formula as text."""
    seconds = paper.train_seconds.get(dataset, {})
    if metric == "train_seconds":
        return seconds.get(method), ""
    if metric == "time_vs_agem":
        if method in seconds and AGEM in seconds and math.isfinite(seconds[AGEM].mean):
            return PaperValue(seconds[method].mean / seconds[AGEM].mean), ""
        return None, ""
    if metric == "memory_formula_bytes":
        derived = FORMULAS.get(method)
        return None, paper.memory_formulas.get(method, f"{derived.expression} †" if derived else "")
    return None, ""


def _paper_methods(section: str) -> Callable[[PaperResults, str], list[str]]:
    return lambda paper, dataset: paper.methods(section, dataset)


@dataclass(frozen=True)
class PaperTable:
    artefact: Artefact
    title: str
    metrics: tuple[str, ...]
    paper_value: PaperLookup
    paper_methods: Callable[[PaperResults, str], list[str]]
    methods: tuple[str, ...] | None = None  # the only methods the table shows; None: all
    note: str = ""

    @property
    def stem(self) -> str:
        return self.artefact.stems[0]


PAPER_TABLES = {
    table.artefact.name: table
    for table in (
        PaperTable(ARTEFACTS["table2"], "Table 2: GEM vs A-GEM on the episodic memory and on the test set",
                   ("A_T_memory", "F_wst_memory", "A_T", "F_wst"), _from_section("memory_vs_test"),
                   _paper_methods("memory_vs_test"), methods=("gem", "agem"),
                   note="On the memory: the A_T and F_wst definitions applied to the accuracy on each stored "
                        "task's episodic memory (acc_memory). "),
        PaperTable(ARTEFACTS["table3"], "Table 3: GEM, S-GEM and A-GEM", ("A_T", "F_T"), _gem_variants,
                   lambda paper, dataset: ["gem", *paper.methods("gem_variants", dataset), "agem"],
                   methods=("gem", "sgem", "agem")),
        PaperTable(ARTEFACTS["table4"], "Table 4: Permuted MNIST and Split CIFAR (App. E)",
                   ("A_T", "F_T", "LCA10"), _from_section("main"), _paper_methods("main")),
        PaperTable(ARTEFACTS["table5"], "Table 5: Split CUB, standard and joint embedding (App. E)",
                   ("A_T", "F_T", "LCA10"), _from_section("main"), _paper_methods("main")),
        PaperTable(ARTEFACTS["table6"], "Table 6: Split AWA, standard and joint embedding (App. E)",
                   ("A_T", "F_T", "LCA10"), _from_section("main"), _paper_methods("main")),
        PaperTable(ARTEFACTS["table7"], "Table 7: training time and memory",
                   ("train_seconds", "time_vs_agem", "memory_bytes", "memory_formula_bytes"), _cost,
                   lambda paper, dataset: list(paper.train_seconds.get(dataset, {})),
                   note="Time: the paper's on a GPU, ours on this machine, so only the ratio to A-GEM gets a "
                        "verdict; A-GEM's own ratio is 1 by definition (reference). Memory: measured (parameters, "
                        "gradients, method state), and by the paper's formula (†: derived the same way for methods "
                        "Table 7 lacks, agem.report.memory_formulas) with this run's P, B, H, M, T at 4 bytes per "
                        "number; the paper gives no memory in MiB, so neither is compared. "),
    )
}

_NOTE = (
    "Paper: {source}. Ours: mean ± std over the non-diverged seeds (numpy, ddof=0). "
    "Δ = (ours − paper) / σ, σ = sqrt(σ_paper² + σ_ours²): each side's std over its runs (the paper's "
    "where it prints one for that number, in any table), never less than half the paper's last printed "
    "digit (sigma and sigma_source in the CSV); the same in every table. Verdict: reproduced |Δ| ≤ 1σ; "
    "within 2σ; off beyond, or ∞ on one side only. ∞: diverged or out of memory; –: no value. {extra}"
)
_SYMBOLS = {"unicode": {"sigma": "σ", "none": "–"}, "latex": {"sigma": r"$\sigma$", "none": "--"}}


def formula_memory_bytes(record: RunRecord) -> float:
    """The paper's Table 7 memory formula of this run's method (or the one derived the same way,
    agem.report.memory_formulas) with the run's P, H, B, M and T, in bytes; NaN where a quantity is
    missing from the run file or the method has no formula."""
    batch_size = record.config.get("training", {}).get("batch_size")
    memory_per_task = record.config.get("memory_per_task")
    if batch_size is None or memory_per_task is None or not record.n_parameters:
        return math.nan
    return paper_memory_formula(record.method, record.n_parameters, record.hidden_units,
                                batch_size, memory_per_task, record.n_tasks)


def table_per_seed(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Every per-seed metric of the runs, plus the memory by the paper's formula (Table 7)."""
    per_seed = per_seed_metrics(records)
    per_seed["memory_formula_bytes"] = [formula_memory_bytes(r) for r in records]
    return per_seed


def ours(per_seed: pd.DataFrame, dataset: str, method: str, metric: str) -> tuple[float, float]:
    """Our mean and std of ``metric`` for one dataset × method (NaN: not run)."""
    if metric == "time_vs_agem":
        if method == AGEM:  # the unit of the ratio: exactly 1, with no spread
            return (1.0, 0.0) if not select_runs(per_seed, dataset, AGEM).empty else (math.nan, math.nan)
        return time_ratio(ours(per_seed, dataset, method, "train_seconds"),
                          ours(per_seed, dataset, AGEM, "train_seconds"))
    return summarise(select_runs(per_seed, dataset, method), metric, METRICS[metric].all_diverged)


def time_ratio(method: tuple[float, float], agem: tuple[float, float]) -> tuple[float, float]:
    """Mean time of a method over A-GEM's, with the std propagated from both (first order)."""
    (m, sm), (a, sa) = method, agem
    if not (np.isfinite(m) and np.isfinite(a) and a > 0):
        return math.nan, math.nan
    ratio = m / a
    return ratio, ratio * math.hypot(sm / m if m else 0.0, sa / a)


def is_reference(metric: str, method: str) -> bool:
    """A-GEM's time over A-GEM's is 1 by definition: shown as the reference, never judged."""
    return metric == "time_vs_agem" and method == AGEM


def comparison_frame(table: PaperTable, paper: PaperResults, per_seed: pd.DataFrame,
                     datasets: Sequence[str], methods: Sequence[str] = ()) -> pd.DataFrame:
    """The long comparison table (:data:`COMPARISON_COLUMNS`) of ``table`` over ``datasets``."""
    rows = []
    for dataset in datasets:
        source = counterpart(dataset)  # where the paper's values come from
        ran = list(dict.fromkeys(per_seed.loc[per_seed["dataset"] == dataset, "method"]))
        candidates = method_order(list(dict.fromkeys([*table.paper_methods(paper, source), *methods, *ran])))
        for method in candidates:
            if table.methods is not None and method not in table.methods:
                continue
            runs = select_runs(per_seed, dataset, method)
            published = {metric: table.paper_value(paper, source, method, metric) for metric in table.metrics}
            if runs.empty and all(value is None for value, _ in published.values()):
                continue
            n_diverged = int(runs["diverged"].astype(bool).sum())
            for metric in table.metrics:
                value, note = published[metric]
                mean, std = ours(per_seed, dataset, method, metric)
                result = compare(value, mean, std, RESOLUTION.get(metric, 0.0))
                if is_reference(metric, method) or (metric in HARDWARE_BOUND and result.verdict not in
                                                    (NO_PAPER_VALUE, NOT_RUN)):
                    result = Comparison(math.nan, "", math.nan, NOT_COMPARABLE)
                elif source != dataset and result.verdict not in (NO_PAPER_VALUE, NOT_RUN):
                    result = Comparison(result.sigma, result.sigma_source, result.diff_sigmas, SMALLER_SCALE)
                rows.append({
                    "table": table.artefact.name, "dataset": dataset, "method": method, "metric": metric,
                    "paper_mean": value.mean if value else math.nan,
                    "paper_std": value.std if value and value.std is not None else math.nan,
                    "paper_note": note, "ours_mean": mean, "ours_std": std,
                    "n_seeds": len(runs) - n_diverged, "n_diverged": n_diverged,
                    "sigma": result.sigma, "sigma_source": result.sigma_source,
                    "diff_sigmas": result.diff_sigmas, "verdict": result.verdict,
                })
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _cell(mean: float, std: float, metric: Metric, style: str, n_seeds: int | None = None) -> str:
    return format_mean_std(mean * metric.scale, std * metric.scale, metric.decimals, style, n_seeds)


def _ours_cell(row, metric: Metric, style: str) -> str:
    if is_reference(row.metric, row.method) and np.isfinite(row.ours_mean):
        return "1 (reference)"
    return _cell(row.ours_mean, row.ours_std, metric, style, row.n_seeds)


def _formula_cell(row, style: str) -> str:
    if not row.paper_note:
        return _SYMBOLS[style]["none"]
    return row.paper_note if style == "unicode" else latex_escape(row.paper_note).replace("·", r"$\cdot$")


def _paper_cell(row, metric: Metric, style: str) -> str:
    """The published value, else "–"."""
    if not np.isnan(row.paper_mean):
        return _cell(row.paper_mean, row.paper_std, metric, style)
    return _SYMBOLS[style]["none"]


def _delta_cell(row, style: str) -> str:
    """"+0.4σ reproduced", or the verdict alone where there is no finite difference."""
    text = f"{row.diff_sigmas:+.1f}σ {row.verdict}" if np.isfinite(row.diff_sigmas) and row.sigma_source else row.verdict
    return text.replace("σ", _SYMBOLS[style]["sigma"])


def _part_cell(row, part: str, style: str) -> str:
    """One cell of a metric in the readable table (see :attr:`Metric.parts`)."""
    metric = METRICS[row.metric]
    if part == "paper":
        return _paper_cell(row, metric, style)
    if part == "ours":
        return _ours_cell(row, metric, style)
    return _delta_cell(row, style) if part == "delta" else _formula_cell(row, style)


def _headers(metric: Metric, style: str) -> list[str]:
    if metric.headers is not None:
        return [latex_escape(h) if style == "latex" else h for h in metric.headers]
    names = {"paper": "paper", "ours": "ours", "delta": "Δ" if style == "unicode" else r"$\Delta$", "formula": "formula"}
    label = metric.label if style == "unicode" else metric.latex
    return [f"{label} {names[part]}" for part in metric.parts]


def display_comparison(frame: pd.DataFrame, table: PaperTable, style: str = "unicode") -> pd.DataFrame:
    """One row per dataset × method; per metric three cells: the paper's, ours, Δ and verdict.
    Column names and cells are Markdown (``style="unicode"``) or LaTeX (``"latex"``)."""
    columns = ["Dataset", "Method", "Runs"] + [header for m in table.metrics for header in _headers(METRICS[m], style)]
    rows = []
    for (dataset, method), group in frame.groupby(["dataset", "method"], sort=False):
        first = group.iloc[0]
        runs = str(first.n_seeds) + (f" (+{first.n_diverged} diverged)" if first.n_diverged else "")
        cells = [dataset_label(dataset), table_method_label(method), runs]
        for row in group.itertuples(index=False):
            cells += [_part_cell(row, part, style) for part in METRICS[row.metric].parts]
        rows.append(cells)
    return pd.DataFrame(rows, columns=columns)


def scale_notes(datasets: Iterable[str]) -> str:
    """One sentence per scaled stand-in among ``datasets``: which paper benchmark, at what scale."""
    notes = []
    for dataset in dict.fromkeys(datasets):
        if dataset in SCALED_COUNTERPARTS:
            source, scale = SCALED_COUNTERPARTS[dataset]
            notes.append(f"{dataset_label(dataset)}: the paper's {dataset_label(source)} protocol on {scale}; "
                         f"the paper's {dataset_label(source)} values are shown beside ours ({SMALLER_SCALE}). ")
    return "".join(notes)


def render_markdown(frame: pd.DataFrame, table: PaperTable, paper: PaperResults) -> str:
    note = _NOTE.format(source=paper.source, extra=table.note + scale_notes(frame["dataset"]) + beyond_the_paper_note(frame["method"]))
    return f"# {table.title}\n\n" + markdown_table(display_comparison(frame, table, "unicode"), 3, note)


def render_latex(frame: pd.DataFrame, table: PaperTable) -> str:
    display = display_comparison(frame, table, "latex")
    return f"% {table.title}\n" + latex_table(display, list(display.columns), n_label_columns=3)


def write_paper_table(table: PaperTable, paper: PaperResults, per_seed: pd.DataFrame, out_dir: str | Path,
                      datasets: Sequence[str], methods: Sequence[str] = ()) -> list[Path]:
    """Write ``{stem}.csv``, ``.md``, ``.tex`` and ``.html`` of one table; return their paths."""
    frame = comparison_frame(table, paper, per_seed, datasets, methods)
    out_dir = Path(out_dir)
    return [
        write_text(out_dir / f"{table.stem}.csv", frame.to_csv(index=False)),
        write_text(out_dir / f"{table.stem}.md", render_markdown(frame, table, paper)),
        write_text(out_dir / f"{table.stem}.tex", render_latex(frame, table)),
        write_text(out_dir / f"{table.stem}.html", html_table(display_comparison(frame, table, "unicode"), table.title,
                                                              _NOTE.format(source=paper.source, extra=table.note + beyond_the_paper_note(frame["method"])))),
    ]


def write_paper_tables(records: Sequence[RunRecord], out_dir: str | Path, names: Sequence[str],
                       datasets: Sequence[str] | None = None, methods: Sequence[str] | None = None,
                       paper_path: str | Path = PAPER_RESULTS) -> list[Path]:
    """Write the tables ``names`` (e.g. ``["table4"]``). Each shows the paper's datasets of that
    table and, where it takes them, the other ``datasets`` of the run (default: those of the
    records), see :func:`agem.report.paper.artefact_datasets`."""
    if not names:
        return []
    paper = load_paper_results(paper_path)
    per_seed = table_per_seed(records)
    run_datasets = list(datasets) if datasets is not None else list(dict.fromkeys(per_seed["dataset"]))
    written = []
    for name in names:
        table = PAPER_TABLES[name]
        shown = artefact_datasets(table.artefact, run_datasets)
        written += write_paper_table(table, paper, per_seed, out_dir, shown, methods or ())
    return written
