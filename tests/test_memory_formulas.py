"""The paper's Table 7 memory formulas (agem.report.memory_formulas), in bytes, for every method."""

import math

import pytest

from agem.methods import METHODS
from agem.report.memory_formulas import FORMULAS, paper_memory_formula

P, H, B, M, T = 1000, 30, 10, 250, 17


@pytest.mark.parametrize(
    ("method", "floats"),
    [  # Table 7, written out by hand
        ("van", P + B * H),
        ("ewc", 4 * P + B * H),
        ("prognn", 2 * P * T + B * H * T),
        ("gem", P * T + (B + M) * H),
        ("agem", 2 * P + (B + M) * H),
    ],
)
def test_table_7_formulas_in_bytes(method, floats):
    assert paper_memory_formula(method, P, H, B, M, T) == 4 * floats
    assert FORMULAS[method].source == "paper Table 7"


def test_every_registered_method_has_a_formula_and_says_where_it_comes_from():
    assert set(METHODS) <= set(FORMULAS)
    for method, formula in FORMULAS.items():
        assert formula.source == "paper Table 7" or formula.source.startswith("derived: ")
        assert paper_memory_formula(method, P, H, B, M, T) > 0


def test_agem_needs_less_than_gem_and_an_unknown_method_gets_nan():
    """A-GEM needs less memory than GEM as soon as (T − 2)·P > 0, and a method without a
    formula gets NaN instead of an error."""
    assert paper_memory_formula("agem", P, H, B, M, T) < paper_memory_formula("gem", P, H, B, M, T)
    assert math.isnan(paper_memory_formula("my_method", P, H, B, M, T))


def test_experience_replay_counts_the_network_and_a_doubled_batch():
    """ER (beyond the paper) is VAN's step on the batch joined with an equal memory batch."""
    assert paper_memory_formula("er", P, H, B, M, T) == 4 * (P + 2 * B * H)
    assert FORMULAS["er"].source.startswith("derived: ")
