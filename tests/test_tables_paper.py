"""The paper's Tables 2–7 from a small synthetic run: rows, columns, hand-computed values and
verdicts, and the readable Markdown / LaTeX versions."""

import dataclasses
from contextlib import redirect_stdout
from io import StringIO

import numpy as np
import pandas as pd
import pytest

from agem.report.paper import (
    NO_PAPER_VALUE,
    NOT_COMPARABLE,
    NOT_RUN,
    OFF,
    REPRODUCED,
    SMALLER_SCALE,
    TABLES,
)
from agem.report.paper_tables import COMPARISON_COLUMNS, PAPER_TABLES, ours, table_per_seed, time_ratio
from agem.runs.metrics import memory_metrics
from helpers.html_tables import html_rows
from helpers.runs import NAN, make_record, write_records
from helpers.scripts import run_script

# Two-task runs (see test_tables.make_record): A_T = 100 (x1 + x2)/2, F_T = x0 - x1, LCA10 = lca.
# Memory accuracies: A_T on M = 100 (0.99 + 0.97)/2 = 98, F_wst on M = 1.0 - 0.99 = 0.01.
ACC_MEMORY = np.array([[1.0, NAN], [0.99, 0.97]])


def with_memory(record, acc_memory=ACC_MEMORY):
    """A run with an episodic memory, and the quantities of Table 7's formulas: P = 1000, H = 20,
    B = 10, M = 250 (so A-GEM by formula: 4 bytes × (2P + (B+M)H) = 28,800 bytes)."""
    return dataclasses.replace(record, acc_memory=acc_memory, n_parameters=1000, hidden_units=20,
                               config={"training": {"batch_size": 10}, "memory_per_task": 250})


RECORDS = [
    # A-GEM on MNIST: A_T 89.0 and 89.2 (mean 89.1 = the paper's), F_T 0.06, LCA 0.29, 40 s.
    *(with_memory(make_record("permuted_mnist", "agem", s, (0.9, 0.84 + 0.004 * s, 0.94), 0.29, 40.0, 3000))
      for s in (0, 1)),
    # GEM on MNIST: 160 s, so 4.0× A-GEM's time (the paper's Table 7: 3442 / 477 = 7.2×).
    *(with_memory(make_record("permuted_mnist", "gem", s, (0.9, 0.85, 0.9), 0.25, 160.0, 9000))
      for s in (0, 1)),
    # VAN on MNIST, far above the paper's 47.9 ± 1.32: off.
    make_record("permuted_mnist", "van", 0, (0.9, 0.6, 0.9), 0.26, 10.0, 1000),
    # The embedded digits: ours only.
    make_record("permuted_digits", "agem", 0, (0.9, 0.5, 0.9), 0.3, 2.0, 500),
    # CUB with its joint-embedding variant.
    make_record("split_cub", "agem", 0, (0.7, 0.6, 0.64), 0.3, 20.0, 800),
    make_record("split_cub_je", "agem", 0, (0.8, 0.7, 0.72), 0.5, 20.0, 800),
]
METHODS = ["van", "gem", "agem"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paper_tables")
    paths = write_records(tmp / "runs", RECORDS)
    out_dir = tmp / "tables"
    with redirect_stdout(StringIO()):
        run_script("make_tables", "--runs", *map(str, paths), "--datasets", "permuted_mnist", "permuted_digits",
                   "split_cub", "split_cub_je", "--methods", *METHODS, "--out-dir", str(out_dir),
                   "--only", *(t.name for t in TABLES))
    return {t.name: pd.read_csv(out_dir / f"{t.stems[0]}.csv", keep_default_na=False, na_values=[""]) for t in TABLES}, out_dir


def row(frame, dataset, method, metric):
    rows = frame[(frame.dataset == dataset) & (frame.method == method) & (frame.metric == metric)]
    assert len(rows) == 1, (dataset, method, metric)
    return rows.iloc[0]


@pytest.mark.parametrize("name", [t.name for t in TABLES])
def test_every_table_has_the_comparison_columns_and_its_metrics(tables, name):
    frame = tables[0][name]
    assert list(frame.columns) == COMPARISON_COLUMNS
    assert set(frame.metric) == set(PAPER_TABLES[name].metrics)
    # Every dataset × method row has every metric of the table, once.
    assert (frame.groupby(["dataset", "method"]).size() == len(PAPER_TABLES[name].metrics)).all()


def test_table4_rows_values_and_verdicts(tables):
    table4 = tables[0]["table4"]
    mnist = table4[table4.dataset == "permuted_mnist"]
    # Every method the paper reports, run or not, in the paper's order.
    assert list(dict.fromkeys(mnist.method)) == ["van", "ewc", "pi", "mas", "rwalk", "prognn", "gem", "agem", "multitask"]
    agem = row(table4, "permuted_mnist", "agem", "A_T")
    assert (agem.ours_mean, agem.ours_std, agem.n_seeds) == (pytest.approx(89.1), pytest.approx(0.1), 2)
    assert (agem.paper_mean, agem.paper_std, agem.sigma_source, agem.verdict) == (89.1, 0.14, "paper & ours", REPRODUCED)
    assert agem.sigma == pytest.approx((0.14**2 + 0.1**2) ** 0.5)  # both sides' spread
    van = row(table4, "permuted_mnist", "van", "A_T")
    assert van.ours_mean == pytest.approx(75.0) and van.verdict == OFF
    # One seed of ours: its side is the rounding floor, 0.05 points.
    assert (van.sigma_source, van.diff_sigmas) == ("paper & resolution", pytest.approx((75.0 - 47.9) / (1.32**2 + 0.05**2) ** 0.5))
    assert row(table4, "permuted_mnist", "ewc", "F_T").verdict == NOT_RUN
    assert row(table4, "permuted_mnist", "multitask", "F_T").verdict == NO_PAPER_VALUE
    # Split CIFAR is not in the run: its paper rows stay, as gaps; the digits get ours only.
    assert set(table4[table4.dataset == "split_cifar"].verdict) <= {NOT_RUN, NO_PAPER_VALUE}
    digits = table4[table4.dataset == "permuted_digits"]
    assert list(digits.method.unique()) == ["agem"] and set(digits.verdict) == {NO_PAPER_VALUE}


def test_table2_on_the_memory_and_on_the_test_set(tables):
    table2 = tables[0]["table2"]
    assert list(dict.fromkeys(zip(table2.dataset, table2.method))) == [
        ("permuted_mnist", "gem"), ("permuted_mnist", "agem"), ("split_cifar", "gem"), ("split_cifar", "agem"),
        ("permuted_digits", "agem")]  # the run's own benchmark, without a memory: no value
    memory = row(table2, "permuted_mnist", "agem", "A_T_memory")
    assert (memory.ours_mean, memory.paper_mean) == (pytest.approx(98.0), 99.3)
    assert row(table2, "permuted_mnist", "agem", "F_wst_memory").ours_mean == pytest.approx(0.01)
    assert row(table2, "permuted_mnist", "gem", "F_wst").ours_mean == pytest.approx(0.05)  # 0.9 - 0.85
    assert memory_metrics(None) == {"A_T_memory": pytest.approx(NAN, nan_ok=True), "F_wst_memory": pytest.approx(NAN, nan_ok=True)}


def test_table3_gem_variants(tables):
    table3 = tables[0]["table3"]
    assert list(table3[table3.dataset == "permuted_mnist"].method.unique()) == ["gem", "sgem", "agem"]
    sgem = row(table3, "permuted_mnist", "sgem", "A_T")
    assert (sgem.paper_mean, sgem.verdict) == (88.2, NOT_RUN)
    assert row(table3, "permuted_mnist", "gem", "A_T").paper_mean == 89.5  # App. E's GEM row


def test_table5_standard_and_joint_embedding(tables):
    table5 = tables[0]["table5"]
    assert list(table5.dataset.unique()) == ["split_cub", "split_cub_je"]
    je = row(table5, "split_cub_je", "agem", "A_T")
    assert (je.ours_mean, je.paper_mean, je.paper_std) == (pytest.approx(71.0), 71.0, 2.83)
    # F_T printed without σ, one seed of ours: both sides at the rounding resolution, σ = 0.005·√2.
    forgetting = row(table5, "split_cub", "agem", "F_T")
    assert (forgetting.sigma_source, forgetting.sigma) == ("resolution", pytest.approx(0.00707107))
    assert forgetting.diff_sigmas == pytest.approx((0.1 - 0.07) / 0.00707107)
    assert set(tables[0]["table6"].verdict) <= {NOT_RUN, NO_PAPER_VALUE}


def test_table7_time_and_memory(tables):
    table7 = tables[0]["table7"]
    seconds = row(table7, "permuted_mnist", "gem", "train_seconds")
    assert (seconds.paper_mean, seconds.ours_mean, seconds.verdict) == (3442, 160.0, NOT_COMPARABLE)
    ratio = row(table7, "permuted_mnist", "gem", "time_vs_agem")
    assert ratio.ours_mean == pytest.approx(4.0) and ratio.paper_mean == pytest.approx(3442 / 477)
    assert ratio.verdict == OFF
    assert row(table7, "permuted_mnist", "agem", "memory_bytes").ours_mean == 3000
    assert row(table7, "permuted_mnist", "agem", "memory_formula_bytes").ours_mean == 4 * (2 * 1000 + 260 * 20)
    assert row(table7, "permuted_mnist", "gem", "memory_formula_bytes").paper_note == "PT + (B+M)H"
    assert np.isnan(row(table7, "permuted_mnist", "van", "memory_formula_bytes").ours_mean)  # no P in that run
    assert row(table7, "split_cub", "prognn", "train_seconds").paper_mean == np.inf  # out of memory


def test_time_ratio_propagates_both_stds():
    ratio, std = time_ratio((100.0, 10.0), (50.0, 5.0))
    assert ratio == 2.0 and std == pytest.approx(2.0 * np.hypot(0.1, 0.1))
    assert np.isnan(time_ratio((100.0, 10.0), (NAN, NAN))[0])


def test_readable_tables(tables):
    out_dir = tables[1]
    markdown = (out_dir / "table4_mnist_cifar.md").read_text(encoding="utf-8")
    for cell in ("# Table 4", "89.1 ± 0.14", "89.1 ± 0.10", "reproduced", "not run", "no paper value",
                 "Permuted digits", "A_T (%) paper", "A_T (%) Δ"):
        assert cell in markdown, cell
    assert f"{(75.0 - 47.9) / 1.32:+.1f}σ off" in markdown
    latex = (out_dir / "table7_cost.tex").read_text(encoding="utf-8")
    for cell in (r"\toprule", r"\bottomrule", r"$\Delta$", "not comparable", r"PT + (B+M)H", r"P + B$\cdot$H"):
        assert cell in latex, cell


def test_a_scaled_stand_in_shows_the_papers_values_with_its_own_verdict(tmp_path):
    """Permuted MNIST on 5,000 digits: the paper's Permuted MNIST numbers beside ours, the scale said."""
    records = [make_record("permuted_mnist5k", "agem", 0, (0.9, 0.84, 0.94), 0.29, 40.0, 3000),
               make_record("permuted_mnist5k", "van", 0, (0.9, 0.6, 0.9), 0.26, 10.0, 1000)]
    paths = write_records(tmp_path / "runs", records)
    with redirect_stdout(StringIO()):
        run_script("make_tables", "--runs", *map(str, paths), "--datasets", "permuted_mnist5k",
                   "--out-dir", str(tmp_path / "tables"), "--only", "table4")
    frame = pd.read_csv(tmp_path / "tables" / "table4_mnist_cifar.csv", keep_default_na=False, na_values=[""])
    # The paper's own Permuted MNIST is not listed as "not run": the stand-in takes its place.
    assert list(dict.fromkeys(frame.dataset)) == ["split_cifar", "permuted_mnist5k"]
    row = frame[(frame.dataset == "permuted_mnist5k") & (frame.method == "agem") & (frame.metric == "A_T")].iloc[0]
    # The paper's A-GEM on Permuted MNIST (App. E: 89.1 ± 0.14); ours A_T = 100 (0.84 + 0.94) / 2 = 89.
    assert (row.paper_mean, row.paper_std, row.ours_mean) == pytest.approx((89.1, 0.14, 89.0))
    assert row.verdict == SMALLER_SCALE
    # A method the paper has but the run lacks is listed as not run, from the paper's MNIST rows.
    gem = frame[(frame.dataset == "permuted_mnist5k") & (frame.method == "gem") & (frame.metric == "A_T")].iloc[0]
    assert (gem.paper_mean, gem.verdict) == (89.5, NOT_RUN)
    markdown = (tmp_path / "tables" / "table4_mnist_cifar.md").read_text(encoding="utf-8")
    assert "Permuted MNIST (5k): the paper's Permuted MNIST protocol on 5,000 real MNIST digits" in markdown


def markdown_rows(text: str) -> list[dict[str, str]]:
    """The pipe table of a readable table as one {header: cell} per row."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return [dict(zip(cells[0], row)) for row in cells[2:]]


def test_table7_columns_hold_what_their_headers_say(tables):
    rows = markdown_rows((tables[1] / "table7_cost.md").read_text(encoding="utf-8"))
    assert html_rows((tables[1] / "table7_cost.html").read_text(encoding="utf-8")) == rows  # the report's copy
    agem, gem = (next(r for r in rows if r["Dataset"] == "Permuted MNIST" and r["Method"] == m) for m in ("A-GEM", "GEM"))
    # A-GEM's time over A-GEM's: exactly 1 and the reference, not "1.00 ± 0.41 reproduced".
    assert (agem["time / A-GEM ours"], agem["time / A-GEM Δ"]) == ("1 (reference)", NOT_COMPARABLE)
    assert gem["time / A-GEM ours"] == "4.00 ± 0.00"  # 160 s / 40 s on both seeds
    # The paper gives memory as formulas, ours is MiB: formulas in the formula column, numbers in the MiB ones.
    assert (gem["memory formula (paper)"], agem["memory formula (paper)"]) == ("PT + (B+M)H", "2P + (B+M)H")
    assert agem["memory by formula (MiB)"] == f"{4 * (2 * 1000 + 260 * 20) / 2**20:.2f} ± 0.00"
    assert agem["memory measured (MiB)"] == f"{3000 / 2**20:.2f} ± 0.00"
    assert not any("memory (MiB) paper" in header or "formula (MiB) paper" in header for header in rows[0])
    assert "time (s) Δ" not in rows[0]  # seconds on different hardware are never compared
    digits = next(r for r in rows if r["Dataset"] == "Permuted digits")
    assert digits["time / A-GEM ours"] == "1 (reference)" and digits["time (s) ours"] == "2.0 ± –"  # one seed
    table7 = tables[0]["table7"]
    reference = row(table7, "permuted_mnist", "agem", "time_vs_agem")
    assert (reference.ours_mean, reference.ours_std, reference.verdict) == (1.0, 0.0, NOT_COMPARABLE)


def test_a_single_seed_has_no_spread(tables):
    rows = markdown_rows((tables[1] / "table5_cub.md").read_text(encoding="utf-8"))
    je = next(r for r in rows if r["Dataset"] == "Split CUB-JE" and r["Method"] == "A-GEM")
    assert (je["Runs"], je["A_T (%) ours"], je["F_T ours"]) == ("1", "71.0 ± –", "0.10 ± –")
    assert np.isnan(row(tables[0]["table5"], "split_cub_je", "agem", "A_T").ours_std)


def test_agem_time_over_agem_is_exactly_one_whatever_its_spread():
    per_seed = table_per_seed([make_record("d", "agem", s, (0.9, 0.8, 0.9), 0.3, seconds) for s, seconds in ((0, 30.0), (1, 50.0))])
    assert ours(per_seed, "d", "agem", "time_vs_agem") == (1.0, 0.0)  # not 1 ± 0.35 from propagating 40 ± 10 twice
    assert ours(per_seed, "d", "agem", "train_seconds") == (40.0, 10.0)
    assert all(np.isnan(ours(per_seed, "e", "agem", "time_vs_agem")))  # not run


def test_a_method_beyond_the_paper_is_marked_and_has_no_paper_value(tmp_path):
    """ER (not in the paper) comes after the paper's methods, marked ‡ with the note saying why."""
    records = [make_record("permuted_mnist5k", method, 0, (0.9, 0.8, 0.9), 0.3, 10.0, 1000) for method in ("er", "agem")]
    paths = write_records(tmp_path / "runs", records)
    with redirect_stdout(StringIO()):
        run_script("make_tables", "--runs", *map(str, paths), "--datasets", "permuted_mnist5k",
                   "--methods", "er", "agem", "--out-dir", str(tmp_path / "tables"), "--only", "table4")
    frame = pd.read_csv(tmp_path / "tables" / "table4_mnist_cifar.csv", keep_default_na=False, na_values=[""])
    er = frame[(frame.dataset == "permuted_mnist5k") & (frame.method == "er") & (frame.metric == "A_T")].iloc[0]
    assert np.isnan(er.paper_mean) and er.verdict == NO_PAPER_VALUE
    markdown = (tmp_path / "tables" / "table4_mnist_cifar.md").read_text(encoding="utf-8")
    methods = [r["Method"] for r in markdown_rows(markdown) if r["Dataset"] == "Permuted MNIST (5k)"]
    assert methods[-1] == "ER ‡" and "A-GEM" in methods and not any("‡" in m for m in methods[:-1])
    assert "‡: beyond the paper" in markdown
    assert "ER \\ddag{}" in (tmp_path / "tables" / "table4_mnist_cifar.tex").read_text(encoding="utf-8")
    assert "‡: beyond the paper" in (tmp_path / "tables" / "table4_mnist_cifar.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("method", ["gem", "agem"])
def test_the_same_pair_of_numbers_gets_the_same_sigma_in_every_table(tables, method):
    """Table 2 prints GEM's test-set A_T as 89.5 without a std, App. E as 89.5 ± 0.48: both tables
    (and Table 3, which repeats App. E) judge ours against one σ, sqrt(σ_paper² + σ_ours²)."""
    found = {name: row(tables[0][name], "permuted_mnist", method, "A_T") for name in ("table2", "table3", "table4")}
    assert {(r.paper_mean, r.paper_std, r.sigma, r.diff_sigmas) for r in found.values()} == {
        (found["table4"].paper_mean, found["table4"].paper_std, found["table4"].sigma, found["table4"].diff_sigmas)}
    if method == "gem":  # ours 87.5 over two equal seeds (spread 0 -> 0.05); paper 89.5 ± 0.48
        assert found["table2"].sigma == pytest.approx(0.482597, abs=1e-6)
        assert found["table2"].diff_sigmas == pytest.approx(-2.0 / 0.482597, abs=1e-4)
