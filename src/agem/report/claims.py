"""The reproduction summary: how many numbers of each table were reproduced, and which of the
paper's claims hold in this run.

Read from the comparison tables (``results/{experiment}/tables/table{2..7}_*.csv``, :mod:`agem.report.paper_tables`),
written as ``reproduction_summary.md`` (one page; the same as ``.html`` for ``snakemake --report``)
and ``reproduction_summary.csv`` (one row per claim × dataset: claim, paper, dataset, status, evidence).

A claim is checked on every dataset that has the runs it needs (the embedded benchmarks
included: they show whether the paper's effect appears at all), and reported "not tested" once,
naming what is missing, when no dataset has them.

Seed noise decides between "holds" and "inconclusive": an ordering claim (A beats B) holds only
when A − B exceeds twice the combined spread of the two, fails when B − A does, and is
inconclusive in between; the combined spread is the σ of every table's Δ
(:func:`agem.report.paper.combined_sigma`: sqrt(σ_a² + σ_b²), each the seeds' std, at least the
paper's rounding).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agem.io.atomic import write_text
from agem.report.labels import PAPER_METHOD_ORDER, dataset_label, method_label
from agem.report.paper import (
    JE_SUFFIX,
    MNIST,
    PAPER_RESULTS,
    RESOLUTION,
    SUMMARY_STEM,
    VERDICT_MEANINGS,
    VERDICTS,
    PaperResults,
    combined_sigma,
    counterpart,
    load_paper_results,
)
from agem.report.tables import html_page, markdown_table

HOLDS, FAILS, INCONCLUSIVE, UNTESTED = "holds", "does not hold", "inconclusive (within seed noise)", "not tested"
REGULARISATION = ("van", "ewc", "pi", "mas", "rwalk")
SPEEDUP = 5.0  # Table 7 itself gives 7.2× (MNIST) and 11.7× (CIFAR); the text says "about 100×"


class Ours:
    """Our mean and std per dataset × method × metric, from all comparison tables at once."""

    def __init__(self, comparisons: pd.DataFrame):
        self.frame = comparisons.drop_duplicates(["dataset", "method", "metric"])
        self.datasets = list(dict.fromkeys(self.frame["dataset"]))
        self._index = self.frame.set_index(["dataset", "method", "metric"])

    def get(self, dataset: str, method: str, metric: str) -> tuple[float, float] | None:
        """(mean, std), or None where we have no finite value (not run, or diverged: ∞)."""
        try:
            row = self._index.loc[(dataset, method, metric)]
        except KeyError:
            return None
        mean, std = float(row["ours_mean"]), float(row["ours_std"])
        return (mean, 0.0 if math.isnan(std) else std) if math.isfinite(mean) else None

    def methods(self, dataset: str, metric: str) -> list[str]:
        """Methods with a finite value of ``metric`` on ``dataset``."""
        rows = self.frame[(self.frame["dataset"] == dataset) & (self.frame["metric"] == metric)]
        return [m for m in dict.fromkeys(rows["method"]) if self.get(dataset, m, metric) is not None]


Result = tuple[str, str] | None  # (status, evidence), None: the dataset lacks the runs


def _pm(value: tuple[float, float], decimals: int = 1) -> str:
    return f"{value[0]:.{decimals}f} ± {value[1]:.{decimals}f}"


def _status(holds: bool) -> str:
    return HOLDS if holds else FAILS


def noise_margin(a: tuple[float, float], b: tuple[float, float], resolution: float) -> float:
    """2σ of the difference of two (mean, std) values, σ as in every table (:func:`combined_sigma`)."""
    return 2 * combined_sigma(a[1], b[1], resolution)


def ordering(a: tuple[float, float], b: tuple[float, float], resolution: float) -> tuple[str, str]:
    """Whether a > b beyond seed noise: (status, "Δ … (2σ = …)")."""
    margin, difference = noise_margin(a, b, resolution), a[0] - b[0]
    status = HOLDS if difference > margin else FAILS if difference < -margin else INCONCLUSIVE
    return status, f"Δ {difference:+.{_decimals(resolution)}f} (2σ = {margin:.{_decimals(resolution)}f})"


def _decimals(resolution: float) -> int:
    return max(1, -math.floor(math.log10(resolution * 2)))


def agem_close_to_gem(ours: Ours, dataset: str) -> Result:
    agem, gem = ours.get(dataset, "agem", "A_T"), ours.get(dataset, "gem", "A_T")
    if agem is None or gem is None:
        return None
    # Within twice the combined σ of the two (each at least the paper's rounding of A_T).
    bound = noise_margin(agem, gem, RESOLUTION["A_T"])
    difference = agem[0] - gem[0]
    return _status(abs(difference) <= bound), f"A-GEM {_pm(agem)} vs GEM {_pm(gem)}: Δ {difference:+.1f} (2σ = {bound:.1f})"


def agem_faster_than_gem(ours: Ours, dataset: str) -> Result:
    agem, gem = ours.get(dataset, "agem", "train_seconds"), ours.get(dataset, "gem", "train_seconds")
    if agem is None or gem is None or agem[0] <= 0:
        return None
    speedup = gem[0] / agem[0]
    return _status(speedup >= SPEEDUP), f"GEM {gem[0]:.1f} s / A-GEM {agem[0]:.1f} s = {speedup:.1f}×"


def agem_less_memory_than_gem(ours: Ours, dataset: str) -> Result:
    agem, gem = ours.get(dataset, "agem", "memory_bytes"), ours.get(dataset, "gem", "memory_bytes")
    if agem is None or gem is None or agem[0] <= 0:
        return None
    evidence = f"measured: GEM {gem[0] / 2**20:.2f} MiB / A-GEM {agem[0] / 2**20:.2f} MiB = {gem[0] / agem[0]:.1f}×"
    agem_formula = ours.get(dataset, "agem", "memory_formula_bytes")
    gem_formula = ours.get(dataset, "gem", "memory_formula_bytes")
    if agem_formula and gem_formula and agem_formula[0] > 0:
        evidence += f"; by the paper's formula {gem_formula[0] / agem_formula[0]:.1f}×"
    return _status(agem[0] < gem[0]), evidence


def prognn_no_forgetting(ours: Ours, dataset: str) -> Result:
    forgetting = ours.get(dataset, "prognn", "F_T")
    if forgetting is None:
        return None
    return _status(abs(forgetting[0]) < RESOLUTION["F_T"]), f"PROG-NN F_T = {forgetting[0]:.3f}"


def beats_the_best_of(method: str, rivals: Iterable[str]) -> Callable[[Ours, str], Result]:
    """Claim check: ``method``'s A_T above the best A_T among ``rivals`` (those run), beyond noise."""
    def check(ours: Ours, dataset: str) -> Result:
        ours_value = ours.get(dataset, method, "A_T")
        others = {m: ours.get(dataset, m, "A_T") for m in rivals if m != method}
        others = {m: v for m, v in others.items() if v is not None}
        if ours_value is None or not others:
            return None
        best = max(others, key=lambda m: others[m][0])
        status, delta = ordering(ours_value, others[best], RESOLUTION["A_T"])
        compared = ", ".join(map(method_label, others))
        return status, (f"{method_label(method)} {_pm(ours_value)} vs best of {compared}: "
                        f"{method_label(best)} {_pm(others[best])}; {delta}")
    return check


def agem_forgets_less_than_van(ours: Ours, dataset: str) -> Result:
    agem, van = ours.get(dataset, "agem", "F_T"), ours.get(dataset, "van", "F_T")
    if agem is None or van is None:
        return None
    status, delta = ordering(van, agem, RESOLUTION["F_T"])
    return status, f"F_T: A-GEM {_pm(agem, 3)} vs VAN {_pm(van, 3)}; VAN − A-GEM {delta.removeprefix('Δ ')}"


def multitask_upper_bound(ours: Ours, dataset: str) -> Result:
    # The paper's claim is about its own methods: ER (beyond the paper) is not among the rivals.
    rivals = [m for m in ours.methods(dataset, "A_T") if m != "multitask" and m in PAPER_METHOD_ORDER]
    return beats_the_best_of("multitask", rivals)(ours, dataset)


def je_raises_accuracy(ours: Ours, dataset: str) -> Result:
    joint = dataset + JE_SUFFIX
    if dataset.endswith(JE_SUFFIX) or joint not in ours.datasets:
        return None
    pairs = {m: (ours.get(dataset, m, "A_T"), ours.get(joint, m, "A_T")) for m in ours.methods(dataset, "A_T")}
    pairs = {m: (s[0], j[0]) for m, (s, j) in pairs.items() if s is not None and j is not None}
    if not pairs:
        return None
    evidence = "; ".join(f"{method_label(m)} {s:.1f} → {j:.1f}" for m, (s, j) in pairs.items())
    return _status(all(j > s for s, j in pairs.values())), evidence


def gem_fits_memory_better(ours: Ours, dataset: str) -> Result:
    agem, gem = ours.get(dataset, "agem", "A_T_memory"), ours.get(dataset, "gem", "A_T_memory")
    if agem is None or gem is None:
        return None
    status, delta = ordering(gem, agem, RESOLUTION["A_T_memory"])
    return status, f"A_T on the memory: GEM {_pm(gem)} vs A-GEM {_pm(agem)}; {delta}"


MEMORY_FIT = 95.0  # the paper's A-GEM fits its MNIST memory at 99.3 %


def agem_fits_its_memory(ours: Ours, dataset: str) -> Result:
    if counterpart(dataset) != MNIST:
        return None  # the paper claims it on MNIST only (72.1 % on CIFAR)
    memory = ours.get(dataset, "agem", "A_T_memory")
    if memory is None:
        return None
    margin = 2 * max(memory[1], RESOLUTION["A_T_memory"])
    status = HOLDS if memory[0] - margin > MEMORY_FIT else FAILS if memory[0] + margin < MEMORY_FIT else INCONCLUSIVE
    return status, f"A-GEM's A_T on its memory {_pm(memory)} vs {MEMORY_FIT:.0f} (2σ = {margin:.1f})"


@dataclass(frozen=True)
class Claim:
    text: str
    paper: str  # where the paper makes it, with its numbers
    needs: str  # the runs it needs, for "not tested"
    check: Callable[[Ours, str], Result]


CLAIMS = (
    Claim("A-GEM ≈ GEM in A_T (within 2σ)", "Table 4: 89.1 vs 89.5 (MNIST), 62.3 vs 61.2 (CIFAR)",
          "A-GEM and GEM", agem_close_to_gem),
    Claim(f"A-GEM ≥ {SPEEDUP:.0f}× faster than GEM", "Table 7: 7.2× (MNIST), 11.7× (CIFAR); text: about 100×",
          "A-GEM and GEM", agem_faster_than_gem),
    Claim("A-GEM needs less memory than GEM", "Table 7: 2P + (B+M)H vs PT + (B+M)H; text: about 10× lower",
          "A-GEM and GEM", agem_less_memory_than_gem),
    Claim("PROG-NN F_T = 0", "Table 4: 0 on MNIST and CIFAR", "PROG-NN", prognn_no_forgetting),
    Claim("A-GEM has a higher A_T than VAN, EWC, PI, MAS and RWALK", "Tables 4–6, on every benchmark",
          "A-GEM and a regularisation baseline", beats_the_best_of("agem", REGULARISATION)),
    Claim("GEM has a higher A_T than VAN and EWC", "Table 4: 89.5 vs 47.9 and 68.3 (MNIST), 61.2 vs 40.4 and 42.4 (CIFAR)",
          "GEM and VAN or EWC", beats_the_best_of("gem", ("van", "ewc"))),
    Claim("A-GEM forgets less than VAN (F_T)", "Tables 4–6: 0.06 vs 0.51 (MNIST), 0.07 vs 0.25 (CIFAR); not on AWA (0.05 vs 0.04)",
          "A-GEM and VAN", agem_forgets_less_than_van),
    Claim("MULTI-TASK is the upper bound of A_T", "Tables 4–6, on every benchmark",
          "MULTI-TASK and another method", multitask_upper_bound),
    Claim("Joint embedding raises A_T", "Tables 5–6 and Fig. 2: every method on CUB and AWA",
          "a benchmark and its -JE variant", je_raises_accuracy),
    Claim("GEM fits its episodic memory better than A-GEM", "Table 2: 99.5 vs 99.3 (MNIST), 97.1 vs 72.1 (CIFAR)",
          "A-GEM and GEM with acc_memory", gem_fits_memory_better),
    Claim(f"A-GEM fits its episodic memory (A_T on the memory > {MEMORY_FIT:.0f} %)", "Table 2: 99.3 (MNIST)",
          "A-GEM on a Permuted MNIST benchmark", agem_fits_its_memory),
)
CLAIM_COLUMNS = ["claim", "paper", "dataset", "status", "evidence"]
STATUS_MEANINGS = {
    HOLDS: "the run shows it, beyond seed noise where it is an ordering",
    INCONCLUSIVE: "the difference is within 2σ of the two results: the seeds cannot tell",
    FAILS: "the run contradicts it (the evidence column gives the numbers)",
    UNTESTED: "no dataset of the run has the runs it needs (named)",
}


def claims_doc() -> str:
    """The list of claims and what each status means, as docs/reproduction.md#summary shows them
    (the doc's block is this text, checked by tests/test_paper_claims.py)."""
    claims = "\n".join(f"- {claim.text} — {claim.paper};" for claim in CLAIMS)
    statuses = "\n".join(f"| *{status}* | {meaning} |" for status, meaning in STATUS_MEANINGS.items())
    return f"{claims.removesuffix(';')}.\n\n| status | meaning |\n|---|---|\n{statuses}\n"


def verdicts_doc() -> str:
    """The verdict table of docs/reproduction.md#verdicts, from :data:`VERDICT_MEANINGS`."""
    rows = "\n".join(f"| *{verdict}* | {VERDICT_MEANINGS[verdict].replace('|', chr(92) + '|')} |" for verdict in VERDICTS)
    return f"| verdict | meaning |\n|---|---|\n{rows}\n"


def claims_frame(ours: Ours) -> pd.DataFrame:
    rows = []
    for claim in CLAIMS:
        tested = False
        for dataset in ours.datasets:
            result = claim.check(ours, dataset)
            if result is not None:
                rows.append([claim.text, claim.paper, dataset, *result])
                tested = True
        if not tested:
            rows.append([claim.text, claim.paper, "", UNTESTED, f"needs runs of {claim.needs}"])
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def verdict_counts(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Numbers per table and verdict (rows: tables in order; columns: :data:`VERDICTS`)."""
    counts = comparisons.groupby(["table", "verdict"], sort=False).size().unstack(fill_value=0)
    return counts.reindex(columns=list(VERDICTS), fill_value=0)


_COUNTS_NOTE = ("not run: the paper reports it, this run has no such run; no paper value: only this run has it; "
                "not comparable: seconds on different hardware (their ratio is compared); smaller scale: our "
                "scaled-down stand-in for a paper benchmark, its Δ for information only.")
_CLAIMS_NOTE = "Each claim is checked on every dataset of this run that has the runs it needs."


def _summary_parts(comparisons: pd.DataFrame, claims: pd.DataFrame, paper: PaperResults) -> dict:
    """What the Markdown and the HTML summary show: the intro, both tables and their headings."""
    counts = verdict_counts(comparisons)
    count_display = counts.reset_index().rename(columns={"table": "Table"}).astype(str)
    count_display["Table"] = [f"Table {name.removeprefix('table')}" for name in count_display["Table"]]
    claim_display = pd.DataFrame({
        "Claim": claims["claim"], "In the paper": claims["paper"],
        "Dataset": [dataset_label(d) if d else "–" for d in claims["dataset"]],
        "This run": claims["status"], "Evidence": claims["evidence"],
    })
    held = int((claims["status"] == HOLDS).sum())
    tested = int((claims["status"] != UNTESTED).sum())
    return {
        "intro": (f"Paper: {paper.source}. Every number of Tables 2–7 is compared with its published value in "
                  "table*.{csv,md,tex} beside this file; reproduced: within 1σ, within 2σ, off: beyond, "
                  "σ = sqrt(σ_paper² + σ_ours²) (docs/reproduction.md#verdicts)."),
        "counts": count_display, "claims": claim_display,
        "claims_heading": f"The paper's claims in this run ({held} of {tested} checks hold)",
    }


def summary_markdown(comparisons: pd.DataFrame, claims: pd.DataFrame, paper: PaperResults) -> str:
    parts = _summary_parts(comparisons, claims, paper)
    return (
        f"# Reproduction summary\n\n{parts['intro']}\n\n## Verdicts per table\n\n"
        + markdown_table(parts["counts"], 1, _COUNTS_NOTE)
        + f"\n## {parts['claims_heading']}\n\n"
        + markdown_table(parts["claims"], parts["claims"].shape[1], _CLAIMS_NOTE)
    )


def summary_html(comparisons: pd.DataFrame, claims: pd.DataFrame, paper: PaperResults) -> str:
    """The Markdown summary's content as a page for ``snakemake --report`` (which shows HTML, not Markdown)."""
    parts = _summary_parts(comparisons, claims, paper)
    return html_page("Reproduction summary", [("Verdicts per table", parts["counts"], _COUNTS_NOTE),
                                              (parts["claims_heading"], parts["claims"], _CLAIMS_NOTE)],
                     parts["intro"], style=_SUMMARY_STYLE)


# Claims and evidence are sentences: they wrap, left-aligned.
_SUMMARY_STYLE = ("body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse} "
                  "th,td{padding:2px 8px;text-align:left;vertical-align:top} th{border-bottom:1px solid #333} "
                  "tr:nth-child(even){background:#f4f4f4}")


def write_summary(table_paths: Iterable[str | Path], out_dir: str | Path,
                  paper_path: str | Path | None = None) -> list[Path]:
    """Read the comparison tables and write ``reproduction_summary.{md,csv,html}`` (the HTML: the
    Markdown's content for ``snakemake --report``); return the paths."""
    frames = [pd.read_csv(path, keep_default_na=False, na_values=[""]) for path in table_paths]
    comparisons = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["table", "dataset", "method", "metric", "ours_mean", "ours_std", "verdict"])
    paper = load_paper_results(paper_path or PAPER_RESULTS)
    claims = claims_frame(Ours(comparisons))
    out_dir = Path(out_dir)
    return [
        write_text(out_dir / f"{SUMMARY_STEM}.md", summary_markdown(comparisons, claims, paper)),
        write_text(out_dir / f"{SUMMARY_STEM}.csv", claims.to_csv(index=False)),
        write_text(out_dir / f"{SUMMARY_STEM}.html", summary_html(comparisons, claims, paper)),
    ]
