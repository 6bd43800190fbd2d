"""Hostile inputs beyond config files: bundles, run files, checkpoints, IDX data (issue: results
you can trust). Each area's cases live in ``tests/helpers/hostile_<area>.py`` as ``CASES``;
tests/sweep_bad_inputs.py runs them all and each area's pytest file runs its own.

Each area's module also has ``prepare(workdir)``, which puts the finished result that no hostile
input may cost (run files, a table; for checkpoints also the job's stream) into a fresh work
folder. A case runs in such a folder: it does the hostile thing in ``act`` (write a file, call a
script) and returns the exit status and the output. The verdict:

- ``unsafe``: ``harmed`` reports that code ran or a file outside the work folder was written;
- ``lost``: a file of the finished result changed or vanished;
- ``traceback``: a Python traceback reached the user;
- ``silent``: it succeeded (exit 0) although it should have been refused;
- ``unclear``: refused without a message matching ``expect`` (the file or key, and the fix);
- ``clear``: refused with such a message, nothing lost.

``accepted`` cases (``expect`` is None) must succeed: handled correctly, nothing lost.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hostile:
    name: str
    area: str  # "bundle", "run file", "checkpoint", "config", "idx"
    act: Callable[[Path], tuple[int, str]]
    expect: str | None  # a regular expression for the clear refusal; None: must succeed
    harmed: Callable[[Path], str | None] | None = None


FINISHED = ("results/tables/main.csv",)


def tree_sha256(workdir: Path) -> dict[str, str]:
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(workdir.rglob("*")) if p.is_file() and ".snakemake" not in p.parts}


def finished_files(workdir: Path) -> dict[str, str]:
    """The finished result a hostile input must not cost: every run file and every table."""
    return {name: digest for name, digest in tree_sha256(workdir).items()
            if name.startswith(("results/runs/", "results/tables/")) or name in FINISHED}


def classify(case: Hostile, returncode: int, output: str, before: dict[str, str], after: dict[str, str], harm: str | None) -> str:
    if harm:
        return "unsafe"
    if any(after.get(name) != digest for name, digest in before.items()):
        return "lost"
    if "Traceback (most recent call last)" in output:
        return "traceback"
    if case.expect is None:
        return "clear" if returncode == 0 else "unclear"
    if returncode == 0:
        return "silent"
    return "clear" if re.search(case.expect, output, flags=re.DOTALL) else "unclear"


def run_hostile(case: Hostile, workdir: Path) -> tuple[str, str]:
    """Run one case in ``workdir`` (already prepared); the verdict and the line that explains it."""
    before = finished_files(workdir)
    returncode, output = case.act(workdir)
    harm = case.harmed(workdir) if case.harmed is not None else None
    verdict = classify(case, returncode, output, before, finished_files(workdir), harm)
    lines = [line for line in output.splitlines() if line.strip()]
    message = next((line for line in lines if case.expect and re.search(case.expect, line)), " | ".join(lines[-3:]))
    return verdict, (harm or message).replace(str(workdir), "<work>")
