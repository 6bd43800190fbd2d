"""Hostile run files (area "run file"): a damaged or foreign run file appears among the runs and
the tables are rebuilt with ``scripts/make_tables.py``. Each must be refused in one line naming the
file and the fix, and the previous tables must survive (tests/helpers/hostile.py).

The finished result (:func:`prepare`) is two runs of split_digits seed 7 (VAN, A-GEM) and a table.
Each case writes a third run file, ``van/seed8.h5``, with one fault (so the finished runs stay
as they were), then rebuilds the table from all three.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from agem.runs.runfile import write_run
from helpers.hostile import Hostile
from helpers.runs import NAN, make_record, with_identity

REPO = Path(__file__).resolve().parents[2]
RUNS = "results/runs"
TABLES = "results/tables"
FIX = r"delete it to retrain it \(`rm [^`]*seed8\.h5`, then rerun snakemake\), or move it away"


def run_record(method: str, seed: int):
    return with_identity(make_record("split_digits", method, seed, (0.9, 0.5, 0.9), 0.3))


def prepare(workdir: Path) -> None:
    """The finished result a hostile run file must not cost: two run files and a table."""
    for method in ("van", "agem"):
        write_run(workdir / RUNS / "split_digits" / method / "seed7.h5", run_record(method, 7))
    (workdir / TABLES).mkdir(parents=True)
    (workdir / TABLES / "main.csv").write_text("dataset,method,A_T\nsplit_digits,van,70\n")


def rebuild_tables(workdir: Path, out_dir: str = TABLES) -> tuple[int, str]:
    runs = sorted(str(path) for path in (workdir / RUNS).rglob("*.h5"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "make_tables.py"), "--runs", *runs,
                             "--out-dir", str(workdir / out_dir)], capture_output=True, text=True, env=env, timeout=120)
    return result.returncode, result.stdout + result.stderr


def new_run(change: Callable[[h5py.File], None]) -> Callable[[Path], tuple[int, str]]:
    """An act: a correct seed-8 VAN run file, changed by ``change``, then the rebuild."""
    def act(workdir: Path) -> tuple[int, str]:
        path = workdir / RUNS / "split_digits" / "van" / "seed8.h5"
        write_run(path, run_record("van", 8))
        with h5py.File(path, "a") as f:
            change(f)
        return rebuild_tables(workdir)
    return act


def set_value(name: str, index: tuple[int, ...], value: float) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        f[name][index] = value
    return change


def set_attribute(name: str, value) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        f.attrs[name] = value
    return change


def replace_dataset(name: str, **dataset) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        del f[name]
        f.create_dataset(name, **dataset)
    return change


def delete_attribute(name: str) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        del f.attrs[name]
    return change


def copied_from_another_method(workdir: Path) -> tuple[int, str]:
    """A-GEM's run file copied to VAN's place of seed 8... but it is seed 7 of A-GEM."""
    shutil.copyfile(workdir / RUNS / "split_digits" / "agem" / "seed7.h5", workdir / RUNS / "split_digits" / "van" / "seed8.h5")
    return rebuild_tables(workdir)


def diverged_run(workdir: Path) -> tuple[int, str]:
    """Accepted: a diverged seed 8 whose second task was never finished (tables written beside
    the finished ones: an accepted rebuild replaces its tables, which the harness counts as lost)."""
    record = make_record("split_digits", "van", 8, (0.9, NAN, NAN), 0.3, diverged=True, diverged_step=12)
    write_run(workdir / RUNS / "split_digits" / "van" / "seed8.h5", with_identity(record))
    return rebuild_tables(workdir, "results/tables_rebuilt")


def _case(name: str, act, expect: str | None) -> Hostile:
    return Hostile(name=f"run file: {name}", area="run file", act=act, expect=expect)


SEED8 = r"run file \S*seed8\.h5 "
CASES: list[Hostile] = [
    _case("accuracy 1.5", new_run(set_value("acc_final", (1, 0), 1.5)), SEED8 + r"has acc_final\[1, 0\] = 1\.5, outside \[0, 1\].*" + FIX),
    _case("accuracy 40", new_run(set_value("acc_final", (1, 1), 40.0)), SEED8 + r"has acc_final\[1, 1\] = 40, outside \[0, 1\].*" + FIX),
    _case("NaN in the lower triangle", new_run(set_value("acc_final", (1, 0), NAN)), SEED8 + r"has acc_final\[1, 0\] = NaN where .*" + FIX),
    _case("inf accuracy", new_run(set_value("acc_final", (1, 1), np.inf)), SEED8 + r"has acc_final\[1, 1\] = inf.*" + FIX),
    _case("-inf accuracy", new_run(set_value("acc_final", (0, 0), -np.inf)), SEED8 + r"has acc_final\[0, 0\] = -inf.*" + FIX),
    _case("changed dataset attribute", new_run(set_attribute("dataset", "permuted_digits")),
          SEED8 + r"has attribute dataset 'permuted_digits' but its config says 'split_digits'.*" + FIX),
    _case("changed seed attribute", new_run(set_attribute("seed", 7)), SEED8 + r"has attribute seed 7 but its config says 8.*" + FIX),
    _case("acc_final not square", new_run(replace_dataset("acc_final", data=np.full((2, 3), 0.5))),
          SEED8 + r"has acc_final of shape \(2, 3\), expected square.*" + FIX),
    _case("acc_lca of another T", new_run(replace_dataset("acc_lca", data=np.full((3, 11), 0.5))),
          SEED8 + r"has acc_lca of shape \(3, 11\), expected \(2, 11\).*" + FIX),
    _case("string accuracies", new_run(replace_dataset("acc_final", data=np.array([[b"0.9", b"x"], [b"0.5", b"0.9"]]))),
          SEED8 + r"has dataset 'acc_final' of type \|S3, expected float.*" + FIX),
    _case("missing attribute", new_run(delete_attribute("memory_bytes")), SEED8 + r"lacks attribute 'memory_bytes'.*" + FIX),
    _case("unparsable config", new_run(set_attribute("config", "{'lr': 0.1")), SEED8 + r"has attribute 'config' that is not valid JSON.*" + FIX),
    _case("huge declared dataset", new_run(replace_dataset("acc_final", shape=(2_000_000, 2_000_000), dtype=np.float64, chunks=(1, 1024))),
          SEED8 + r"declares dataset 'acc_final' of shape \(2000000, 2000000\).*" + FIX),
    _case("another method's file", copied_from_another_method,
          r"run files \S*agem/seed7\.h5 and \S*van/seed8\.h5 hold the same run \(split_digits, agem, seed 7, same config\)"),
    _case("diverged run (accepted)", diverged_run, None),
]
