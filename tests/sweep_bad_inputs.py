#!/usr/bin/env python
"""Sweep of bad and hostile inputs through the real entry points (run by hand; not collected by pytest).

    PYTHONPATH=src:tests python tests/sweep_bad_inputs.py [--areas AREA ...] [--only NAME ...]

Areas: config and idx (tests/helpers/bad_inputs.py), run file (bad_inputs.py's damaged run file
and tests/helpers/hostile_runfiles.py), checkpoint (hostile_checkpoints.py), bundle
(hostile_bundles.py). Every case runs in a fresh temporary work folder.

A case of bad_inputs.py gets a folder holding a finished run file and a table, then
`snakemake -n --configfile case.yaml` (or scripts/check_config.py; a real `snakemake` run for a
fault only a job can see). A hostile case gets the folder its module's `prepare` makes, then its
own act (tests/helpers/hostile.py). Verdicts:

- clear: refused with the expected message (the file or key, and the fix), or, for an accepted
  hostile case, handled without harm; no traceback, nothing lost;
- traceback: a Python traceback reached the user;
- unclear: refused without the expected message (or no answer within the case's time limit);
- silent: succeeded although it should have been refused;
- unsafe: code from the input ran, or a file outside the work folder was written;
- lost: a file of the finished result changed or vanished;
- files written: a bad config wrote a file (a dry run writes nothing; a real run only its logs).

Prints one line per case, then the tally per verdict overall and per area; exit status 1 unless
every case is clear.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from helpers.bad_inputs import CASES, BadInput
from helpers.runs import make_record, write_records

REPO = Path(__file__).resolve().parents[1]
VERDICTS = ("clear", "traceback", "unclear", "silent", "unsafe", "lost")
AREAS = ("config", "idx", "run file", "checkpoint", "bundle")
HOSTILE_MODULES = {"run file": "helpers.hostile_runfiles", "checkpoint": "helpers.hostile_checkpoints", "bundle": "helpers.hostile_bundles"}
FINISHED = ("results/runs/split_digits/van/seed1234.h5", "results/tables/main.csv")


# ---- Config and IDX cases (tests/helpers/bad_inputs.py) ---------------------------------------


def prepare(workdir: Path, case: BadInput) -> None:
    """A finished result that no bad input may cost (a run file and a table), and the case's files."""
    write_records(workdir / "results" / "runs", [make_record("split_digits", "van", 1234, (0.9, 0.5, 0.9))])
    (workdir / "results" / "tables").mkdir(parents=True)
    (workdir / "results" / "tables" / "main.csv").write_text("dataset,method,A_T\nsplit_digits,van,70\n")
    for name, data in case.files.items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_bytes(data)
    (workdir / "case.yaml").write_text(case.config_text)


def tree_sha256(workdir: Path) -> dict[str, str]:
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(workdir.rglob("*")) if p.is_file() and ".snakemake" not in p.parts}


def command(case: BadInput, workdir: Path) -> list[str]:
    if case.entry == "check_config":
        return [sys.executable, str(REPO / "scripts" / "check_config.py"), str(workdir / "case.yaml")]
    configfile = ["--configfile", str(workdir / "case.yaml")] if case.yaml else []
    dry_run = [] if case.stage == "job" else ["-n"]
    return [sys.executable, "-m", "snakemake", *dry_run, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            *case.args, *configfile]


def written(case: BadInput, before: dict[str, str], after: dict[str, str]) -> str | None:
    """The first file the case changed: a finished one ("lost") or a new one ("files written";
    a real run may write its logs)."""
    for name, digest in before.items():
        if after.get(name) != digest:
            return "lost" if name in FINISHED else "files written"
    new = [name for name in after if name not in before and not (case.stage == "job" and "logs" in Path(name).parts)]
    return "files written" if new else None


def classify(case: BadInput, returncode: int, output: str, changed: str | None) -> str:
    if changed:
        return changed
    if "Traceback (most recent call last)" in output:
        return "traceback"
    if returncode == 0:
        return "silent"
    return "clear" if re.search(case.expect, output, flags=re.DOTALL) else "unclear"


def run_case(case: BadInput) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        prepare(workdir, case)
        before = tree_sha256(workdir)
        try:
            result = subprocess.run(command(case, workdir), capture_output=True, text=True, timeout=case.timeout, cwd=workdir)
        except subprocess.TimeoutExpired:
            return "unclear", f"no answer within {case.timeout} s"
        output = result.stdout + result.stderr
        verdict = classify(case, result.returncode, output, written(case, before, tree_sha256(workdir)))
        lines = [line for line in output.splitlines() if line.strip() and "profile" not in line and "extended by" not in line]
        message = next((line for line in lines if re.search(case.expect, line)), " | ".join(lines[-3:]))
        return verdict, message.replace(folder, "<work>")


# ---- Hostile cases (tests/helpers/hostile_*.py) -----------------------------------------------


def hostile_cases(area: str) -> Iterator[tuple[str, object]]:
    module = importlib.import_module(HOSTILE_MODULES[area])
    for case in module.CASES:
        yield case.name, lambda case=case: run_hostile_case(module, case)


def run_hostile_case(module, case) -> tuple[str, str]:
    from helpers.hostile import run_hostile

    with tempfile.TemporaryDirectory() as folder:
        module.prepare(Path(folder))
        return run_hostile(case, Path(folder))


# ---- The sweep --------------------------------------------------------------------------------


def area_name(text: str) -> str:
    name = text.replace("_", " ").replace("-", " ")
    if name not in AREAS:
        raise argparse.ArgumentTypeError(f"unknown area {text!r}; the areas: {', '.join(AREAS)}")
    return name


def selected_cases(areas: list[str], only: list[str] | None) -> list[tuple[str, str, object]]:
    """(area, name, run) of every selected case, in the order of AREAS."""
    cases = []
    for area in areas:
        cases += [(area, c.name, lambda c=c: run_case(c)) for c in CASES if c.area == area]
        if area in HOSTILE_MODULES:
            cases += [(area, name, run) for name, run in hostile_cases(area)]
    return [case for case in cases if not only or case[1] in only]


def tally_line(label: str, tally: Counter[str]) -> str:
    others = [verdict for verdict in tally if verdict not in VERDICTS]
    counts = ", ".join(f"{tally[verdict]} {verdict}" for verdict in (*VERDICTS, *others))
    return f"{label:12} {sum(tally.values()):4} cases: {counts}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--areas", nargs="+", type=area_name, default=list(AREAS), help=f"areas to run (default all: {', '.join(AREAS)})")
    parser.add_argument("--only", nargs="+", help="case names")
    args = parser.parse_args()
    cases = selected_cases([area for area in AREAS if area in args.areas], args.only)
    tallies: dict[str, Counter[str]] = {}
    for area, name, run in cases:
        verdict, message = run()
        tallies.setdefault(area, Counter())[verdict] += 1
        print(f"{verdict:13} {area:10} {name:55} {message[:220]}", flush=True)
    total = sum(tallies.values(), Counter())
    for area, tally in tallies.items():
        print(tally_line(area, tally))
    print(tally_line("total", total))
    sys.exit(0 if total["clear"] == len(cases) else 1)


if __name__ == "__main__":
    main()
