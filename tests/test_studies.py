"""Sweeps and the task-length study (agem.report.studies) on hand-made runs with known numbers.

Every run is helpers.runs.make_record's two-task run: A_T = 100 (x1 + x2) / 2 and F_T = x0 - x1,
so each expected mean, std (ddof = 0), gap, 2σ and claim status below is worked out by hand in
the comments, never by the code under test."""

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from agem.report.claims import FAILS, HOLDS, UNTESTED
from agem.report.studies import gap_frame, metrics_frame, summarise, task_length_claims, task_length_summary, write_sweep, write_task_length
from agem.runs.runfile import write_run
from helpers.runs import make_record
from helpers.scripts import run_script

# ---- The task-length study's runs ---------------------------------------------------------------
# Three lengths; the benchmark "tl_other" is not part of the study and must be left out.
STEPS = {"tl_long": 1000, "tl_short": 10, "tl_mid": 100}

STUDY_RECORDS = [
    # 1,000 steps. A-GEM: A_T 80, 80 -> 80 ± 0; F_T 0.1; time 10, 10.
    make_record("tl_long", "agem", 0, (0.9, 0.8, 0.8), train_seconds=10.0),
    make_record("tl_long", "agem", 1, (0.9, 0.8, 0.8), train_seconds=10.0),
    # GEM: A_T 100 (0.8 + 0.8014)/2 = 80.07 and 80.13 -> 80.1 ± 0.03 (below the 0.05 floor); time 49.
    make_record("tl_long", "gem", 0, (0.9, 0.8, 0.8014), train_seconds=49.0),
    make_record("tl_long", "gem", 1, (0.9, 0.8, 0.8026), train_seconds=49.0),
    make_record("tl_long", "van", 0, (0.9, 0.5, 0.9), train_seconds=5.0),  # A_T 70, F_T 0.4
    # 10 steps. A-GEM: A_T 70, 80 -> 75 ± 5; F_T 0.3, 0.1 -> 0.2 ± 0.1; time 2, 6 -> 4 ± 2; seed 2
    # diverged (counted, not averaged: its ∞ and its 1,000 s would change every number).
    make_record("tl_short", "agem", 0, (0.9, 0.6, 0.8), train_seconds=2.0),
    make_record("tl_short", "agem", 1, (0.9, 0.8, 0.8), train_seconds=6.0),
    make_record("tl_short", "agem", 2, train_seconds=1000.0, diverged=True),
    # GEM: A_T 60, 60 -> 60 ± 0; F_T 0.3; time 20, 20.
    make_record("tl_short", "gem", 0, (0.9, 0.6, 0.6), train_seconds=20.0),
    make_record("tl_short", "gem", 1, (0.9, 0.6, 0.6), train_seconds=20.0),
    # VAN: A_T 60, 70 -> 65 ± 5; F_T 0.4, 0.2 -> 0.3 ± 0.1; time 1, 3 -> 2 ± 1.
    make_record("tl_short", "van", 0, (0.9, 0.5, 0.7), train_seconds=1.0),
    make_record("tl_short", "van", 1, (0.9, 0.7, 0.7), train_seconds=3.0),
    # 100 steps: no GEM, so neither claim can be tested here.
    make_record("tl_mid", "agem", 0, (0.9, 0.8, 0.8), train_seconds=10.0),
    make_record("tl_mid", "van", 0, (0.9, 0.5, 0.7), train_seconds=1.0),
    make_record("tl_other", "gem", 0, (0.9, 0.1, 0.1), train_seconds=1.0),
]
METHODS = ["van", "gem", "agem"]  # not the records' order of first appearance (agem, gem, van)


def test_summarise_mean_and_std_ddof0_over_the_non_diverged_seeds():
    frame = metrics_frame([r for r in STUDY_RECORDS if (r.dataset, r.method) == ("tl_short", "agem")])
    (row,) = summarise(frame, ["dataset", "method"]).to_dict("records")
    assert (row["dataset"], row["method"], row["n_seeds"], row["n_diverged"]) == ("tl_short", "agem", 3, 1)
    # A_T 70 and 80: mean 75, std |80 - 70| / 2 = 5 (ddof = 1 would give 7.07); F_T 0.3 and 0.1; time 2 and 6.
    assert row["A_T_mean"] == pytest.approx(75.0) and row["A_T_std"] == pytest.approx(5.0)
    assert row["F_T_mean"] == pytest.approx(0.2) and row["F_T_std"] == pytest.approx(0.1)
    assert row["train_seconds_mean"] == pytest.approx(4.0) and row["train_seconds_std"] == pytest.approx(2.0)


def test_summarise_a_group_of_diverged_seeds_only_has_no_mean_but_is_counted():
    frame = metrics_frame([make_record("d", "pi", 0, diverged=True), make_record("d", "pi", 1, diverged=True)])
    (row,) = summarise(frame, ["method"]).to_dict("records")
    assert (row["n_seeds"], row["n_diverged"]) == (2, 2)
    assert math.isnan(row["A_T_mean"])


def test_task_length_summary_maps_benchmarks_to_steps_and_orders_the_methods():
    summary = task_length_summary(STUDY_RECORDS, STEPS, METHODS)
    assert list(zip(summary["method"], summary["steps_per_task"])) == [
        ("van", 10), ("van", 100), ("van", 1000), ("gem", 10), ("gem", 1000), ("agem", 10), ("agem", 100), ("agem", 1000)]
    by = summary.set_index(["method", "steps_per_task"])
    assert by.loc[("agem", 10), ["n_seeds", "n_diverged"]].tolist() == [3, 1]
    expected = {  # (A_T mean, A_T std, F_T mean, F_T std, seconds mean, seconds std), from the comments above
        ("van", 10): (65.0, 5.0, 0.3, 0.1, 2.0, 1.0),
        ("van", 1000): (70.0, 0.0, 0.4, 0.0, 5.0, 0.0),
        ("gem", 10): (60.0, 0.0, 0.3, 0.0, 20.0, 0.0),
        ("gem", 1000): (80.1, 0.03, 0.1, 0.0, 49.0, 0.0),
        ("agem", 10): (75.0, 5.0, 0.2, 0.1, 4.0, 2.0),
        ("agem", 1000): (80.0, 0.0, 0.1, 0.0, 10.0, 0.0),
    }
    columns = ["A_T_mean", "A_T_std", "F_T_mean", "F_T_std", "train_seconds_mean", "train_seconds_std"]
    for key, values in expected.items():
        assert by.loc[key, columns].tolist() == pytest.approx(values, abs=1e-9), key


def test_gap_is_agem_minus_gem_with_two_sigma_floored_at_the_papers_resolution():
    gaps = gap_frame(task_length_summary(STUDY_RECORDS, STEPS, METHODS))
    # 100 steps has no GEM: no gap there.
    assert gaps["steps_per_task"].tolist() == [10, 1000]
    # 10 steps: 75 - 60 = +15; σ_A-GEM = 5, σ_GEM = 0 -> floor 0.05: 2 sqrt(25 + 0.0025) = 10.000499987...
    # 1,000 steps: 80 - 80.1 = -0.1; both σ at the floor (A-GEM 0, GEM 0.03 < 0.05, replaced, not
    # added in quadrature): 2 sqrt(0.05² + 0.05²) = 0.141421356...
    assert gaps["gap"].tolist() == pytest.approx([15.0, -0.1], abs=1e-9)
    assert gaps["two_sigma"].tolist() == pytest.approx([10.000499987500625, 0.1414213562373095], rel=1e-12)


def test_claims_at_each_length_one_holds_one_does_not_and_untested_without_gem():
    claims = task_length_claims(task_length_summary(STUDY_RECORDS, STEPS, METHODS))
    close = claims[claims["claim"].str.startswith("A-GEM ≈ GEM")].set_index("steps_per_task")["status"]
    cheap = claims[claims["claim"].str.startswith("A-GEM much cheaper")].set_index("steps_per_task")["status"]
    assert len(claims) == 6 and claims["steps_per_task"].tolist() == [10, 10, 100, 100, 1000, 1000]
    # 10 steps: |15| > 10.0005 -> does not hold; GEM 20 s / A-GEM 4 s = 5.0, exactly SPEEDUP -> holds (≥).
    # 1,000 steps: |-0.1| <= 0.1414 -> holds (only thanks to the floor: 2 x 0.03 = 0.06 < 0.1;
    # nor within 1σ = 0.0707); 49 s / 10 s = 4.9 < 5 -> does not hold.
    assert close.to_dict() == {10: FAILS, 100: UNTESTED, 1000: HOLDS}
    assert cheap.to_dict() == {10: HOLDS, 100: UNTESTED, 1000: FAILS}
    evidence = claims.set_index(["steps_per_task", claims["claim"].str[:7]])["evidence"]
    assert "Δ +15.0" in evidence[(10, "A-GEM ≈")] and "= 5.0×" in evidence[(10, "A-GEM m")]
    assert "no A-GEM or GEM runs" in evidence[(100, "A-GEM ≈")]


def assert_png_and_pdf(folder, stem):
    png, pdf = (folder / f"{stem}.png").read_bytes(), (folder / f"{stem}.pdf").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000, stem
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000, stem


def test_write_task_length_writes_tables_claims_and_both_figures(tmp_path):
    written = write_task_length(STUDY_RECORDS, STEPS, tmp_path, METHODS)
    names = {"task_length.csv", "task_length.md", "task_length_claims.csv", "task_length_claims.md",
             "task_length_accuracy.png", "task_length_accuracy.pdf", "task_length_gap.png", "task_length_gap.pdf"}
    assert {p.name for p in written} == names == {p.name for p in tmp_path.iterdir()}
    table = pd.read_csv(tmp_path / "task_length.csv")
    assert list(zip(table["method"], table["steps_per_task"]))[:3] == [("van", 10), ("van", 100), ("van", 1000)]
    assert table.loc[(table["method"] == "agem") & (table["steps_per_task"] == 10), "A_T_mean"].item() == pytest.approx(75.0)
    markdown = (tmp_path / "task_length.md").read_text(encoding="utf-8")
    assert "75.0 ± 5.0" in markdown and "1,000" in markdown
    claims = pd.read_csv(tmp_path / "task_length_claims.csv")
    assert claims["status"].tolist() == [FAILS, HOLDS, UNTESTED, UNTESTED, HOLDS, FAILS]
    assert "2 of 6 checks hold" in (tmp_path / "task_length_claims.md").read_text(encoding="utf-8")
    for stem in ("task_length_accuracy", "task_length_gap"):
        assert_png_and_pdf(tmp_path, stem)


# ---- Sweeps -------------------------------------------------------------------------------------

def swept(record, lr, ref_batch_size=256):
    """The record as a sweep's run records its hyper-parameters (its config's ``hparams``)."""
    return dataclasses.replace(record, config={"hparams": {"lr": lr, "ref_batch_size": ref_batch_size}})


# In ascending lr, while the grid lists 0.3, 0.03, 0.1: the table must follow the grid.
SWEEP_RECORDS = [
    # lr 0.03: A_T 70; seed 1 diverged -> 70 ± 0 over 1 seed, 2 counted.
    swept(make_record("sw", "agem", 0, (0.9, 0.6, 0.8)), 0.03),
    swept(make_record("sw", "agem", 1, diverged=True), 0.03),
    # lr 0.1: A_T 80, 90 -> 85 ± 5; F_T 0.1, 0.1 -> 0.1 ± 0.
    swept(make_record("sw", "agem", 0, (0.9, 0.8, 0.8)), 0.1),
    swept(make_record("sw", "agem", 1, (0.9, 0.8, 1.0)), 0.1),
    # lr 0.3: A_T 50, 60 -> 55 ± 5; F_T 0.4, 0.2 -> 0.3 ± 0.1.
    swept(make_record("sw", "agem", 0, (0.9, 0.5, 0.5)), 0.3),
    swept(make_record("sw", "agem", 1, (0.9, 0.7, 0.5)), 0.3),
]
SWEEP_GRID = {"lr": [0.3, 0.03, 0.1]}


def test_sweep_script_writes_its_table_and_figure_in_grid_order(tmp_path):
    paths = []
    for i, record in enumerate(SWEEP_RECORDS):  # through run files, as the workflow's rule sweep does
        paths.append(tmp_path / "runs" / f"{i}.h5")
        write_run(paths[-1], record)
    out = tmp_path / "sweeps"
    run_script("make_sweep", "--name", "agem_lr", "--grid", json.dumps(SWEEP_GRID), "--runs", *map(str, paths), "--out-dir", str(out))
    assert {p.name for p in out.iterdir()} == {"agem_lr.csv", "agem_lr.md", "agem_lr.png", "agem_lr.pdf"}
    table = pd.read_csv(out / "agem_lr.csv")
    assert table["lr"].tolist() == [0.3, 0.03, 0.1]
    assert table["n_seeds"].tolist() == [2, 2, 2] and table["n_diverged"].tolist() == [0, 1, 0]
    assert table["A_T_mean"].tolist() == pytest.approx([55.0, 70.0, 85.0])
    assert table["A_T_std"].tolist() == pytest.approx([5.0, 0.0, 5.0])
    assert table["F_T_mean"].tolist() == pytest.approx([0.3, 0.3, 0.1])
    assert table["F_T_std"].tolist() == pytest.approx([0.1, 0.0, 0.0], abs=1e-12)
    rows = [line for line in (out / "agem_lr.md").read_text(encoding="utf-8").splitlines() if line.startswith("| 0.")]
    assert [row.split("|")[1].strip() for row in rows] == ["0.3", "0.03", "0.1"]
    cells = [[cell.strip() for cell in row.split("|")[2:-1]] for row in rows]  # seeds, A_T (%), F_T
    assert cells == [["2", "55.0 ± 5.0", "0.30 ± 0.10"], ["2", "70.0 ± 0.0", "0.30 ± 0.00"], ["2", "85.0 ± 5.0", "0.10 ± 0.00"]]
    assert_png_and_pdf(out, "agem_lr")


def test_sweep_over_two_names_follows_the_grids_product_order(tmp_path):
    grid = {"lr": [0.1, 0.03], "ref_batch_size": [256, 10]}
    points = [(0.03, 10, 0.5), (0.1, 10, 0.6), (0.03, 256, 0.7), (0.1, 256, 0.8)]  # A_T 100 (x + x)/2 = 100 x
    records = [swept(make_record("sw", "agem", 0, (0.9, x, x)), lr, size) for lr, size, x in points]
    write_sweep(records, "two", grid, tmp_path)
    table = pd.read_csv(tmp_path / "two.csv")
    assert list(zip(table["lr"], table["ref_batch_size"])) == [(0.1, 256), (0.1, 10), (0.03, 256), (0.03, 10)]
    assert table["A_T_mean"].tolist() == pytest.approx([80.0, 60.0, 70.0, 50.0])
    assert np.isfinite(table["A_T_std"]).all()
    assert_png_and_pdf(tmp_path, "two")


def test_a_one_seed_result_borrows_the_largest_seed_std_of_its_length():
    import pandas as pd

    from agem.report.studies import gap_frame, one_seed_sigma, task_length_claims

    summary = pd.DataFrame({
        "method": ["van", "ewc", "agem", "gem", "agem", "gem"],
        "steps_per_task": [400, 400, 400, 400, 5500, 5500],
        "n_seeds": [2, 3, 1, 1, 2, 2], "n_diverged": [0, 0, 0, 0, 0, 0],
        "A_T_mean": [50.0, 55.0, 70.0, 74.0, 80.0, 80.2], "A_T_std": [2.0, 1.5, 0.0, 0.0, 0.3, 0.4],
        "F_T_mean": [0.3] * 6, "F_T_std": [0.0] * 6,
        "train_seconds_mean": [1.0, 2.0, 10.0, 100.0, 10.0, 100.0], "train_seconds_std": [0.0] * 6,
    })
    assert one_seed_sigma(summary, 400) == 2.0  # VAN's, the largest among methods with 2+ seeds
    gaps = gap_frame(summary).set_index("steps_per_task")
    # 400: both one seed, each σ = 2.0: 2σ = 2·sqrt(4 + 4) = 5.657; Δ = -4 is within it.
    assert gaps.loc[400, "gap"] == pytest.approx(-4.0) and gaps.loc[400, "two_sigma"] == pytest.approx(2 * 8 ** 0.5)
    # 5,500: their own stds: 2σ = 2·sqrt(0.09 + 0.16) = 1.0.
    assert gaps.loc[5500, "two_sigma"] == pytest.approx(1.0)
    claims = task_length_claims(summary)
    close = claims[claims["claim"].str.startswith("A-GEM ≈ GEM")].set_index("steps_per_task")["status"]
    assert close.to_dict() == {400: "holds", 5500: "holds"}
