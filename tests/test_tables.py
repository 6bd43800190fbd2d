"""Tables from synthetic run files: contract of main.csv, hand-computed mean/std, readable tables."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agem.report.frames import MAIN_COLUMNS, main_table, per_seed_metrics
from agem.report.tables import DISPLAY_COLUMNS, write_tables
from helpers.html_tables import html_rows
from helpers.runs import NAN, RECORDS, make_record, write_records
from helpers.scripts import run_script


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tables")
    paths = write_records(tmp / "runs", RECORDS)
    out_dir = tmp / "tables"
    # Paths in reverse: the row order must come from --datasets/--methods, not from the inputs.
    written = write_tables(paths[::-1], out_dir, datasets=["mnist", "cifar"], methods=["van", "agem"])
    assert {p.name for p in written} == {"main.csv", "main.md", "main.tex", "main.html", "metrics_per_seed.csv",
                                         "per_task.csv", "lca_per_beta.csv"}
    return out_dir


def test_main_csv_contract(tables):
    main = pd.read_csv(tables / "main.csv")
    assert list(main.columns) == MAIN_COLUMNS
    assert list(zip(main["dataset"], main["method"])) == [
        ("mnist", "van"), ("mnist", "agem"), ("cifar", "van"), ("cifar", "agem")]
    expected = pd.DataFrame({
        "n_seeds": [2, 2, 1, 2],
        "A_T_mean": [75.0, 85.0, 50.0, 62.5],
        "A_T_std": [5.0, 5.0, NAN, 2.5],  # ddof=0: |70 - 80| / 2, ...; one seed has no spread
        "F_T_mean": [0.3, 0.05, 0.2, 0.05],
        "F_T_std": [0.1, 0.05, NAN, 0.05],
        "LCA10_mean": [0.3, 0.3, 0.25, 0.4],
        "LCA10_std": [0.1, 0.0, NAN, 0.05],
        "train_seconds_mean": [15.0, 50.0, 5.0, 31.0],
        "memory_bytes": [1000, 3100, 700, 2000],
        "n_diverged": [0, 0, 1, 0],
    })
    for column in expected:
        np.testing.assert_allclose(main[column], expected[column], atol=1e-12, err_msg=column)


def test_readable_tables(tables):
    markdown = (tables / "main.md").read_text(encoding="utf-8")
    for cell in ("75.0 ± 5.00", "0.30 ± 0.100", "1 (+1 diverged)", "A-GEM", "VAN"):
        assert cell in markdown, cell
    # Two seeds with the same LCA: a spread of 0; one seed (CIFAR VAN): no spread at all.
    assert "0.30 ± 0.000" in markdown
    single_seed = next(line for line in markdown.splitlines() if "1 (+1 diverged)" in line)
    assert [cell.strip() for cell in single_seed.split("|")[4:7]] == ["50.0 ± –", "0.20 ± –", "0.25 ± –"]
    # The report's copy: the same readable cells as HTML, not the CSV's raw floats.
    html = html_rows((tables / "main.html").read_text(encoding="utf-8"))
    assert list(html[2]) == DISPLAY_COLUMNS and html[2]["A_T (%)"] == "50.0 ± –"
    latex = (tables / "main.tex").read_text(encoding="utf-8")
    for cell in (r"\toprule", r"\midrule", r"\bottomrule", r"75.0 $\pm$ 5.00", r"62.5 $\pm$ 2.50", r"50.0 $\pm$ --"):
        assert cell in latex, cell


def test_per_seed_and_per_task_csv(tables):
    per_seed = pd.read_csv(tables / "metrics_per_seed.csv")
    assert len(per_seed) == len(RECORDS)
    assert {"F_wst", "LCA10_eq5", "violations_total", "diverged"} <= set(per_seed.columns)
    agem = per_seed[(per_seed["dataset"] == "mnist") & (per_seed["method"] == "agem")]
    assert sorted(agem["violations_total"]) == [3, 5]
    assert len(pd.read_csv(tables / "per_task.csv")) == 2 * len(RECORDS)
    assert len(pd.read_csv(tables / "lca_per_beta.csv")) == 11 * len(RECORDS)


def test_all_diverged_and_multitask_rows():
    records = [
        make_record("mnist", "pi", 0, diverged=True, memory_bytes=10),
        make_record("mnist", "pi", 1, diverged=True, memory_bytes=20),
        make_record("mnist", "multitask", 0, (NAN, 0.9, 0.95), multitask=True),
    ]
    main = main_table(per_seed_metrics(records), methods=["multitask", "pi"])
    assert list(main["method"]) == ["multitask", "pi"]
    multitask, pi = main.iloc[0], main.iloc[1]
    assert multitask["A_T_mean"] == pytest.approx(92.5)  # 100 * (0.9 + 0.95) / 2
    assert np.isnan(multitask["F_T_mean"]) and np.isnan(multitask["LCA10_mean"])
    assert (pi["n_seeds"], pi["n_diverged"], pi["memory_bytes"]) == (0, 2, 20)
    assert pi["A_T_mean"] == np.inf and pi["F_T_mean"] == np.inf and pi["LCA10_mean"] == np.inf
    assert np.isnan(pi["A_T_std"]) and np.isnan(pi["train_seconds_mean"])


def test_cli(tmp_path, monkeypatch, capsys):
    paths = write_records(tmp_path / "runs", RECORDS[:2])
    out_dir = tmp_path / "out"
    run_script("make_tables", "--runs", *map(str, paths), "--datasets", "mnist", "--methods", "van", "--out-dir", str(out_dir))
    assert f"wrote {out_dir / 'main.csv'}" in capsys.readouterr().out
    assert len(pd.read_csv(out_dir / "main.csv")) == 1


def test_methods_beyond_the_paper_are_marked(tmp_path):
    """ER is not in the paper: its row carries ‡ (\\ddag in LaTeX) and the note says why; a table of
    the paper's methods only has neither."""
    records = [make_record("mnist", method, seed, (0.9, 0.8, 0.85)) for method in ("van", "er") for seed in (0, 1)]
    write_tables(write_records(tmp_path / "runs", records), tmp_path / "with_er", datasets=["mnist"], methods=["van", "er"])
    markdown, latex = (tmp_path / "with_er" / "main.md").read_text(), (tmp_path / "with_er" / "main.tex").read_text()
    assert "| ER ‡ " in markdown and "| VAN " in markdown and "VAN ‡" not in markdown
    assert "‡: beyond the paper" in markdown and "ER \\ddag{}" in latex and "‡" not in latex
    assert "‡: beyond the paper" in (tmp_path / "with_er" / "main.html").read_text()
    write_tables(write_records(tmp_path / "runs_van", records[:2]), tmp_path / "van", datasets=["mnist"], methods=["van"])
    assert "‡" not in (tmp_path / "van" / "main.md").read_text()
