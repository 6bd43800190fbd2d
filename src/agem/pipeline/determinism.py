"""How far results move between CPU code paths, measured and published (docs/reproduction.md#determinism).

:func:`measure` trains the default benchmark with VAN and A-GEM twice over: on PyTorch's and MKL's
default kernels (seeds 1234-1238, so that the seed spread is known) and on their generic kernels,
what a CPU without AVX2 runs (``ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE``; seed 1234). Each
configuration's seed 1234 is trained a second time in a fresh folder, to check that a rerun on the
same path is bit-identical. The runs of each path are published as a results bundle in
``published/determinism/`` with ``measurement.json`` (the CPU, each path's kernels, the commands,
whether the reruns were identical).

:func:`docs_block` turns the published runs into the table and sentences of the docs' block
``<!-- published:determinism:table -->``, so that the numbers in the docs are the runs'
(tests/test_determinism_docs.py fails when they drift; ``scripts/determinism.py docs`` refills it).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from agem.pipeline.published import PUBLISHED, REPO, fill_readme
from agem.report.frames import mean_std
from agem.report.labels import method_label
from agem.runs.bundle import export_runs, import_bundle
from agem.runs.metrics import average_accuracy_per_task
from agem.runs.runfile import RunRecord, read_run

OUT = PUBLISHED / "determinism"
MEASUREMENT = "measurement.json"
METHODS = ("van", "agem")
SEEDS = (1234, 1235, 1236, 1237, 1238)
# What each code path sets; the generic one is what CI's second fast-suite run uses too.
CODE_PATHS = {"default_kernels": {}, "generic_kernels": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}}


def snakemake_command(workdir: Path, seeds: tuple[int, ...]) -> list[str]:
    """The default config's `tables`, VAN and A-GEM only, in ``workdir``."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--cores", "2", "tables", "--config", f"methods=[{','.join(METHODS)}]", f"seeds=[{','.join(map(str, seeds))}]"]


def shown(command: list[str], environment: dict[str, str]) -> str:
    """The command as one would type it, the code path's variables first and paths made generic."""
    text = shlex.join(command).replace(sys.executable, ".venv/bin/python").replace(str(REPO) + "/", "")
    return " ".join([*(f"{key}={value}" for key, value in environment.items()), text])


def train(workdir: Path, seeds: tuple[int, ...], environment: dict[str, str]) -> list[Path]:
    """Run the pipeline in ``workdir`` on one code path; its run files."""
    command = snakemake_command(workdir, seeds)
    print("$", shown(command, environment), flush=True)
    subprocess.run(command, env={**os.environ, **environment}, check=True)
    return sorted((workdir / "results" / "runs").glob("*/*/*/seed*.h5"))


def identical_reruns(runs: list[Path], reruns: list[Path], root: Path, rerun_root: Path) -> bool:
    """Whether every rerun's accuracy matrices equal, bit for bit, those of the run at its path
    (NaN where both have it: the entries the protocol does not evaluate)."""
    first = {path.relative_to(root): path for path in runs}

    def same(path: Path) -> bool:
        a, b = read_run(first[path.relative_to(rerun_root)]), read_run(path)
        return all(np.array_equal(x, y, equal_nan=True) for x, y in ((a.acc_final, b.acc_final), (a.acc_lca, b.acc_lca)))

    return bool(reruns) and all(same(path) for path in reruns)


def cpu_capability(environment: dict[str, str]) -> str:
    """The kernels PyTorch dispatches to under ``environment`` (e.g. AVX512, DEFAULT)."""
    probe = [sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"]
    return subprocess.run(probe, env={**os.environ, **environment}, capture_output=True, text=True, check=True).stdout.strip()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def measure(work: Path, out: Path = OUT) -> Path:
    """Train both code paths (and their reruns) under ``work``, then publish the runs in ``out``:
    a failed run leaves the published ones as they were."""
    work, found, trained = Path(work), {"cpu": cpu_model(), "commands": [], "code_paths": {}}, {}
    for name, environment in CODE_PATHS.items():
        seeds = SEEDS if name == "default_kernels" else SEEDS[:1]
        runs = trained[name] = train(work / name, seeds, environment)
        reruns = train(work / f"{name}_rerun", SEEDS[:1], environment)
        found["commands"] += [shown(snakemake_command(work / folder, s), environment).replace(str(work), "DIR")
                              for folder, s in ((name, seeds), (f"{name}_rerun", SEEDS[:1]))]
        found["code_paths"][name] = {"environment": environment, "cpu_capability": cpu_capability(environment),
                                     "seeds": list(seeds), "rerun_identical": identical_reruns(runs, reruns, work / name,
                                                                                                work / f"{name}_rerun")}
    out.mkdir(parents=True, exist_ok=True)
    for name, runs in trained.items():
        export_runs(out / f"{name}.tar.gz", runs, experiment=f"determinism_{name}", root=work / name)
    (out / MEASUREMENT).write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return out


def published_runs(out: Path = OUT) -> dict[str, dict[tuple[str, int], RunRecord]]:
    """Each code path's runs by (method, seed), read from its bundle (verified on import)."""
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in CODE_PATHS:
            paths = import_bundle(out / f"{name}.tar.gz", Path(tmp) / name, warn=lambda message: None)
            runs[name] = {(record.method, record.seed): record for record in map(read_run, paths)}
    return runs


# ---- The docs' block --------------------------------------------------------------------------------

DOCS = REPO / "docs" / "reproduction.md"
DOCS_KEY = "determinism:table"


def final_accuracy(record: RunRecord) -> float:
    """A_T in percent: the mean accuracy over all tasks after the last one (paper §3)."""
    return 100 * float(average_accuracy_per_task(record.acc_final)[-1])


def evaluated(acc_final: np.ndarray) -> np.ndarray:
    """The entries a_{k,j}, j ≤ k, that the protocol evaluates (the lower triangle), in points."""
    return 100 * acc_final[np.tril_indices(acc_final.shape[0])]


def method_row(method: str, default: dict, generic: dict) -> dict:
    """One method's numbers: A_T on both paths (seed 1234), their gap against the seed spread."""
    first = (method, SEEDS[0])
    here, there = evaluated(default[first].acc_final), evaluated(generic[first].acc_final)
    seeds = np.array([final_accuracy(default[(method, seed)]) for seed in SEEDS])
    mean, std = mean_std(seeds)
    gap = final_accuracy(generic[first]) - final_accuracy(default[first])
    return {"method": method, "default": final_accuracy(default[first]), "generic": final_accuracy(generic[first]),
            "differ": int(np.count_nonzero(here != there)), "entries": here.size, "max_delta": float(np.abs(here - there).max()),
            "mean": float(mean), "std": float(std), "range": float(seeds.max() - seeds.min()), "gap": gap}


def docs_block(runs: dict[str, dict[tuple[str, int], RunRecord]], measured: dict) -> str:
    """The docs' table and sentences from both paths' runs and ``measurement.json``."""
    rows = [method_row(method, runs["default_kernels"], runs["generic_kernels"]) for method in METHODS]
    paths = measured["code_paths"]
    seeds = f"{SEEDS[0]}–{SEEDS[-1]}"
    lines = [
        f"Measured on {measured['cpu']} (PyTorch's kernels: {paths['default_kernels']['cpu_capability']} by default, "
        f"{paths['generic_kernels']['cpu_capability']} on the generic path), the default benchmark, seed {SEEDS[0]}; "
        f"accuracies in points:", "",
        f"| method | A_T, default kernels | A_T, generic kernels | entries a_kj that differ | max \\|Δ a_kj\\| "
        f"| A_T over seeds {seeds} (default kernels; mean ± std with ddof 0 as in the tables, range) |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {method_label(r['method'])} | {r['default']:.2f} | {r['generic']:.2f} | {r['differ']} of {r['entries']} "
          f"| {r['max_delta']:.2f} | {r['mean']:.2f} ± {r['std']:.2f} ({r['range']:.2f}) |" for r in rows), "",
    ]
    reruns = [name.replace("_", " ") for name, found in paths.items() if not found["rerun_identical"]]
    lines.append("Seed 1234 trained again in a fresh folder gave bit-identical accuracy matrices on both paths."
                 if not reruns else f"Seed 1234 trained again in a fresh folder did NOT reproduce bit for bit on: {', '.join(reruns)}.")
    gaps = "; ".join(f"{method_label(r['method'])} {r['gap']:+.2f} points, {abs(r['gap']) / r['std']:.1f} seed std" for r in rows)
    inside = all(abs(r["gap"]) <= r["range"] for r in rows)
    lines.append(f"Between the paths, A_T moves by: {gaps}. " + (
        f"Each is within the range that {len(SEEDS)} seeds span, so a result from another CPU is one more seed: compare "
        "it with ours in units of the seed spread (as the tables' Δ in σ do), never bit for bit."
        if inside else f"At least one is beyond the range that {len(SEEDS)} seeds span: another CPU is not just one more seed here."))
    return "\n".join(lines) + "\n"


def read_measurement(path: Path) -> dict:
    """``measurement.json``, checked for what the docs' block reads from it."""
    try:
        measured = json.loads(path.read_text(encoding="utf-8"))
        paths = measured["code_paths"]
        valid = isinstance(measured["cpu"], str) and all(
            isinstance(paths[name]["cpu_capability"], str) and isinstance(paths[name]["rerun_identical"], bool)
            for name in CODE_PATHS)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a determinism measurement ({exc!r}); run scripts/determinism.py measure") from exc
    if not valid:
        raise ValueError(f"{path} is not a determinism measurement (wrong types); run scripts/determinism.py measure")
    return measured


def refill_docs(write: bool = True, out: Path = OUT, docs: Path = DOCS) -> bool:
    """Regenerate the block in ``docs`` from the runs in ``out``; whether it changed (written if ``write``)."""
    text = docs.read_text(encoding="utf-8")
    if f"<!-- published:{DOCS_KEY} -->" not in text:
        raise ValueError(f"{docs} has no <!-- published:{DOCS_KEY} --> block to fill")
    measured = read_measurement(out / MEASUREMENT)
    filled = fill_readme(text, {DOCS_KEY: docs_block(published_runs(out), measured)})
    if write and filled != text:
        docs.write_text(filled, encoding="utf-8")
    return filled != text
