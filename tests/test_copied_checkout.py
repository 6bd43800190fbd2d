"""A finished run survives a copy of its checkout, and its `snakemake --report` stands alone.

The tiny pipeline runs in a copy of the repository's workflow files with the results inside it,
as a newcomer's checkout has them; `cp -a` of that folder (times kept) must leave Snakemake
nothing to do: the code inputs of the tables and figures are recorded relative to the working
directory, not as the checkout's absolute path (workflow/rules/common.smk, `code()`)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from agem.report.paper import SUMMARY_STEM
from helpers.workflow import TINY_CONFIG, copy_checkout
from helpers.workflow import snakemake as run_snakemake

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CONFIG = {**TINY_CONFIG, "datasets": ["split_digits"], "methods": ["van", "agem"]}


def snakemake(checkout: Path, *args: str) -> str:
    result = run_snakemake(checkout, "--configfile", str(checkout / "tiny.yaml"), *args, snakefile=checkout / "Snakefile")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def copied(tmp_path_factory) -> tuple[Path, Path]:
    """(the checkout that ran, its copy made with cp -a)."""
    tmp = tmp_path_factory.mktemp("copied")
    original = tmp / "original" / "agem-repro"
    copy_checkout(original)
    (original / "tiny.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    snakemake(original, "--cores", "2")
    copy = tmp / "elsewhere" / "deeper" / "agem-repro"
    copy.parent.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    return original, copy


def test_a_copied_checkout_has_nothing_to_rerun(copied):
    _, copy = copied
    output = snakemake(copy, "-n", "--cores", "1")
    assert "Nothing to be done" in output, output


def test_the_report_names_no_absolute_path_and_shows_only_what_ran(copied):
    """The report of the copy: no path of either checkout in it, the summary as a page (not its
    CSV), and no table of benchmarks the run does not have (Tables 5–6 are CUB and AWA)."""
    original, copy = copied
    report = copy / "report.zip"
    snakemake(copy, "--cores", "1", "--report", str(report))
    with zipfile.ZipFile(report) as archive:
        names = archive.namelist()
        text = "\n".join(archive.read(name).decode("utf-8", errors="replace") for name in names
                         if name.endswith((".html", ".js", ".json", ".rst", ".txt")))
    for folder in (original, copy):
        assert str(folder) not in text, f"{folder} appears in the report"
    assert any(name.endswith(f"{SUMMARY_STEM}.html") for name in names), names
    assert not any(name.endswith(f"{SUMMARY_STEM}.csv") for name in names), names
    assert not any("table5_cub" in name or "table6_awa" in name for name in names), names
