"""The reproduction summary: each of the paper's claims checked on hand-made numbers."""

from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from agem.report.claims import (
    CLAIM_COLUMNS,
    CLAIMS,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    UNTESTED,
    Ours,
    claims_frame,
    noise_margin,
    ordering,
    write_summary,
)
from agem.report.paper import OFF, REPRODUCED

# (dataset, method, metric, ours_mean, ours_std)
NUMBERS = [
    # MNIST: A-GEM ≈ GEM, 10× faster, 3× less memory, PROG-NN does not forget, MULTI-TASK on top.
    ("permuted_mnist", "agem", "A_T", 89.0, 0.2), ("permuted_mnist", "gem", "A_T", 89.5, 0.4),
    ("permuted_mnist", "van", "A_T", 48.0, 1.0), ("permuted_mnist", "prognn", "A_T", 93.0, 0.1),
    ("permuted_mnist", "multitask", "A_T", 95.0, 0.1),
    ("permuted_mnist", "agem", "F_T", 0.06, 0.01), ("permuted_mnist", "van", "F_T", 0.5, 0.01),
    ("permuted_mnist", "prognn", "F_T", 0.0, 0.0),
    ("permuted_mnist", "agem", "train_seconds", 40.0, 1.0), ("permuted_mnist", "gem", "train_seconds", 400.0, 5.0),
    ("permuted_mnist", "agem", "memory_bytes", 1000.0, 0.0), ("permuted_mnist", "gem", "memory_bytes", 3000.0, 0.0),
    ("permuted_mnist", "agem", "A_T_memory", 99.0, 0.1), ("permuted_mnist", "gem", "A_T_memory", 99.5, 0.1),
    # digits: GEM far ahead of A-GEM, and only 3× slower.
    ("permuted_digits", "agem", "A_T", 48.0, 1.0), ("permuted_digits", "gem", "A_T", 92.0, 1.0),
    ("permuted_digits", "agem", "train_seconds", 5.0, 0.1), ("permuted_digits", "gem", "train_seconds", 15.0, 0.1),
    # CUB: the joint embedding helps VAN but not A-GEM.
    ("split_cub", "van", "A_T", 54.0, 2.0), ("split_cub_je", "van", "A_T", 67.0, 2.0),
    ("split_cub", "agem", "A_T", 62.0, 2.0), ("split_cub_je", "agem", "A_T", 60.0, 2.0),
    # MNIST on 5,000 digits: orderings within seed noise are inconclusive.
    ("permuted_mnist5k", "agem", "A_T", 80.0, 2.0), ("permuted_mnist5k", "ewc", "A_T", 78.0, 2.0),
    ("permuted_mnist5k", "multitask", "A_T", 87.0, 0.5), ("permuted_mnist5k", "gem", "A_T", 86.0, 1.0),
    ("permuted_mnist5k", "agem", "F_T", 0.31, 0.02), ("permuted_mnist5k", "van", "F_T", 0.30, 0.02),
    ("permuted_mnist5k", "agem", "A_T_memory", 96.0, 1.0), ("permuted_mnist5k", "gem", "A_T_memory", 99.0, 0.5),
    ("permuted_digits", "agem", "A_T_memory", 50.0, 1.0),
    # CIFAR: A-GEM clearly below EWC, memory fit not claimed.
    ("split_cifar", "agem", "A_T", 50.0, 0.5), ("split_cifar", "ewc", "A_T", 60.0, 0.5),
    ("split_cifar", "agem", "A_T_memory", 70.0, 0.5),
]
OURS = Ours(pd.DataFrame([{"table": "table4", "dataset": d, "method": m, "metric": k, "ours_mean": v,
                           "ours_std": s, "verdict": REPRODUCED} for d, m, k, v, s in NUMBERS]))


def status(claim_text_start: str, dataset: str) -> str:
    claims = claims_frame(OURS)
    rows = claims[claims.claim.str.startswith(claim_text_start) & (claims.dataset == dataset)]
    assert len(rows) == 1, (claim_text_start, dataset)
    return rows.iloc[0].status


@pytest.mark.parametrize(("claim", "dataset", "expected"), [
    ("A-GEM ≈ GEM", "permuted_mnist", HOLDS),        # |89.0 - 89.5| = 0.5 ≤ 2·hypot(0.2, 0.4)
    ("A-GEM ≈ GEM", "permuted_digits", FAILS),
    ("A-GEM ≥ 5× faster", "permuted_mnist", HOLDS),  # 400 / 40 = 10×
    ("A-GEM ≥ 5× faster", "permuted_digits", FAILS),  # 3×
    ("A-GEM needs less memory", "permuted_mnist", HOLDS),
    ("PROG-NN F_T = 0", "permuted_mnist", HOLDS),
    ("A-GEM has a higher A_T than VAN", "permuted_mnist", HOLDS),
    ("A-GEM forgets less than VAN", "permuted_mnist", HOLDS),
    ("MULTI-TASK is the upper bound", "permuted_mnist", HOLDS),
    ("Joint embedding raises A_T", "split_cub", FAILS),  # not for A-GEM: 62 -> 60
    ("GEM fits its episodic memory better", "permuted_mnist", HOLDS),  # 99.5 - 99.0 = 0.5 > 2·hypot(0.1, 0.1)
    ("GEM has a higher A_T than VAN and EWC", "permuted_mnist", HOLDS),
    ("A-GEM fits its episodic memory", "permuted_mnist", HOLDS),    # 99.0 - 2·0.1 > 95
    # Within seed noise: 80 - 78 = 2 < 2·hypot(2, 2) = 5.7.
    ("A-GEM has a higher A_T than VAN", "permuted_mnist5k", INCONCLUSIVE),
    ("A-GEM has a higher A_T than VAN", "split_cifar", FAILS),       # 50 - 60 < -2·hypot(0.5, 0.5)
    ("A-GEM forgets less than VAN", "permuted_mnist5k", INCONCLUSIVE),  # 0.30 - 0.31 within 2·hypot(0.02, 0.02)
    ("MULTI-TASK is the upper bound", "permuted_mnist5k", INCONCLUSIVE),  # 87 - 86 = 1 < 2·hypot(0.5, 1.0) = 2.2
    ("GEM has a higher A_T than VAN and EWC", "permuted_mnist5k", HOLDS),  # 86 - 78 = 8 > 2·hypot(1, 2) = 4.5
    ("A-GEM fits its episodic memory", "permuted_mnist5k", INCONCLUSIVE),  # 96 ± 2·1 straddles 95
    ("GEM fits its episodic memory better", "permuted_mnist5k", HOLDS),  # 99 - 96 = 3 > 2·hypot(1, 0.5) = 2.2
])
def test_claims_on_hand_made_numbers(claim, dataset, expected):
    assert status(claim, dataset) == expected


def test_a_claim_without_the_runs_it_needs_is_not_tested_once():
    claims = claims_frame(Ours(pd.DataFrame([{"table": "table4", "dataset": "permuted_mnist", "method": "van",
                                              "metric": "A_T", "ours_mean": 50.0, "ours_std": 1.0,
                                              "verdict": OFF}])))
    assert list(claims.columns) == CLAIM_COLUMNS
    assert len(claims) == len(CLAIMS) and set(claims.status) == {UNTESTED}
    assert "needs runs of PROG-NN" in set(claims.evidence)


def test_summary_files(tmp_path):
    table = tmp_path / "table4_mnist_cifar.csv"
    OURS.frame.assign(verdict=[REPRODUCED] * 10 + [OFF] * (len(NUMBERS) - 10)).to_csv(table, index=False)
    md, csv, html = write_summary([table], tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "## Verdicts per table" in text and "| Table 4 " in text
    assert "A-GEM ≈ GEM in A_T" in text and "does not hold" in text
    assert list(pd.read_csv(csv).columns) == CLAIM_COLUMNS
    # The report's page: the Markdown's headings and claims, as HTML (the report shows no Markdown).
    page = unescape(html.read_text(encoding="utf-8"))
    assert page.startswith("<!DOCTYPE html>") and "<h4>Verdicts per table</h4>" in page
    claims_heading = text.split("\n## ")[2].splitlines()[0]
    assert f"<h4>{claims_heading}</h4>" in page and page.count("<tr>") == text.count("\n|") - 4  # header rows


def test_memory_fit_is_claimed_on_mnist_only():
    claims = claims_frame(OURS)
    rows = claims[claims.claim.str.startswith("A-GEM fits its episodic memory")]
    assert set(rows.dataset) == {"permuted_mnist", "permuted_mnist5k"}  # not the digits, not CIFAR (72.1 % in the paper)


@pytest.mark.parametrize(("a", "b", "resolution", "margin", "expected"), [
    ((10.0, 3.0), (0.0, 4.0), 0.05, 10.0, INCONCLUSIVE),   # 2·hypot(3, 4) = 10: a Δ of exactly 10 is not beyond
    ((10.1, 3.0), (0.0, 4.0), 0.05, 10.0, HOLDS),
    ((0.0, 3.0), (10.1, 4.0), 0.05, 10.0, FAILS),
    ((1.0, 0.0), (0.0, 0.0), 0.3, 2 * 0.3 * 2**0.5, HOLDS),  # one seed: the resolution stands in for the std
    ((0.8, 0.0), (0.0, 0.0), 0.3, 2 * 0.3 * 2**0.5, INCONCLUSIVE),
])
def test_ordering_against_hand_computed_margins(a, b, resolution, margin, expected):
    assert noise_margin(a, b, resolution) == pytest.approx(margin)
    assert ordering(a, b, resolution)[0] == expected


def test_methods_beyond_the_paper_are_not_rivals_in_its_claims():
    """ER (beyond the paper) above MULTI-TASK does not make the paper's upper-bound claim fail."""
    rows = [{"table": "table4", "dataset": d, "method": m, "metric": k, "ours_mean": v, "ours_std": s,
             "verdict": REPRODUCED} for d, m, k, v, s in [*NUMBERS, ("permuted_mnist", "er", "A_T", 99.0, 0.1)]]
    claims = claims_frame(Ours(pd.DataFrame(rows)))
    row = claims[claims.claim.str.startswith("MULTI-TASK is the upper bound") & (claims.dataset == "permuted_mnist")]
    assert row.iloc[0].status == HOLDS and "ER" not in row.iloc[0].evidence


def generated_block(doc: str, marker: str) -> str:
    """The text between a generated-text marker of docs/reproduction.md and its end."""
    start = doc.index(marker)
    start = doc.index("\n", start) + 1
    return doc[start:doc.index("<!-- end of generated text -->", start)]


def test_the_docs_list_exactly_the_codes_claims_statuses_and_verdicts():
    """docs/reproduction.md once listed 9 claims where the summary checked 11, and lacked a verdict:
    its lists are the code's, regenerated with claims_doc() / verdicts_doc() when they change."""
    from agem.report.claims import CLAIMS, STATUS_MEANINGS, claims_doc, verdicts_doc
    from agem.report.paper import VERDICTS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "reproduction.md").read_text(encoding="utf-8")
    claims_block = generated_block(doc, "<!-- generated from agem.report.claims.CLAIMS")
    verdicts_block = generated_block(doc, "<!-- generated from agem.report.paper.VERDICT_MEANINGS")
    assert claims_block == claims_doc(), "paste agem.report.claims.claims_doc() into docs/reproduction.md#summary"
    assert verdicts_block == verdicts_doc(), "paste agem.report.claims.verdicts_doc() into docs/reproduction.md#verdicts"
    # And the generated text itself names every claim, status and verdict once.
    assert [line for line in claims_block.splitlines() if line.startswith("- ")] == [
        f"- {c.text} — {c.paper}{'.' if c is CLAIMS[-1] else ';'}" for c in CLAIMS]
    assert all(claims_block.count(f"| *{status}* |") == 1 for status in (HOLDS, FAILS, INCONCLUSIVE, UNTESTED))
    assert set(STATUS_MEANINGS) == {HOLDS, FAILS, INCONCLUSIVE, UNTESTED}
    assert all(verdicts_block.count(f"| *{verdict}* |") == 1 for verdict in VERDICTS)
    assert "results/figures/README.md" not in doc  # the gallery is per experiment
