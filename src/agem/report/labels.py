"""Display names of methods and benchmarks, and the order of a table's or figure's axis."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

METHOD_LABELS = {
    "van": "VAN", "ewc": "EWC", "pi": "PI", "mas": "MAS", "rwalk": "RWALK",
    "prognn": "PROG-NN", "prog_nn": "PROG-NN", "gem": "GEM", "sgem": "S-GEM",
    "agem": "A-GEM", "a_gem": "A-GEM", "icarl": "iCaRL", "multitask": "MULTI-TASK", "er": "ER",
}


# The paper's row order (App. E); methods it does not have (ER, a user's own) come after them.
PAPER_METHOD_ORDER = ("van", "icarl", "ewc", "pi", "mas", "rwalk", "prognn", "gem", "sgem", "agem", "multitask")
BEYOND_THE_PAPER_MARK = "‡"
BEYOND_THE_PAPER_NOTE = f"{BEYOND_THE_PAPER_MARK}: beyond the paper (a method it does not have, so no paper values). "


DATASET_LABELS = {
    "mnist": "MNIST", "permuted_mnist": "Permuted MNIST", "cifar": "CIFAR",
    "split_cifar": "Split CIFAR", "cub": "CUB", "split_cub": "Split CUB", "awa": "AWA",
    "split_awa": "Split AWA", "cub_je": "CUB-JE", "awa_je": "AWA-JE", "digits": "Permuted digits",
    "split_cub_je": "Split CUB-JE", "split_awa_je": "Split AWA-JE",
    "permuted_digits": "Permuted digits", "split_digits": "Split digits",
    "permuted_mnist5k": "Permuted MNIST (5k)",
}


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method.replace("_", "-").upper())


def table_method_label(method: str) -> str:
    """A table row's method label, marked when the paper does not have the method (ER)."""
    label = method_label(method)
    return label if method in PAPER_METHOD_ORDER else f"{label} {BEYOND_THE_PAPER_MARK}"


def beyond_the_paper_note(methods: Iterable[str]) -> str:
    """The note explaining the mark, when some of ``methods`` carry it."""
    return BEYOND_THE_PAPER_NOTE if any(m not in PAPER_METHOD_ORDER for m in methods) else ""


def dataset_label(dataset: str) -> str:
    return DATASET_LABELS.get(dataset, dataset)


def resolve_order(present: Iterable[str], given: Sequence[str] | None) -> list[str]:
    """The order of the table/figure axis: ``given`` if any, else first appearance in ``present``."""
    return list(given) if given is not None else list(dict.fromkeys(present))
