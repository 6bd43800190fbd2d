"""The paper's published values, the verdict of ours against them, and the paper's artefacts.

Three things every table of the reproduction report shares:

- :func:`load_paper_results` reads ``config/paper_results.yaml`` (the numbers of App. E and of
  Tables 2, 3 and 7, transcribed once) and validates it against
  ``workflow/schemas/paper_results.schema.yaml``.
- :func:`compare` turns a published value and ours into the difference in units of σ
  (:func:`combined_sigma`: the paper's std and ours combined, each at least the paper's rounding) and a
  verdict: ``reproduced`` (|Δ| ≤ 1σ), ``within 2σ``, ``off``, or why there is none
  (``no paper value``, ``not run``, ``not comparable``).
- :data:`ARTEFACTS` names each table and figure of the paper that the pipeline rebuilds, its
  output files and the datasets it covers (:func:`artefact_datasets`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from agem.report.labels import PAPER_METHOD_ORDER

REPO = Path(__file__).resolve().parents[3]
PAPER_RESULTS = REPO / "config" / "paper_results.yaml"
PAPER_RESULTS_SCHEMA = REPO / "workflow" / "schemas" / "paper_results.schema.yaml"

# --- verdicts ------------------------------------------------------------------------------------
REPRODUCED = "reproduced"
WITHIN_2SIGMA = "within 2σ"
OFF = "off"
NO_PAPER_VALUE = "no paper value"
NOT_RUN = "not run"
NOT_COMPARABLE = "not comparable"
# Our scaled-down stand-in for a paper benchmark (Permuted MNIST on 5,000 digits): the paper's
# value is shown beside ours, with Δ for information, but is not expected to be reproduced.
SMALLER_SCALE = "smaller scale"
VERDICTS = (REPRODUCED, WITHIN_2SIGMA, OFF, NO_PAPER_VALUE, NOT_RUN, NOT_COMPARABLE, SMALLER_SCALE)
# What each verdict means, for the tables' readers (docs/reproduction.md#verdicts is generated from it).
VERDICT_MEANINGS = {
    REPRODUCED: "|Δ| ≤ 1σ",
    WITHIN_2SIGMA: "1σ < |Δ| ≤ 2σ",
    OFF: "|Δ| > 2σ, or ∞ (diverged, out of memory) on one side only",
    NO_PAPER_VALUE: "the paper prints none (e.g. LCA of iCaRL), or the method is beyond the paper (‡)",
    NOT_RUN: "the config has no runs for this cell",
    NOT_COMPARABLE: "seconds on the paper's GPU vs this machine; Table 7 judges the time ratio to A-GEM instead",
    SMALLER_SCALE: "our scaled-down stand-in for a paper benchmark (Permuted MNIST on 5,000 digits): the "
                   "paper's value and Δ are shown for information, not expected to be reproduced",
}

# Half a unit of the last digit the paper prints for each metric (App. E: A_T to 0.1 %, F_T and
# LCA to 0.01). It is the smallest σ either side of a comparison has (combined_sigma): a value printed
# without a std (F_T on CUB) and a single run of ours (no spread) are still only known to this precision.
RESOLUTION = {
    "A_T": 0.05, "A_T_memory": 0.05, "F_T": 0.005, "F_wst": 0.005, "F_wst_memory": 0.005,
    "LCA10": 0.005, "time_vs_agem": 0.05,
}


class PaperResultsError(ValueError):
    """config/paper_results.yaml is malformed; the message names the entry."""


@dataclass(frozen=True)
class PaperValue:
    """One published number: mean, and the std over the paper's runs where it gives one.
    ``mean`` is +inf for the paper's "∞" (a method that failed to train or ran out of memory)."""

    mean: float
    std: float | None = None

    @classmethod
    def parse(cls, value: float | list[float]) -> PaperValue:
        if isinstance(value, list):
            return cls(float(value[0]), float(value[1]))
        return cls(float(value))


def _parse_tree(tree: dict) -> dict:
    """dataset -> method -> metric -> PaperValue (also for Table 7's dataset -> method -> value)."""
    return {
        dataset: {
            method: {metric: PaperValue.parse(v) for metric, v in values.items()}
            if isinstance(values, dict) else PaperValue.parse(values)
            for method, values in methods.items()
        }
        for dataset, methods in tree.items()
    }


@dataclass(frozen=True)
class PaperResults:
    """The published values, parsed. Look-ups return None where the paper prints "–"."""

    source: str
    main: dict          # dataset -> method -> {A_T, F_T, LCA10}: App. E, Tables 4–6
    memory_vs_test: dict  # Table 2
    gem_variants: dict  # Table 3 (S-GEM only; GEM and A-GEM are App. E's)
    train_seconds: dict  # Table 7: dataset -> method -> PaperValue
    memory_formulas: dict  # Table 7: method -> formula text

    def value(self, section: str, dataset: str, method: str, metric: str | None = None) -> PaperValue | None:
        entry = getattr(self, section).get(dataset, {}).get(method)
        if metric is None or entry is None:
            return entry
        return entry.get(metric)

    def methods(self, section: str, dataset: str) -> list[str]:
        return list(getattr(self, section).get(dataset, {}))


def load_paper_results(path: str | Path = PAPER_RESULTS, schema: str | Path = PAPER_RESULTS_SCHEMA) -> PaperResults:
    """Read and validate the published values; :class:`PaperResultsError` names a bad entry."""
    import jsonschema  # here, not at the top: the figures import this module and never validate

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PaperResultsError(f"cannot read the paper's values from {path}: {exc}") from exc
    validator = jsonschema.Draft202012Validator(yaml.safe_load(Path(schema).read_text(encoding="utf-8")))
    error = jsonschema.exceptions.best_match(validator.iter_errors(raw))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise PaperResultsError(f"{path}: {where}: {error.message}")
    return PaperResults(
        source=raw["source"],
        main=_parse_tree(raw["main"]),
        memory_vs_test=_parse_tree(raw["memory_vs_test"]),
        gem_variants=_parse_tree(raw["gem_variants"]),
        train_seconds=_parse_tree(raw["cost"]["train_seconds"]),
        memory_formulas=dict(raw["cost"]["memory_formulas"]),
    )


@dataclass(frozen=True)
class Comparison:
    """Ours against the paper: Δ = ours − paper, in units of ``sigma`` (:func:`combined_sigma`)."""

    sigma: float
    # Where each side's spread came from, "paper & ours", "resolution & ours", "paper & resolution"
    # or "resolution" (both sides at the rounding floor); "" when not compared.
    sigma_source: str
    diff_sigmas: float
    verdict: str


def _spread(std: float | None, resolution: float) -> tuple[float, bool]:
    """One side's spread: its std over runs, at least ``resolution``; and whether the std counted."""
    measured = std if std is not None and math.isfinite(std) else 0.0
    return (measured, True) if measured >= resolution and measured > 0 else (resolution, False)


def combined_sigma(std_a: float | None, std_b: float | None, resolution: float) -> float:
    """The σ of a difference a − b of two independent results: sqrt(σ_a² + σ_b²), each side's σ its
    std over runs (None or NaN: none given, one run) and never below ``resolution``, half the last
    digit the paper prints. The one definition behind every "Δ in σ" of the tables and the claims."""
    return math.hypot(_spread(std_a, resolution)[0], _spread(std_b, resolution)[0])


def verdict_of(diff_sigmas: float) -> str:
    """reproduced: |Δ| ≤ 1σ; within 2σ: 1σ < |Δ| ≤ 2σ; off: beyond."""
    # Rounded: (0.07 − 0.06) / 0.005 is 2.0000000000000018 in binary, exactly 2σ in decimal.
    size = round(abs(diff_sigmas), 9)
    return REPRODUCED if size <= 1 else WITHIN_2SIGMA if size <= 2 else OFF


def compare(paper: PaperValue | None, ours_mean: float, ours_std: float, resolution: float) -> Comparison:
    """Δ = (ours − paper) / σ with σ = :func:`combined_sigma` of the paper's std and ours;
    "∞" on both sides (both failed) is reproduced, on one side off."""
    if paper is None or math.isnan(paper.mean):
        return Comparison(math.nan, "", math.nan, NO_PAPER_VALUE)
    if ours_mean is None or math.isnan(ours_mean):
        return Comparison(math.nan, "", math.nan, NOT_RUN)
    if math.isinf(paper.mean) or math.isinf(ours_mean):
        same = math.isinf(paper.mean) and math.isinf(ours_mean)
        return Comparison(math.nan, "", 0.0 if same else math.nan, REPRODUCED if same else OFF)
    sigma = combined_sigma(paper.std, ours_std, resolution)
    paper_counted, ours_counted = _spread(paper.std, resolution)[1], _spread(ours_std, resolution)[1]
    source = (f"{'paper' if paper_counted else 'resolution'} & {'ours' if ours_counted else 'resolution'}"
              if paper_counted or ours_counted else "resolution")
    difference = ours_mean - paper.mean
    if sigma > 0:
        diff_sigmas = difference / sigma
    else:  # no σ anywhere and no resolution: only an exact match is reproduced
        diff_sigmas = math.copysign(math.inf, difference) if difference else 0.0
    return Comparison(sigma, source, diff_sigmas, verdict_of(diff_sigmas))


# --- the paper's artefacts -----------------------------------------------------------------------
MNIST, CIFAR, CUB, AWA = "permuted_mnist", "split_cifar", "split_cub", "split_awa"
JE_SUFFIX = "_je"
CUB_JE, AWA_JE = CUB + JE_SUFFIX, AWA + JE_SUFFIX
PAPER_DATASETS = (MNIST, CIFAR, CUB, CUB_JE, AWA, AWA_JE)



@dataclass(frozen=True)
class Artefact:
    """One table or figure of the paper: its rule name, output stems and datasets."""

    name: str                 # rule name and --only key, e.g. "table4", "fig3"
    stems: tuple[str, ...]    # results/{experiment}/tables/{stem}.* or …/figures/{stem}.*
    paper_datasets: tuple[str, ...]
    # Also our benchmarks that have no counterpart in the paper (the embedded digits): they get
    # rows without paper values in the tables and panels in the figures that cover MNIST/CIFAR.
    with_other_datasets: bool = True
    ablation: bool = False    # built from results/ablation/runs, not part of `rule all`
    # A figure draws only runs of these methods (None: any method) and never those of
    # ``skips_methods``; without such runs on its datasets it is not drawn (see :func:`has_runs`),
    # and a table without them has no row of ours (it is still written, but not put in the report).
    needs_methods: tuple[str, ...] | None = None
    skips_methods: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "table" if self.name.startswith("table") else "figure"


TABLES = (
    # needs_methods: without such runs the table holds only the paper's values (has_runs: False,
    # so the workflow leaves it out of `snakemake --report`).
    Artefact("table2", ("table2_memory_vs_test",), (MNIST, CIFAR), needs_methods=("gem", "agem")),
    Artefact("table3", ("table3_gem_variants",), (MNIST, CIFAR), needs_methods=("gem", "sgem", "agem")),
    Artefact("table4", ("table4_mnist_cifar",), (MNIST, CIFAR)),
    Artefact("table5", ("table5_cub",), (CUB, CUB_JE), with_other_datasets=False),
    Artefact("table6", ("table6_awa",), (AWA, AWA_JE), with_other_datasets=False),
    Artefact("table7", ("table7_cost",), (MNIST, CIFAR, CUB, AWA)),
)
FIGURES = (
    Artefact("fig1", ("fig1_bars",), (MNIST, CIFAR)),
    Artefact("fig2", ("fig2_cub_awa_je",), (CUB, AWA, CUB_JE, AWA_JE), with_other_datasets=False),
    # MULTI-TASK has no learning curve and no accuracy after each task: nothing of it to draw.
    Artefact("fig3", ("fig3_accuracy_vs_tasks", "fig3_lca_vs_beta"), (MNIST, CIFAR), skips_methods=("multitask",)),
    Artefact("fig4", ("fig4_lca_cub_awa_je",), (CUB, AWA, CUB_JE, AWA_JE), with_other_datasets=False,
             skips_methods=("multitask",)),
    Artefact("fig5", ("fig5_zero_shot",), (CUB, AWA, CUB_JE, AWA_JE), with_other_datasets=False,
             skips_methods=("multitask",)),
    Artefact("fig6", ("fig6_violations",), (MNIST, CIFAR), needs_methods=("gem", "agem")),
)
ABLATION_FIGURES = (
    Artefact("fig7", ("fig7_epochs_accuracy",), (MNIST, CIFAR), ablation=True),
    Artefact("fig8", ("fig8_epochs_forgetting",), (MNIST, CIFAR), ablation=True),
)
ARTEFACTS = {a.name: a for a in (*TABLES, *FIGURES, *ABLATION_FIGURES)}
SUMMARY_STEM = "reproduction_summary"


# Our benchmarks that run a paper benchmark's protocol on less data: their tables show the paper's
# numbers beside ours, with the scale stated, and the claims made on that benchmark apply to them.
SCALED_COUNTERPARTS = {
    "permuted_mnist5k": (MNIST, "5,000 real MNIST digits: 4,000 training images per task, the paper 55,000"),
}


def counterpart(dataset: str) -> str:
    """The paper benchmark ``dataset`` stands for: itself, its scaled-down original, or itself if none."""
    return SCALED_COUNTERPARTS.get(dataset, (dataset, ""))[0]


def other_datasets(datasets: Sequence[str]) -> list[str]:
    """Datasets of the run without a paper counterpart (the embedded digits benchmarks)."""
    return [d for d in datasets if d not in PAPER_DATASETS]


def artefact_datasets(artefact: Artefact | str, datasets: Sequence[str]) -> list[str]:
    """The datasets an artefact shows: the paper's (run or not: a gap shows what is missing),
    then the run's own benchmarks where the artefact takes them."""
    artefact = ARTEFACTS[artefact] if isinstance(artefact, str) else artefact
    others = other_datasets(datasets) if artefact.with_other_datasets else []
    # A paper benchmark the run covers only through its scaled stand-in is shown once, as that.
    stand_ins = {counterpart(d) for d in others if counterpart(d) != d}
    paper = [d for d in artefact.paper_datasets if d in datasets or d not in stand_ins]
    return [*paper, *others]


def has_runs(artefact: Artefact | str, runs: Iterable[tuple[str, str]], datasets: Sequence[str]) -> bool:
    """Whether any of ``runs`` (dataset, method pairs) is one the artefact draws, on the datasets
    it shows for a run of ``datasets``: a figure without any is neither drawn nor requested."""
    artefact = ARTEFACTS[artefact] if isinstance(artefact, str) else artefact
    shown = set(artefact_datasets(artefact, datasets))
    return any(dataset in shown and method not in artefact.skips_methods
               and (artefact.needs_methods is None or method in artefact.needs_methods)
               for dataset, method in runs)


def method_order(methods: list[str] | tuple[str, ...]) -> list[str]:
    """``methods`` in the paper's row order, the paper's unknown methods last in their given order."""
    known = [m for m in PAPER_METHOD_ORDER if m in methods]
    return known + [m for m in methods if m not in PAPER_METHOD_ORDER]
