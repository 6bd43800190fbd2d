#!/usr/bin/env python
"""Sweep of bad inputs through the real entry points (run by hand; not collected by pytest).

    PYTHONPATH=src:tests python tests/sweep_bad_inputs.py [--only NAME ...]

Each case of tests/helpers/bad_inputs.py runs in a fresh work folder that already holds a
finished run file and a table: `snakemake -n --configfile case.yaml` (or scripts/check_config.py).
Classified as: clear (fails, the message matches the case's pattern, no traceback, no file
changed), traceback, unclear (fails without the expected message), silent (succeeds), or files
changed. Prints one line per case and the tally; exit status 1 unless every case is clear.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from helpers.bad_inputs import CASES, BadInput
from helpers.runs import make_record, write_records

REPO = Path(__file__).resolve().parents[1]


def prepare(workdir: Path, case: BadInput) -> None:
    """A finished result that no bad input may cost: a run file and a table."""
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
    return [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            *case.args, *configfile]


def classify(case: BadInput, returncode: int, output: str, changed: bool) -> str:
    if changed:
        return "files changed"
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
        result = subprocess.run(command(case, workdir), capture_output=True, text=True, timeout=300, cwd=workdir)
        output = result.stdout + result.stderr
        verdict = classify(case, result.returncode, output, tree_sha256(workdir) != before)
        lines = [line for line in output.splitlines() if line.strip() and "profile" not in line and "extended by" not in line]
        message = next((line for line in lines if re.search(case.expect, line)), " | ".join(lines[-3:]))
        return verdict, message.replace(folder, "<work>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="case names")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or c.name in args.only]
    tally: Counter[str] = Counter()
    for case in cases:
        verdict, message = run_case(case)
        tally[verdict] += 1
        print(f"{verdict:13} {case.name:34} {message[:220]}", flush=True)
    print("tally: " + ", ".join(f"{verdict} {n}" for verdict, n in tally.most_common()) + f" (of {len(cases)})")
    sys.exit(0 if tally["clear"] == len(cases) else 1)


if __name__ == "__main__":
    main()
