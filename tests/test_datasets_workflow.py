"""The paper's configuration (config/paper.yaml) and the data rules: schema, hyper-parameters,
the job fan-out of the full reproduction, and a Snakemake run from a manually placed miniature
archive to a stream (download → build_images → build_stream), including the error when the
archive is missing."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import validate

from agem.data.streams import load_stream
from agem.methods import METHODS, make_hyperparameters
from agem.pipeline.config import (
    benchmark_methods,
    benchmark_seeds,
    check_config,
    stream_spec,
)
from helpers.miniature_data import sha256_of, write_cub_archive
from helpers.workflow import REPO, job_counts, snakemake, write_config

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def paper_config() -> dict:
    """config/paper.yaml merged over config/config.yaml, as `--configfile` does, then validated."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for key, value in yaml.safe_load((REPO / "config" / "paper.yaml").read_text()).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and isinstance(config.get(key), dict) else value
    validate(config, SCHEMA)
    return config


def test_paper_config_is_the_papers_protocol():
    config = paper_config()
    assert config["datasets"] == ["permuted_mnist", "split_cifar", "split_cub", "split_awa", "split_cub_je", "split_awa_je"]
    seeds = {d: benchmark_seeds(config, d) for d in config["datasets"]}
    assert seeds["permuted_mnist"] == seeds["split_cifar"] == list(range(1234, 1239))
    assert all(seeds[d] == list(range(1234, 1244)) for d in ("split_cub", "split_awa", "split_cub_je", "split_awa_je"))
    for dataset in ("split_cub", "split_awa", "split_cub_je", "split_awa_je"):
        assert not {"gem", "sgem", "prognn"} & set(benchmark_methods(config, dataset))  # paper: – / out of memory
    assert "icarl" not in benchmark_methods(config, "permuted_mnist")
    benchmarks = config["benchmarks"]
    assert benchmarks["split_cub_je"]["network"]["head"] == benchmarks["split_awa_je"]["network"]["head"] == "joint_embedding"
    assert stream_spec(config, "split_cub") == stream_spec(config, "split_cub_je")  # -JE reuses the same images and tasks
    assert benchmarks["split_awa"]["class_sampling"] == "with_replacement" and benchmarks["split_awa"]["balanced_accuracy"]
    assert [benchmarks[d]["memory_per_task"] for d in ("permuted_mnist", "split_cifar", "split_cub", "split_awa")] == [250, 65, 50, 100]
    hparams = config["hparams"]
    assert hparams["permuted_mnist"]["agem"] == {"lr": 0.1, "ref_batch_size": 256}
    assert hparams["split_awa"]["ewc"] == {"lr": 0.003, "lam": 100, "fisher_update_every": 50}
    assert hparams["split_awa_je"]["mas"] == {"lr": 0.001, "lam": 0.1}


def test_paper_config_hyperparameters_are_accepted():
    config = paper_config()
    for dataset in config["datasets"]:
        for method in benchmark_methods(config, dataset):
            values = config["hparams"][dataset][method]
            if method in METHODS:  # every method the paper ran; checked as each one is registered
                make_hyperparameters(method, values)
    if set(config["methods"]) <= set(METHODS):
        check_config(config)


def test_paper_config_fan_out(tmp_path):
    result = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(REPO / "config" / "paper.yaml"))
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    # MNIST 10 methods × 5 seeds, CIFAR 11 × 5, CUB/AWA and their -JE variants 7 × 10 each
    assert counts["train"] == 10 * 5 + 11 * 5 + 4 * 7 * 10
    assert counts["build_stream"] == 5 + 5 + 4 * 10
    assert counts["download"] == 4 and counts["build_images"] == 4  # -JE shares its benchmark's images


MINI_CUB = {
    "datasets": ["mini_cub"],
    "methods": ["van"],
    "seeds": [3],
    "benchmarks": {"mini_cub": {
        "source": "cub", "source_options": {"image_size": 32}, "layout": "split", "n_tasks": 4, "n_cv_tasks": 1,
        "classes_per_task": 5, "memory_per_task": 10, "network": {"type": "resnet18", "head": "joint_embedding"},
    }},
    "hparams": {"mini_cub": {"van": {"lr": 0.01}}},
}


@pytest.mark.slow
def test_snakemake_builds_a_stream_from_a_placed_archive(tmp_path):
    config = copy.deepcopy(MINI_CUB)
    stream = "results/streams/mini_cub/seed3.h5"
    configfile = write_config(tmp_path / "mini.yaml", config)
    # Nothing placed, downloads pointed at a closed local port: the error says what to put where.
    config["downloads"] = {"cub": {"CUB_200_2011.tgz": {"url": "http://127.0.0.1:9/CUB_200_2011.tgz"}}}
    write_config(configfile, config)
    failed = snakemake(tmp_path, stream, "--cores", "1", "--configfile", str(configfile))
    assert failed.returncode != 0
    assert "could not download cub" in failed.stderr and f"into {tmp_path / 'resources/raw/cub'}/" in failed.stderr
    assert not (tmp_path / stream).exists() and not (tmp_path / "resources/raw/cub/verified.json").exists()

    archive = write_cub_archive(tmp_path / "resources" / "raw" / "cub", n_classes=20)
    config["downloads"]["cub"]["CUB_200_2011.tgz"]["checksum"] = sha256_of(archive)
    write_config(configfile, config)
    result = snakemake(tmp_path, stream, "--cores", "1", "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr
    loaded = load_stream(tmp_path / stream)
    assert loaded.images_on_disk and loaded.n_outputs == 20 and loaded.class_attributes.shape == (20, 312)
    assert len(list((tmp_path / "results" / "images").glob("cub-*.h5"))) == 1


def test_benchmark_methods_and_seeds_keys():
    config = paper_config()
    config["methods"] = ["van", "agem", "gem"]  # `--config methods=[...]` still narrows every benchmark
    assert benchmark_methods(config, "split_cub") == ["van", "agem"]
    assert benchmark_methods(config, "split_cifar") == ["van", "agem", "gem"]
    assert "seeds" not in stream_spec(config, "split_cub") and "methods" not in stream_spec(config, "split_cub")
    config["benchmarks"]["split_cub"]["methods"] = ["van", "bogus"]
    with pytest.raises(Exception, match=r"benchmarks.split_cub.methods: 'bogus' is not a registered method"):
        check_config(config)
