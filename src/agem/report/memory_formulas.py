"""The paper's training-memory formulas (Table 7), reported next to the measured bytes.

Table 7 gives, per method, the memory needed for training in floats, with P the network's
parameters, H its hidden units (activations per example), B the batch size, M the episodic
memory per task and T the number of tasks:

    VAN P + B·H    EWC 4P + B·H    PROG-NN 2P·T + B·H·T    GEM P·T + (B+M)·H    A-GEM 2P + (B+M)·H

:func:`paper_memory_formula` turns them into **bytes** (4 bytes per float32 value). Methods that
Table 7 leaves out get a formula *derived* by the same counting (every entry says which): one P
for the network plus one P per per-parameter vector the method keeps for its update, as EWC's 4P
counts the network, the Fisher, θ* and the running Fisher statistic; activations of the batches
a step runs forward and backward, (batch size)·H each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

BYTES_PER_FLOAT = 4  # float32


@dataclass(frozen=True)
class MemoryFormula:
    expression: str  # in the paper's notation
    source: str  # "paper Table 7", or "derived: ..." with the counting behind it
    floats: Callable[[float, float, float, float, float], float]  # (P, H, B, M, T) -> floats


FORMULAS: dict[str, MemoryFormula] = {
    "van": MemoryFormula("P + BH", "paper Table 7", lambda P, H, B, M, T: P + B * H),
    "ewc": MemoryFormula("4P + BH", "paper Table 7", lambda P, H, B, M, T: 4 * P + B * H),
    "prognn": MemoryFormula("2PT + BHT", "paper Table 7", lambda P, H, B, M, T: 2 * P * T + B * H * T),
    "gem": MemoryFormula("PT + (B+M)H", "paper Table 7", lambda P, H, B, M, T: P * T + (B + M) * H),
    "agem": MemoryFormula("2P + (B+M)H", "paper Table 7", lambda P, H, B, M, T: 2 * P + (B + M) * H),
    "multitask": MemoryFormula("P + BH", "derived: plain SGD on batches of B, like VAN", lambda P, H, B, M, T: P + B * H),
    "pi": MemoryFormula("4P + BH", "derived: network, Ω, θ*, path integral ω (EWC's count with ω for the running Fisher)", lambda P, H, B, M, T: 4 * P + B * H),
    "mas": MemoryFormula("3P + BH", "derived: network, Ω, θ* (Ω is computed once per task, no running statistic)", lambda P, H, B, M, T: 3 * P + B * H),
    "rwalk": MemoryFormula(
        "7P + BH",
        "derived: network, Ω, θ*, running Fisher, path integral ω, accumulated score s, window start θ_w",
        lambda P, H, B, M, T: 7 * P + B * H,
    ),
    "sgem": MemoryFormula("2P + (B+M)H", "derived: A-GEM's count, one past task's gradient on its M memories", lambda P, H, B, M, T: 2 * P + (B + M) * H),
    "icarl": MemoryFormula(
        "2P + 2BH",
        "derived: network and the frozen previous network; the batch and a replay batch of the default size B",
        lambda P, H, B, M, T: 2 * P + 2 * B * H,
    ),
    # Beyond the paper (Table 7 has no ER): counted like VAN, whose step it is on twice the batch.
    "er": MemoryFormula(
        "P + 2BH",
        "derived: network only, like VAN; the batch and an equal memory batch of B in one pass",
        lambda P, H, B, M, T: P + 2 * B * H,
    ),
}


def paper_memory_formula(method: str, P: float, H: float, B: float, M: float, T: float) -> float:
    """Training memory of ``method`` in **bytes** by its Table 7 formula (or the derived one;
    see :data:`FORMULAS`), NaN for a method without a formula."""
    formula = FORMULAS.get(method)
    if formula is None:
        return math.nan
    return BYTES_PER_FLOAT * float(formula.floats(P, H, B, M, T))
