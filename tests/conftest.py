"""Shared fixtures and helpers: tiny task streams built once per session, hand-made images,
and reference computations written independently of the library (loss, gradients, GEM's QP)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from agem.data.datasets import build_stream
from agem.data.streams import TaskStream, load_stream
from helpers.configs import validated_default_config
from helpers.streams import SPECS


@pytest.fixture(scope="session", autouse=True)
def _single_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def stream_files(tmp_path_factory) -> dict[tuple[str, int], Path]:
    """Digits streams keyed by (layout, seed), for seeds 1 and 2. Tests must not modify them."""
    folder = tmp_path_factory.mktemp("streams")
    paths = {}
    for layout, spec in SPECS.items():
        for seed in (1, 2):
            paths[layout, seed] = folder / f"{layout}_seed{seed}.h5"
            build_stream(f"{layout}_digits", spec, seed, paths[layout, seed])
    return paths


@pytest.fixture(scope="session")
def permuted_stream(stream_files) -> TaskStream:
    return load_stream(stream_files["permuted", 1])


@pytest.fixture(scope="session")
def split_stream(stream_files) -> TaskStream:
    return load_stream(stream_files["split", 1])


@pytest.fixture(params=["permuted", "split"])
def any_stream(request, permuted_stream, split_stream) -> TaskStream:
    return {"permuted": permuted_stream, "split": split_stream}[request.param]


@pytest.fixture(scope="session")
def validated_default() -> dict:
    """The default config with every benchmark it defines selected, schema defaults filled in."""
    return validated_default_config()


@pytest.fixture
def config(validated_default) -> dict:
    """A fresh copy of :func:`validated_default` that a test may edit."""
    return copy.deepcopy(validated_default)


# The test files that take longest on 2 cores (pytest --durations, quiet machine: the SLURM file
# about 5.5 min, the others 1-2 min each), started first: with two xdist workers (`make test`,
# `--no-loadscope-reorder` keeps this order) neither worker is left alone with one of them at the end.
LONGEST_FIRST = ("test_slurm.py", "test_experiments_workflow.py", "test_published.py", "test_variants_workflow.py",
                 "test_workflow.py", "test_rebuild.py", "test_copied_checkout.py", "test_cv.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order
