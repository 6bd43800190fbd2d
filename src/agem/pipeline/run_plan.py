"""The runs a configuration asks for, each at the path its identity gives (agem.runs.identity).

The workflow (workflow/rules/common.smk) asks this module, once, for every run of the config:
the main runs (benchmark × method × seed) and the runs of its sweeps (agem.pipeline.sweeps).
Runs made before identities existed (``results/runs/{dataset}/{method}/seed{seed}.h5``) are
adopted here: moved to their identity's path when their recorded settings are the ones asked
for, refused otherwise with the one command that moves them to their own (scripts/adopt_runs.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py

from agem.pipeline.config import ConfigError, benchmark_methods, benchmark_seeds, job_settings
from agem.pipeline.paths import RESULTS
from agem.runs.identity import IdentityError, RunIdentity, identity_mismatch, legacy_run_path
from agem.runs.runfile import ExpectedRun


@dataclass(frozen=True)
class PlannedRun:
    identity: RunIdentity
    settings: dict  # what the training job is handed (agem.pipeline.config.job_settings)

    @property
    def path(self) -> str:
        return self.identity.run_path()

    def expected(self) -> ExpectedRun:
        """What its file must hold (agem.runs.runfile validates it against this)."""
        return ExpectedRun(self.identity.dataset, self.identity.method, self.identity.seed)


def main_runs(config: dict) -> list[PlannedRun]:
    """The config's runs: every selected benchmark × its methods × its seeds."""
    runs = []
    for dataset in config["datasets"]:
        for method in benchmark_methods(config, dataset):
            settings = job_settings(config, dataset, method)
            for seed in benchmark_seeds(config, dataset):
                runs.append(PlannedRun(RunIdentity.from_settings(settings, seed), settings))
    return runs


def settings_by_variant(runs: Iterable[PlannedRun]) -> dict[tuple[str, str, str], dict]:
    """(dataset, method, variant) → the job settings: what rule train looks its wildcards up in."""
    return {(r.identity.dataset, r.identity.method, r.identity.variant): r.settings for r in runs}


def recorded_identity(path: str | Path) -> RunIdentity:
    """The identity a run file records: its ``identity`` attribute, or for files made before it
    existed its ``config`` attribute (the job's settings) and seed. Reads attributes, no array;
    IdentityError naming what is wrong."""
    try:
        with h5py.File(path, "r") as f:
            if "identity" in f.attrs:  # recorded as such since run identities exist
                return RunIdentity.from_json(f.attrs["identity"])
            config = json.loads(f.attrs["config"])
            seed = int(f.attrs["seed"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise IdentityError(f"its recorded settings cannot be read ({exc})") from exc
    if not isinstance(config, dict):
        raise IdentityError("its config attribute is not a JSON object")
    return RunIdentity.from_settings(config, seed)


def check_recorded_identities(runs: Iterable[PlannedRun]) -> None:
    """Every existing run file of the plan must record the identity its path stands for: a file
    copied over another, or edited, would otherwise enter the tables under the wrong name."""
    problems = []
    for run in runs:
        if not Path(run.path).is_file():
            continue
        try:
            mismatch = identity_mismatch(run.identity, recorded_identity(run.path))
        except IdentityError as exc:
            mismatch = str(exc)
        if mismatch:
            problems.append(f"run file {run.path} is not the run its path names ({mismatch})")
    if problems:
        files = " ".join(p.split()[2] for p in problems)
        raise ConfigError("; ".join(problems) + f". Nothing was touched; delete it to retrain it (`rm {files}`)")


def adopt_legacy_runs(runs: Iterable[PlannedRun], dry_run: bool, log: Callable[[str], None], results: str = RESULTS) -> list[str]:
    """Move each run file of the layout before identities to its identity's path where it is the
    run asked for; raise ConfigError, naming the file, what differs and the fix, where it is not.
    In a dry run nothing moves (the plan then shows the run as to be trained). Returns the paths adopted."""
    adopted, refused = [], []
    for run in runs:
        legacy = legacy_run_path(run.identity, results)
        target = Path(run.identity.run_path(results))
        if not legacy.is_file() or target.exists():
            continue
        try:
            mismatch = identity_mismatch(run.identity, recorded_identity(legacy))
        except IdentityError as exc:
            mismatch = str(exc)
        if mismatch:
            refused.append(f"{legacy} ({mismatch})")
            continue
        if dry_run:
            log(f"would adopt {legacy} as {target} (the same run; moved when not a dry run)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(legacy, target)
        log(f"adopted {legacy} as {target} (the same run, now at its identity's path)")
        adopted.append(str(target))
    if refused:
        raise ConfigError(
            "run files of the layout before run identities were trained with other settings than this config asks for: "
            + "; ".join(refused)
            + ". Nothing was touched. Move every such file to its own identity's path with `python scripts/adopt_runs.py`, then rerun"
        )
    return adopted


def adopt_all(results: str = RESULTS, log: Callable[[str], None] = print) -> tuple[list[str], list[str]]:
    """scripts/adopt_runs.py: move every run file of the old layout under ``results/runs`` to the
    path of the identity it records. Returns (moved, left): files whose settings cannot be read,
    or whose target already exists with other bytes, are left where they are and reported."""
    moved, left = [], []
    for legacy in sorted(Path(results, "runs").glob("*/*/seed*.h5")):
        try:
            target = Path(recorded_identity(legacy).run_path(results))
        except IdentityError as exc:
            left.append(f"{legacy}: {exc}")
            continue
        if target.exists():
            left.append(f"{legacy}: {target} exists already (delete whichever you do not want)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(legacy, target)
        log(f"moved {legacy} -> {target}")
        moved.append(str(target))
    return moved, left


def note_missing_runs(ledger: str | Path, runs: Iterable[PlannedRun], dry_run: bool, log: Callable[[str], None]) -> None:
    """Make a deleted run retrain. Snakemake does not remake a deleted file whose consumers (the
    tables, figures) are newer than their remaining inputs, so the aggregate rules also read
    ``ledger``, a list of the runs missing when the workflow was parsed: rewritten whenever one is
    missing, it is newer than the tables, which then rerun and so need the missing run trained.
    A dry run changes nothing and only says so."""
    missing = list(dict.fromkeys(run.path for run in runs if not Path(run.path).exists()))  # a sweep may share a main run
    ledger = Path(ledger)
    if dry_run:
        if missing:
            log(f"{len(missing)} run file(s) of this result set are missing (e.g. {missing[0]}): a real run trains them and remakes the tables")
        return
    if missing or not ledger.exists():
        ledger.parent.mkdir(parents=True, exist_ok=True)
        # The time makes each rewrite new content: Snakemake ignores a newer input whose checksum it has seen.
        stamp = f"# runs missing when the workflow was parsed at {time.time_ns()} ns\n"
        ledger.write_text(stamp + "".join(f"{path}\n" for path in missing), encoding="utf-8")


def dry_run_requested(argv: list[str]) -> bool:
    """Whether Snakemake's command line asks for a dry run (``-n``, ``--dry-run``, ``-np`` ...).

    Snakemake only knows it once the job graph is executed, after the Snakefile is parsed, while
    the adoption and the ledger above must happen before the graph is built; a dry run must then
    change nothing, so the command line is read here."""
    for argument in argv[1:]:
        if argument in ("--dry-run", "--dryrun", "--just-print", "--summary", "--detailed-summary", "--lint"):
            return True
        if argument.startswith("-") and not argument.startswith("--") and "n" in argument[1:] and argument[1:].isalpha():
            return True
    return False


def stream_dependency(run: Path, stream: Path, forced: bool, recorded_inputs: list[str] | None) -> list[str]:
    """The stream a training job lists as input: none for a received run whose stream is missing.

    A stream is rebuilt, bit for bit, from its spec, which the run's identity (and so its path)
    holds, and every existing planned run has had its identity checked at parse time
    (check_recorded_identities). Listing a missing stream would make Snakemake rebuild it for any
    other job (a new seed, a new variant) and then retrain every finished run of that stream,
    overwriting imported, adopted or published runs (docs/file-formats.md#received-runs).
    Kept: for a forced rerun (-F, -R, --forcerun ...), for a run still to train, when the stream
    exists, and for a run Snakemake made here (``recorded_inputs``: it would otherwise see its
    input list change and rerun it without a stream)."""
    if forced or not run.exists() or stream.exists() or recorded_inputs:
        return [str(stream)]
    return []
