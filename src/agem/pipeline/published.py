"""Published result sets: run files committed with the repository, as verifiable bundles.

``published/{name}/`` holds

- ``agem-results.tar.gz``: the result set's run files with their manifest (checksums, the config
  the runs were made with, package versions): an ordinary results bundle (agem.runs.bundle);
- ``rebuild.yaml``: config merged over the bundle's when rebuilding (the study's ``task_length``);
- ``provenance.json``: the commit(s), machine(s), devices and package versions the runs record,
  their count and their training time.

:func:`rebuild` imports a bundle into a fresh folder and runs the workflow there with
``reuse_runs``, so every table and figure comes back without training (``make published``).
:func:`readme_blocks` turns the rebuilt tables into the README's result blocks, between
``<!-- published:{name}:{part} -->`` markers: the numbers in the README come from the published
runs, and tests/test_published.py fails when they drift.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import h5py
import pandas as pd
import yaml

from agem.pipeline.run_plan import adopt_all
from agem.runs.bundle import BUNDLE_NAME, export_runs, import_bundle

REPO = Path(__file__).resolve().parents[3]
PUBLISHED = REPO / "published"
REBUILD_CONFIG = "rebuild.yaml"
PROVENANCE = "provenance.json"


def publish(name: str, workdir: str | Path, extra_config: dict | None = None, order: list[str] | None = None,
            out_root: Path = PUBLISHED) -> Path:
    """Bundle every run file under ``workdir/results/runs`` as published set ``name``.

    Run files of the layout before run identities are first moved to their identity's path."""
    workdir, folder = Path(workdir), out_root / name
    adopt_all(str(workdir / "results"), log=lambda line: None)
    runs = sorted((workdir / "results" / "runs").glob("*/*/*/seed*.h5"))
    folder.mkdir(parents=True, exist_ok=True)
    export_runs(folder / BUNDLE_NAME, runs, experiment=name, root=workdir, order=order or ())
    (folder / REBUILD_CONFIG).write_text(yaml.safe_dump(extra_config or {}, sort_keys=False), encoding="utf-8")
    (folder / PROVENANCE).write_text(json.dumps(provenance(runs), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def provenance(runs: list[Path]) -> dict:
    """What the runs themselves record about where they were made."""
    versions, seconds = [], 0.0
    for path in runs:
        with h5py.File(path, "r") as f:
            versions.append(json.loads(f.attrs["versions"]))
            seconds += float(f.attrs["train_seconds"])
    counts = {key: dict(Counter(str(v.get(key, "")) for v in versions))
              for key in ("git_commit", "host", "device", "torch", "numpy", "python", "agem_repro")}
    return {"runs": len(runs), "train_seconds_total": round(seconds, 1), "recorded": counts}


def rebuild(name: str, into: str | Path, cores: int = 2, published: Path = PUBLISHED) -> subprocess.CompletedProcess:
    """Import ``published/{name}`` into the empty folder ``into`` and rebuild all its tables and
    figures there without training; the completed Snakemake process (check its returncode)."""
    into = Path(into)
    import_bundle(published / name / BUNDLE_NAME, into)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(into),
               "--cores", str(cores), "--configfile", str(into / "results" / "imported" / "config.yaml"),
               str(published / name / REBUILD_CONFIG), "--config", "reuse_runs=true"]
    return subprocess.run(command, capture_output=True, text=True)


# ---- The README's result blocks -------------------------------------------------------------------

MARKER = re.compile(r"(<!-- published:(?P<key>[a-z_]+:[a-z_]+) -->\n)(?P<body>.*?)(<!-- /published -->)", re.DOTALL)


def readme_blocks(built: dict[str, Path]) -> dict[str, str]:
    """``{"default:main": ..., "task_length:table": ...}`` from rebuilt result sets (name → folder)."""
    blocks = {}
    if "default" in built:
        tables = built["default"] / "results" / "default" / "tables"
        blocks["default:main"] = _main_block(pd.read_csv(tables / "main.csv"))
        blocks["default:claims"] = _claims_block(pd.read_csv(tables / "reproduction_summary.csv"))
    if "task_length" in built:
        study = built["task_length"] / "results" / "task_length" / "study"
        blocks["task_length:table"] = (study / "task_length.md").read_text(encoding="utf-8")
        blocks["task_length:claims"] = (study / "task_length_claims.md").read_text(encoding="utf-8")
        per_seed = pd.read_csv(built["task_length"] / "results" / "task_length" / "tables" / "metrics_per_seed.csv")
        blocks["task_length:verdict"] = _verdict_block(pd.read_csv(study / "task_length_claims.csv")) + (
            f"\nIts {len(per_seed)} runs took {per_seed['train_seconds'].sum() / 3600:.1f} CPU-hours of training "
            "(one thread each, evaluation excluded; the seeds per method and length are in the table).\n")
    return blocks


def _main_block(main: pd.DataFrame) -> str:
    from agem.report.labels import method_label

    rows = ["| method | seeds | A_T (%) | F_T | training (s) |", "|---|---:|---:|---:|---:|"]
    for _, row in main.iterrows():
        seeds = int(row["n_seeds"]) + int(row["n_diverged"])
        if row["A_T_mean"] == float("inf"):  # every seed diverged: the paper's "∞"
            rows.append(f"| {method_label(row['method'])} | {seeds} | ∞ (diverged) | ∞ | – |")
            continue
        f_t = "–" if pd.isna(row["F_T_mean"]) else f"{row['F_T_mean']:.2f} ± {row['F_T_std']:.2f}"
        rows.append(f"| {method_label(row['method'])} | {seeds} | {row['A_T_mean']:.1f} ± {row['A_T_std']:.1f} | "
                    f"{f_t} | {row['train_seconds_mean']:.1f} |")
    return "\n".join(rows) + "\n"


def _claims_block(claims: pd.DataFrame) -> str:
    """One line per claim of reproduction_summary.csv: the claim, its status and the evidence."""
    lines = []
    for _, row in claims.iterrows():
        evidence = row["evidence"] if isinstance(row["evidence"], str) else ""
        lines.append(f"- {row['claim']}: **{row['status']}**" + (f" ({evidence})" if evidence else ""))
    return "\n".join(lines) + "\n"


def _verdict_block(claims: pd.DataFrame) -> str:
    """One sentence per claim: where it holds and where it does not, by steps per task."""
    sentences = []
    for claim, rows in claims.groupby("claim", sort=False):
        parts = [f"{status} at {', '.join(f'{int(s):,}' for s in group['steps_per_task'])} steps per task"
                 for status, group in rows.groupby("status", sort=False)]
        sentences.append(f"**{claim}**: {'; '.join(parts)}.")
    return "\n".join(sentences) + "\n"


def fill_readme(text: str, blocks: dict[str, str]) -> str:
    """``text`` with every marked block replaced by its generated content (unknown keys kept)."""
    def replace(match: re.Match) -> str:
        key = match.group("key")
        body = blocks.get(key, match.group("body"))
        return f"{match.group(1)}{body}{match.group(4)}"

    return MARKER.sub(replace, text)
