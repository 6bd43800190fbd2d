"""Existing run files checked when the workflow is parsed, before Snakemake builds its job graph.

Snakemake deletes a job's outputs before running it, so a damaged run file found by the
aggregation would cost the previous tables. Found here, it stops the workflow before any job,
with a message naming the file and the fix. The file is not deleted automatically: the
Snakefile cannot tell a dry run (``-n``) from a real one when it is parsed, and a dry run must
change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from agem.pipeline.config import ConfigError
from agem.runs.runfile import run_file_problem


def check_existing_runs(paths: Iterable[str | Path], reuse_runs: bool) -> None:
    """Raise ConfigError listing every damaged existing run file among ``paths``."""
    damaged = [(path, problem) for path in map(Path, paths) if path.is_file() and (problem := run_file_problem(path))]
    if not damaged:
        return
    listing = "; ".join(f"run file {path} {problem}" for path, problem in damaged)
    files = " ".join(str(path) for path, _ in damaged)
    if reuse_runs:
        fix = f"with reuse_runs nothing can retrain it: rerun without --config reuse_runs=true after `rm {files}`, or move it away to leave a gap"
    else:
        fix = f"delete it (`rm {files}`) and rerun snakemake to retrain it"
    raise ConfigError(f"{listing}. The tables were not touched; {fix}")
