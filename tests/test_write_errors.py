"""A full disk (or another failed write) under tables/ or figures/: the aggregate scripts end with
one line naming the file and the fix, exit status 1, no traceback, no partial file, and the
previous outputs untouched (agem.io.write_errors, agem.io.atomic)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from helpers.runs import RECORDS, write_records
from helpers.scripts import run_script
from helpers.workflow import REPO

FULL_DISK_FIX = ": free space or move results/ (snakemake --directory) and rerun"


def fail_writes(monkeypatch, error_number: int) -> list[Path]:
    """Every text write and figure save raises OSError(error_number) as the system would (no file
    named); returns the temporary files they were asked to write."""
    attempted = []

    def refuse(self, *args, **kwargs):
        attempted.append(Path(self if isinstance(self, Path) else args[0]))
        raise OSError(error_number, os.strerror(error_number))

    monkeypatch.setattr(Path, "write_text", refuse)
    monkeypatch.setattr(Figure, "savefig", lambda fig, fname, *args, **kwargs: refuse(fname))
    return attempted


def target_of(tmp: Path) -> Path:
    """atomic_output's temporary file '.main.csv.k3j2.tmp' is for 'main.csv'."""
    return tmp.parent / tmp.name[1:].rsplit(".", 2)[0]


def outputs(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def scripts_and_arguments(tmp_path: Path) -> dict[str, list[str]]:
    runs = list(map(str, write_records(tmp_path / "runs", RECORDS)))
    tables, figures = tmp_path / "out" / "tables", tmp_path / "out" / "figures"
    return {
        "make_tables": ["--runs", *runs, "--out-dir", str(tables)],
        "make_figures": ["--runs", *runs, "--out-dir", str(figures), "--only", "fig1"],
        "make_summary": ["--out-dir", str(tables)],
        "make_gallery": ["--captions", str(REPO / "workflow" / "report"), "--out", str(figures / "README.md"), "--not-run", "fig1_bars"],
    }


@pytest.mark.parametrize("script", ["make_tables", "make_figures", "make_summary", "make_gallery"])
def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_previous_outputs(script, tmp_path, monkeypatch):
    arguments = scripts_and_arguments(tmp_path)[script]
    run_script(script, *arguments)  # the outputs of an earlier, successful run
    before = outputs(tmp_path / "out")
    assert before
    attempted = fail_writes(monkeypatch, errno.ENOSPC)
    with pytest.raises(SystemExit) as ended:
        run_script(script, *arguments)
    monkeypatch.undo()
    assert ended.value.code == f"error: no space left on device while writing {target_of(attempted[0])}{FULL_DISK_FIX}"
    assert outputs(tmp_path / "out") == before  # no .tmp file left, nothing lost


def test_another_write_error_names_the_file_and_the_reason(tmp_path, monkeypatch):
    arguments = scripts_and_arguments(tmp_path)["make_summary"]
    attempted = fail_writes(monkeypatch, errno.EROFS)
    with pytest.raises(SystemExit) as ended:
        run_script("make_summary", *arguments)
    assert ended.value.code == f"error: {tmp_path}/out/tables/reproduction_summary.md: Read-only file system"
    assert target_of(attempted[0]) == tmp_path / "out" / "tables" / "reproduction_summary.md"
