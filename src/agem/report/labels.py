"""Display names of methods and benchmarks, and the order of a table's or figure's axis."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

METHOD_LABELS = {
    "van": "VAN", "ewc": "EWC", "pi": "PI", "mas": "MAS", "rwalk": "RWALK",
    "prognn": "PROG-NN", "prog_nn": "PROG-NN", "gem": "GEM", "sgem": "S-GEM",
    "agem": "A-GEM", "a_gem": "A-GEM", "icarl": "iCaRL", "multitask": "MULTI-TASK",
}


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


def dataset_label(dataset: str) -> str:
    return DATASET_LABELS.get(dataset, dataset)


def resolve_order(present: Iterable[str], given: Sequence[str] | None) -> list[str]:
    """The order of the table/figure axis: ``given`` if any, else first appearance in ``present``."""
    return list(given) if given is not None else list(dict.fromkeys(present))
