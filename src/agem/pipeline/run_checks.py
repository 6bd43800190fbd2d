"""Existing run files checked when the workflow is parsed, before Snakemake builds its job graph.

Snakemake deletes a job's outputs before running it, so a bad run file found by the aggregation
would cost the previous tables. Found here, it stops the workflow before any job, with a message
naming every bad file and the fix. Each file gets the reader's full validation
(:func:`agem.runs.runfile.run_file_problems`: structure, types, shapes, accuracies, identity),
and no two files may hold the same run. The file is not deleted automatically: the Snakefile
cannot tell a dry run (``-n``) from a real one when it is parsed, and a dry run must change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from agem.pipeline.config import ConfigError
from agem.runs.runfile import ExpectedRun, duplicate_runs, inspect_run


def check_existing_runs(paths: Iterable[str | Path], reuse_runs: bool,
                        expected: Mapping[str | Path, ExpectedRun] | None = None) -> None:
    """Raise ConfigError listing every bad existing run file among ``paths`` (missing ones are
    trained, not bad). ``expected`` maps a path to the run it must hold (dataset, method, seed,
    optionally T and config entries); a path without an entry is checked on its own."""
    wanted = {Path(path): run for path, run in (expected or {}).items()}
    records, damaged = [], []
    for path in map(Path, paths):
        if not path.is_file():
            continue
        record, problems = inspect_run(path, wanted.get(path))
        if problems:
            damaged.append((path, f"run file {path} {'; '.join(problems)}"))
        else:
            records.append((path, record))
    duplicates = duplicate_runs(records)
    if not damaged and not duplicates:
        return
    bad = [path for path, _ in damaged] + [path for pair, _ in duplicates for path in pair]
    listing = ". ".join([message for _, message in damaged] + [message for _, message in duplicates])
    files = " ".join(str(path) for path in dict.fromkeys(bad))
    if reuse_runs:
        fix = f"with reuse_runs nothing can retrain it: rerun without --config reuse_runs=true after `rm {files}`, or move it away to leave a gap"
    else:
        fix = f"delete it (`rm {files}`) and rerun snakemake to retrain it"
    raise ConfigError(f"{listing}. The tables were not touched; {fix}")
