"""The one σ behind every "Δ in σ" (tables) and every "beyond seed noise" (claims):
σ = sqrt(σ_a² + σ_b²), each side its std over runs and at least half the paper's last digit."""

import math

import pytest

from agem.report.claims import noise_margin
from agem.report.paper import OFF, REPRODUCED, WITHIN_2SIGMA, PaperValue, combined_sigma, compare

ROOT2 = math.sqrt(2)


@pytest.mark.parametrize(("paper", "ours", "ours_std", "resolution", "sigma", "source", "diff", "verdict"), [
    # Both spreads count: paper 0.3, ours 0.4 -> σ = 0.5 (3-4-5).
    (PaperValue(89.1, 0.3), 89.4, 0.4, 0.05, 0.5, "paper & ours", 0.6, REPRODUCED),
    (PaperValue(89.1, 0.3), 88.4, 0.4, 0.05, 0.5, "paper & ours", -1.4, WITHIN_2SIGMA),
    (PaperValue(89.1, 0.3), 90.2, 0.4, 0.05, 0.5, "paper & ours", 2.2, OFF),
    # No std in the paper (CUB F_T): its side is the rounding, 0.005; ours 0.012 -> σ = 0.013 (5-12-13).
    (PaperValue(0.13), 0.16, 0.012, 0.005, 0.013, "resolution & ours", 0.03 / 0.013, OFF),
    # One seed of ours (std NaN or 0): its side is the rounding too.
    (PaperValue(89.1, 0.4), 89.5, math.nan, 0.3, 0.5, "paper & resolution", 0.8, REPRODUCED),
    (PaperValue(0.13), 0.132, 0.0, 0.005, 0.005 * ROOT2, "resolution", 0.002 / (0.005 * ROOT2), REPRODUCED),
    (PaperValue(0.0), 0.0, math.nan, 0.005, 0.005 * ROOT2, "resolution", 0.0, REPRODUCED),  # PROG-NN F_T = 0
    # A paper σ below its own rounding (F_T 0.06 ± 0.001) is widened to the rounding.
    (PaperValue(0.06, 0.001), 0.07, 0.0, 0.005, 0.005 * ROOT2, "resolution", 0.01 / (0.005 * ROOT2), WITHIN_2SIGMA),
    # No σ and no resolution: exact match only.
    (PaperValue(5.0), 5.0, 0.0, 0.0, 0.0, "resolution", 0.0, REPRODUCED),
    (PaperValue(5.0), 5.5, 0.0, 0.0, 0.0, "resolution", math.inf, OFF),
])
def test_compare_on_hand_made_numbers(paper, ours, ours_std, resolution, sigma, source, diff, verdict):
    result = compare(paper, ours, ours_std, resolution)
    assert (result.sigma, result.sigma_source, result.verdict) == (pytest.approx(sigma), source, verdict)
    assert result.diff_sigmas == pytest.approx(diff)


def test_the_claims_use_the_same_sigma_as_the_tables():
    """"A-GEM ≈ GEM within 2σ" and "Δ within 2σ" of a table mean the same σ."""
    assert combined_sigma(0.3, 0.4, 0.05) == pytest.approx(0.5)
    assert combined_sigma(None, math.nan, 0.05) == pytest.approx(0.05 * ROOT2)
    assert noise_margin((89.4, 0.4), (89.1, 0.3), 0.05) == pytest.approx(2 * 0.5)
    assert compare(PaperValue(89.1, 0.3), 89.4, 0.4, 0.05).sigma == pytest.approx(noise_margin((89.4, 0.4), (89.1, 0.3), 0.05) / 2)
