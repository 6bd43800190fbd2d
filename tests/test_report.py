"""`snakemake --report`: every artefact has a caption saying what it shows and which paper
artefact it reproduces (the report itself is built end to end in test_rebuild.py)."""

import re
from pathlib import Path

import pytest

from agem.report.gallery import gallery
from agem.report.paper import ARTEFACTS, SUMMARY_STEM

CAPTIONS = Path(__file__).resolve().parents[1] / "workflow" / "report"


@pytest.mark.parametrize("artefact", ARTEFACTS.values(), ids=list(ARTEFACTS))
def test_every_artefact_has_a_caption_naming_the_paper_artefact(artefact):
    number = re.search(r"\d+", artefact.name).group()
    kind = "Table" if artefact.kind == "table" else "Figure"
    for stem in artefact.stems:
        caption = (CAPTIONS / f"{stem}.rst").read_text(encoding="utf-8")
        assert f"{kind} {number}" in caption and len(caption.split()) > 25, stem


def test_summary_and_workflow_descriptions_exist():
    assert "claims" in (CAPTIONS / f"{SUMMARY_STEM}.rst").read_text(encoding="utf-8")
    assert "A-GEM" in (CAPTIONS / "workflow.rst").read_text(encoding="utf-8")


def test_gallery_shows_each_figure_with_its_report_caption():
    text = gallery(["results/figures/fig6_violations.png", "results/figures/fig6_violations.pdf",
                    "results/figures/fig9_new.png"], CAPTIONS)
    assert "**Figure 6 of the paper: constraint violations.**" in text
    assert "![fig6_violations](fig6_violations.png)" in text and "[fig6_violations.pdf](fig6_violations.pdf)" in text
    assert "## fig9_new" in text  # a figure without a caption is still listed
    assert text.count("## ") == 2


def test_only_tables_with_runs_of_ours_go_into_the_report():
    """The workflow puts a table into the report where has_runs says it has a row of ours: the
    default run (Permuted MNIST on 5k digits) has none of CUB and AWA (Tables 5–6), and Table 2
    (GEM vs A-GEM) needs one of them."""
    from agem.report.paper import TABLES, has_runs

    datasets = ["permuted_mnist5k"]
    default = [("permuted_mnist5k", m) for m in ("van", "ewc", "gem", "sgem", "agem", "multitask", "er")]
    assert [t.name for t in TABLES if has_runs(t, default, datasets)] == ["table2", "table3", "table4", "table7"]
    without_gem = [pair for pair in default if pair[1] not in ("gem", "sgem", "agem")]
    assert [t.name for t in TABLES if has_runs(t, without_gem, datasets)] == ["table4", "table7"]
