"""Studies over many runs: hyper-parameter sweeps and the task-length study.

A **sweep** (agem.pipeline.sweeps) gives ``{experiment}/sweeps/{name}.{csv,md,png,pdf}``: A_T and
F_T (mean ± std over seeds, ddof = 0 like every table) per grid point, drawn against the swept
value with the seeds as a band.

The **task-length study** (config/task_length.yaml) gives ``{experiment}/study/``:

- ``task_length.{csv,md}``: A_T, F_T and training seconds per method and steps per task;
- ``task_length_accuracy.{png,pdf}``: A_T against steps per task, one line per method, ± 1 std band;
- ``task_length_gap.{png,pdf}``: A-GEM − GEM in A_T against steps per task, with the 2σ band of the
  difference (σ = sqrt(σ_A-GEM² + σ_GEM²), the one σ of every table: agem.report.paper.combined_sigma);
- ``task_length_claims.{csv,md}``: at every length, whether A-GEM ≈ GEM (|Δ| within 2σ) and whether
  A-GEM is much cheaper than GEM (at least agem.report.claims.SPEEDUP× less training time),
  the same tests as the reproduction summary's. A result of a single seed has no std of its own:
  it takes the largest std of A_T over seeds measured at that length (:func:`one_seed_sigma`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from agem.io.atomic import write_text
from agem.report.claims import HOLDS, SPEEDUP, UNTESTED, agem_close_to_gem, agem_faster_than_gem
from agem.report.figures import save_figure
from agem.report.labels import method_label, resolve_order
from agem.report.paper import RESOLUTION
from agem.report.styles import TEXT_WIDTH_IN, method_style
from agem.report.tables import markdown_table
from agem.runs.metrics import run_metrics
from agem.runs.runfile import RunRecord

STUDY_METRICS = ("A_T", "F_T", "train_seconds")


def metrics_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run: dataset, method, seed, diverged, hparams (a dict) and STUDY_METRICS."""
    rows = []
    for record in records:
        metrics = run_metrics(record)
        rows.append({"dataset": record.dataset, "method": record.method, "seed": record.seed, "diverged": record.diverged,
                     "hparams": record.config.get("hparams", {}), **{m: metrics[m] for m in STUDY_METRICS}})
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "diverged", "hparams", *STUDY_METRICS])


def summarise(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean and std (ddof = 0) of STUDY_METRICS over the non-diverged seeds of each group."""
    kept = frame[~frame["diverged"].astype(bool)]  # an empty frame's column is of object dtype
    grouped = kept.groupby(by, sort=False)[list(STUDY_METRICS)]
    summary = grouped.agg(["mean", lambda values: float(np.std(values, ddof=0))])
    summary.columns = [f"{metric}_{'mean' if stat == 'mean' else 'std'}" for metric, stat in summary.columns]
    counts = frame.groupby(by, sort=False).agg(n_seeds=("seed", "size"), n_diverged=("diverged", "sum"))
    return counts.join(summary).reset_index()


def _pm(mean: float, std: float, decimals: int) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


# ---- Sweeps -------------------------------------------------------------------------------------


def sweep_frame(records: Iterable[RunRecord], keys: Sequence[str]) -> pd.DataFrame:
    """Per run, the swept values (from the run's own recorded hyper-parameters) and metrics."""
    frame = metrics_frame(records)
    for key in keys:
        frame[key] = [hparams.get(key) for hparams in frame["hparams"]]
    return frame.drop(columns="hparams")


def write_sweep(records: Sequence[RunRecord], name: str, grid: Mapping[str, list], out_dir: str | Path) -> list[Path]:
    """The sweep's table (CSV, Markdown) and figure (PNG, PDF) in ``out_dir``."""
    keys = list(grid)
    summary = summarise(sweep_frame(records, keys), keys)
    order = {key: {value: i for i, value in enumerate(values)} for key, values in grid.items()}
    summary = summary.sort_values(keys, key=lambda column: column.map(order[column.name])).reset_index(drop=True)
    out_dir = Path(out_dir)
    written = [write_text(out_dir / f"{name}.csv", summary.to_csv(index=False))]
    display = pd.DataFrame({**{key: summary[key].astype(str) for key in keys},
                            "seeds": summary["n_seeds"].astype(str),
                            "A_T (%)": [_pm(m, s, 1) for m, s in zip(summary["A_T_mean"], summary["A_T_std"])],
                            "F_T": [_pm(m, s, 2) for m, s in zip(summary["F_T_mean"], summary["F_T_std"])]})
    method = records[0].method if records else "?"
    note = f"Sweep {name}: {method_label(method)}, mean ± std over the non-diverged seeds (ddof = 0); diverged runs are counted, not averaged."
    written.append(write_text(out_dir / f"{name}.md", markdown_table(display, len(keys) + 1, note)))
    written += save_figure(_sweep_figure(summary, keys, name, method), out_dir, name)
    return written


def _sweep_figure(summary: pd.DataFrame, keys: Sequence[str], name: str, method: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH_IN, 2.6), layout="constrained")
    x_key, other = keys[0], list(keys[1:])
    groups = summary.groupby(other, sort=False) if other else [((), summary)]
    numeric = pd.api.types.is_numeric_dtype(summary[x_key])
    for label, group in groups:
        xs = group[x_key].to_numpy() if numeric else np.arange(len(group))
        suffix = ", ".join(f"{k}={v}" for k, v in zip(other, label if isinstance(label, tuple) else (label,)))
        for ax, metric, scale in ((axes[0], "A_T", 1), (axes[1], "F_T", 1)):
            mean, std = group[f"{metric}_mean"].to_numpy() * scale, group[f"{metric}_std"].to_numpy() * scale
            line, = ax.plot(xs, mean, marker="o", label=suffix or method_label(method))
            if (group["n_seeds"] > 1).any():
                ax.fill_between(xs, mean - std, mean + std, alpha=0.2, color=line.get_color(), linewidth=0)
    positive = numeric and (summary[x_key] > 0).all()
    for ax, ylabel in ((axes[0], "A_T (%)"), (axes[1], "F_T")):
        if positive and summary[x_key].max() / summary[x_key].min() >= 10:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(np.arange(len(summary)), summary[x_key].astype(str))
        ax.set_xlabel(x_key)
        ax.set_ylabel(ylabel)
    seeds = int(summary["n_seeds"].max()) if len(summary) else 0
    band = "band: ± 1 std over seeds" if seeds > 1 else "one seed: no band"
    fig.suptitle(f"Sweep {name}: {method_label(method)}, {seeds} seed{'s' if seeds != 1 else ''} per point ({band})", fontsize=9)
    if other:
        axes[0].legend(fontsize=7)
    return fig


# ---- The task-length study ----------------------------------------------------------------------


def task_length_summary(records: Sequence[RunRecord], steps: Mapping[str, int], methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean ± std per method × steps per task, in the given method order (else as found)."""
    frame = metrics_frame([r for r in records if r.dataset in steps]).drop(columns="hparams")
    frame["steps_per_task"] = frame["dataset"].map(steps)
    summary = summarise(frame, ["method", "steps_per_task"])
    order = resolve_order(summary["method"].unique(), methods)
    summary["method"] = pd.Categorical(summary["method"], order, ordered=True)
    return summary.sort_values(["method", "steps_per_task"]).reset_index(drop=True).astype({"method": str})


def _value(summary: pd.DataFrame, method: str, steps: int, metric: str) -> tuple[float, float] | None:
    """(mean, std) of one method at one length (A_T in %), None where absent or not finite."""
    row = summary[(summary["method"] == method) & (summary["steps_per_task"] == steps)]
    if row.empty or not math.isfinite(row[f"{metric}_mean"].iloc[0]):
        return None
    std = row[f"{metric}_std"].iloc[0]
    return float(row[f"{metric}_mean"].iloc[0]), 0.0 if math.isnan(std) else float(std)


class _Ours:
    """The claims' view (agem.report.claims.Ours.get) of one length of the study."""

    def __init__(self, summary: pd.DataFrame, steps: int):
        self.summary, self.steps = summary, steps

    def get(self, dataset: str, method: str, metric: str) -> tuple[float, float] | None:
        value = _value(self.summary, method, self.steps, metric)
        if value is None or metric != "A_T" or _seeds(self.summary, method, self.steps) > 1:
            return value
        # One seed has no std of its own: it borrows the largest seed std of A_T measured at this
        # length (methods with two or more seeds), so that one run is not taken as noise-free.
        return value[0], max(value[1], one_seed_sigma(self.summary, self.steps))


def _seeds(summary: pd.DataFrame, method: str, steps: int) -> int:
    row = summary[(summary["method"] == method) & (summary["steps_per_task"] == steps)]
    return 0 if row.empty else int(row["n_seeds"].iloc[0] - row["n_diverged"].iloc[0])


def one_seed_sigma(summary: pd.DataFrame, steps: int) -> float:
    """The largest std of A_T over seeds among this length's methods with two or more seeds (0 if none)."""
    rows = summary[(summary["steps_per_task"] == steps) & (summary["n_seeds"] - summary["n_diverged"] > 1)]
    stds = rows["A_T_std"].dropna()
    return float(stds.max()) if len(stds) else 0.0


def task_length_claims(summary: pd.DataFrame) -> pd.DataFrame:
    """Per length, the two claims with the reproduction summary's own tests and evidence."""
    rows = []
    for steps in sorted(summary["steps_per_task"].unique()):
        ours = _Ours(summary, int(steps))
        for claim, check in (("A-GEM ≈ GEM (A_T within 2σ)", agem_close_to_gem),
                             (f"A-GEM much cheaper than GEM (≥ {SPEEDUP:g}× less training time)", agem_faster_than_gem)):
            result = check(ours, "")
            status, evidence = result if result is not None else (UNTESTED, "no A-GEM or GEM runs at this length")
            rows.append({"steps_per_task": int(steps), "claim": claim, "status": status, "evidence": evidence})
    return pd.DataFrame(rows, columns=["steps_per_task", "claim", "status", "evidence"])


def gap_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """A-GEM − GEM in A_T (points) per length, with 2σ of the difference (combined_sigma)."""
    from agem.report.claims import noise_margin

    rows = []
    for steps in sorted(summary["steps_per_task"].unique()):
        ours = _Ours(summary, int(steps))
        agem, gem = (ours.get("", m, "A_T") for m in ("agem", "gem"))
        if agem is None or gem is None:
            continue
        rows.append({"steps_per_task": int(steps), "gap": agem[0] - gem[0], "two_sigma": noise_margin(agem, gem, RESOLUTION["A_T"])})
    return pd.DataFrame(rows, columns=["steps_per_task", "gap", "two_sigma"])


def write_task_length(records: Sequence[RunRecord], steps: Mapping[str, int], out_dir: str | Path,
                      methods: Sequence[str] | None = None) -> list[Path]:
    out_dir = Path(out_dir)
    summary = task_length_summary(records, steps, methods)
    claims = task_length_claims(summary)
    written = [write_text(out_dir / "task_length.csv", summary.to_csv(index=False)),
               write_text(out_dir / "task_length.md", _task_length_markdown(summary)),
               write_text(out_dir / "task_length_claims.csv", claims.to_csv(index=False)),
               write_text(out_dir / "task_length_claims.md", _claims_markdown(claims))]
    written += save_figure(_accuracy_figure(summary), out_dir, "task_length_accuracy")
    written += save_figure(_gap_figure(gap_frame(summary)), out_dir, "task_length_gap")
    return written


def _task_length_markdown(summary: pd.DataFrame) -> str:
    display = pd.DataFrame({
        "method": [method_label(m) for m in summary["method"]],
        "steps per task": summary["steps_per_task"].map("{:,}".format),
        "seeds": summary["n_seeds"].astype(str),
        "A_T (%)": [_pm(m, s, 1) for m, s in zip(summary["A_T_mean"], summary["A_T_std"])],
        "F_T": [_pm(m, s, 2) for m, s in zip(summary["F_T_mean"], summary["F_T_std"])],
        "train (s)": [_pm(m, s, 0) for m, s in zip(summary["train_seconds_mean"], summary["train_seconds_std"])],
    })
    note = ("Task-length study: mean ± std over the non-diverged seeds (ddof = 0); training seconds are wall-clock time of one "
            "CPU thread, evaluation excluded, and rise with the machine's load. 'seeds' counts every run, diverged ones included.")
    return markdown_table(display, 2, note)


def _claims_markdown(claims: pd.DataFrame) -> str:
    display = claims.assign(steps_per_task=claims["steps_per_task"].map("{:,}".format)).rename(columns={"steps_per_task": "steps per task"})
    held = (claims["status"] == HOLDS).sum()
    note = (f"{held} of {len(claims)} checks hold. 2σ: twice sqrt(σ_A-GEM² + σ_GEM²) over seeds, each at least the paper's rounding; "
            "a one-seed result takes the largest seed std of A_T measured at its length. Times are wall-clock seconds of training.")
    return markdown_table(display.astype(str), 2, note)


def _accuracy_figure(summary: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(TEXT_WIDTH_IN / 2, 2.8), layout="constrained")
    for method, group in summary.groupby("method", sort=False):
        style = method_style(method)
        xs, mean, std = group["steps_per_task"], group["A_T_mean"], group["A_T_std"]
        ax.plot(xs, mean, color=style.colour, marker=style.marker, linestyle=style.linestyle, label=method_label(method))
        if (group["n_seeds"] > 1).any():
            ax.fill_between(xs, mean - std, mean + std, color=style.colour, alpha=0.15, linewidth=0)
    ax.set_xscale("log")
    ticks = sorted(summary["steps_per_task"].unique())
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("steps per task (batch 10)")
    ax.set_ylabel("A_T (%)")
    seeds = int(summary["n_seeds"].max()) if len(summary) else 0
    ax.set_title(f"A_T against task length, up to {seeds} seeds (band: ± 1 std)", fontsize=8)
    ax.legend(fontsize=6, ncols=2)
    return fig


def _gap_figure(gaps: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(TEXT_WIDTH_IN / 2, 2.8), layout="constrained")
    ax.axhline(0, color="grey", linewidth=0.8)
    if len(gaps):
        xs = gaps["steps_per_task"]
        ax.plot(xs, gaps["gap"], marker="o", color=method_style("agem").colour, label="A-GEM − GEM")
        ax.fill_between(xs, gaps["gap"] - gaps["two_sigma"], gaps["gap"] + gaps["two_sigma"], alpha=0.2,
                        color=method_style("agem").colour, linewidth=0, label="± 2σ of the difference")
        ax.set_xscale("log")
        ax.set_xticks(list(xs), [f"{t:,}" for t in xs])
        ax.minorticks_off()
        ax.legend(fontsize=7)
    ax.set_xlabel("steps per task (batch 10)")
    ax.set_ylabel("Δ A_T (points)")
    ax.set_title("A-GEM − GEM against task length (0: equal)", fontsize=8)
    return fig
