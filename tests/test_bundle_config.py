"""The config a bundle records is the one its runs were made with, rebuilt from the runs' own
recorded identities (agem.runs.bundle_config), not the config file on disk."""

import json
import shutil
import tarfile

import h5py
import pytest
import yaml

from agem.pipeline.config import benchmark_methods, benchmark_seeds, job_settings, stream_spec
from agem.runs.bundle import BundleError, export_runs
from agem.runs.bundle_config import RunConfigError, config_from_runs
from agem.runs.identity import RunIdentity
from agem.training.cv import grid_points
from helpers.runs import IDENTITY_BENCHMARK, write_identity_run
from helpers.scripts import load_script

TRAINING = {"batch_size": 10, "epochs": 1}  # what write_identity_run records


def recorded_identity(path):
    with h5py.File(path, "r") as f:
        return RunIdentity.from_json(f.attrs["identity"])


def manifest_config(bundle):
    with tarfile.open(bundle, "r:gz") as tar:
        return json.load(tar.extractfile("manifest.json"))["config"]


def test_export_after_a_config_narrowing_records_the_runs_config(tmp_path, monkeypatch):
    """config/config.yaml asks 2 datasets x 2 methods x 2 seeds; the runs came from
    --config datasets=[mnist] methods=[van] seeds=[0] and another learning rate."""
    root = tmp_path / "project"
    (root / "config").mkdir(parents=True)
    (root / "config" / "config.yaml").write_text(yaml.safe_dump({
        "datasets": ["mnist", "cifar"], "methods": ["van", "agem"], "seeds": [0, 1],
        "hparams": {"mnist": {"van": {"lr": 0.1}, "agem": {"lr": 0.1}}}}))
    write_identity_run(root, "mnist", "van", 0, hparams={"lr": 0.05})
    monkeypatch.chdir(root)
    assert load_script("bundle").main(["export", "--out", "b.tar.gz", "--experiment", "narrowed"]) == 0
    assert manifest_config(root / "b.tar.gz") == {
        "experiment": "narrowed", "datasets": ["mnist"], "methods": ["van"], "seeds": [0], "device": "cpu",
        "train_threads": 1, "training": TRAINING, "hparam_selection": "paper",
        "benchmarks": {"mnist": {**IDENTITY_BENCHMARK, "methods": ["van"], "seeds": [0]}}, "hparams": {"mnist": {"van": {"lr": 0.05}}},
    }


def test_the_reconstructed_config_asks_for_exactly_the_recorded_runs(tmp_path):
    """The workflow's own job settings, made from the reconstructed config, give back every run's
    identity (so the rebuild finds each run where it is), and each benchmark's methods and seeds."""
    root = tmp_path / "project"
    cifar = {**IDENTITY_BENCHMARK, "layout": "split", "classes_per_task": 2, "n_tasks": 5, "network": {"type": "mlp", "hidden": [16]}}
    paths = [write_identity_run(root, "mnist", "van", seed, hparams={"lr": 0.03}) for seed in (0, 1)]
    paths += [write_identity_run(root, "mnist", "agem", seed, hparams={"lr": 0.1, "ref_batch_size": 5}) for seed in (0, 1)]
    paths.append(write_identity_run(root, "cifar", "van", 0, hparams={"lr": 0.3}, benchmark=cifar))
    config = config_from_runs(paths, "mine", root)
    for path in paths:
        identity = recorded_identity(path)
        assert RunIdentity.from_settings(job_settings(config, identity.dataset, identity.method), identity.seed) == identity
    assert (config["datasets"], config["methods"], config["seeds"]) == (["cifar", "mnist"], ["van", "agem"], [0, 1])
    assert (benchmark_methods(config, "cifar"), benchmark_seeds(config, "cifar")) == (["van"], [0])
    assert (benchmark_methods(config, "mnist"), benchmark_seeds(config, "mnist")) == (["van", "agem"], [0, 1])
    assert stream_spec(config, "cifar") == {k: v for k, v in cifar.items() if k not in ("network", "memory_per_task")}


def test_lists_follow_the_given_order_then_the_papers(tmp_path):
    """The runs do not record the order of the config's lists, which orders the tables' rows."""
    root = tmp_path / "project"
    paths = [write_identity_run(root, dataset, method, 0) for dataset in ("a", "b") for method in ("er", "agem", "van")]
    config = config_from_runs(paths, "x", root)
    assert (config["datasets"], config["methods"]) == (["a", "b"], ["van", "agem", "er"])
    config = config_from_runs(paths, "x", root, order=["b", "a", "er", "agem"])
    assert (config["datasets"], config["methods"]) == (["b", "a"], ["er", "agem", "van"])
    assert config["benchmarks"]["a"]["methods"] == ["er", "agem", "van"]


def test_cross_validated_runs_give_back_their_grid(tmp_path):
    root = tmp_path / "project"
    original = {"hparams": {"mnist": {"van": {"lr": 0.1}}}, "cv_grid": {"lr": [0.3, 0.03]}}
    selection = {"cross_validate": grid_points(original, "mnist", "van"), "cv_seeds": [7, 8]}
    path = write_identity_run(root, "mnist", "van", 0, hparams={"lr": 0.1}, hparams_selection=selection)
    config = config_from_runs([path], "cv", root)
    assert config["hparam_selection"] == "cross_validate" and config["cv_seeds"] == [7, 8]
    assert sorted(config["cv_grid"]["lr"]["van"]) == [0.03, 0.3]
    assert RunIdentity.from_settings(job_settings(config, "mnist", "van"), 0) == recorded_identity(path)


def test_two_variants_of_one_dataset_and_method_are_refused(tmp_path):
    root = tmp_path / "project"
    first = write_identity_run(root, "mnist", "van", 0, hparams={"lr": 0.1})
    second = write_identity_run(root, "mnist", "van", 1, hparams={"lr": 0.03})
    with pytest.raises(BundleError, match=rf"cannot export: {second.relative_to(root)} and {first.relative_to(root)} are two "
                                          r"variants of mnist x van .*export each result set separately with --runs"):
        export_runs(tmp_path / "b.tar.gz", [first, second], "x", root)
    assert not (tmp_path / "b.tar.gz").exists()
    export_runs(tmp_path / "b.tar.gz", [first], "x", root)  # each set on its own is fine
    other_training = write_identity_run(root, "cifar", "van", 0, training={"batch_size": 20, "epochs": 1})
    with pytest.raises(RunConfigError, match=r"were made with different training .*--runs"):
        config_from_runs([first, other_training], "x", root)


def test_a_run_made_before_identities_reads_its_benchmark_from_its_stream(tmp_path):
    root = tmp_path / "project"
    old = write_identity_run(root, "mnist", "van", 0, record_identity=False, record_benchmark=False)
    assert old == root / "results" / "runs" / "mnist" / "van" / "seed0.h5"
    with pytest.raises(RunConfigError, match=r"results/runs/mnist/van/seed0\.h5: cannot reconstruct benchmarks\.mnist: it predates .*"
                                             r"its stream file results/streams/mnist/seed0\.h5 is not here"):
        config_from_runs([old], "x", root)
    stream = root / "results" / "streams" / "mnist" / "seed0.h5"
    stream.parent.mkdir(parents=True)
    with h5py.File(stream, "w") as f:  # the stream's spec, as build_stream records it
        f.attrs["params"] = json.dumps({k: v for k, v in IDENTITY_BENCHMARK.items() if k not in ("network", "memory_per_task")})
    config = config_from_runs([old], "x", root)
    assert config["benchmarks"] == {"mnist": {**IDENTITY_BENCHMARK, "methods": ["van"], "seeds": [0]}}
    assert config["hparams"] == {"mnist": {"van": {"lr": 0.1}}}


def test_a_run_recording_another_benchmark_than_it_trained_on_is_refused(tmp_path):
    root = tmp_path / "project"
    path = write_identity_run(root, "mnist", "van", 0)
    with h5py.File(path, "a") as f:
        settings = json.loads(f.attrs["config"])
        settings["benchmark"]["n_tasks"] = 3
        f.attrs["config"] = json.dumps(settings)
    with pytest.raises(RunConfigError, match=r"seed0\.h5: the benchmarks\.mnist entry it records is not the stream it trained on"):
        config_from_runs([path], "x", root)


def test_ablation_runs_travel_but_do_not_shape_the_config(tmp_path):
    root = tmp_path / "project"
    main = write_identity_run(root, "mnist", "van", 0)
    ablation = root / "results" / "ablation" / "runs" / "mnist" / "big" / "van" / "epochs3" / "seed0.h5"
    ablation.parent.mkdir(parents=True)
    shutil.copy(write_identity_run(tmp_path / "other", "mnist", "van", 0, training={"epochs": 3}), ablation)
    assert config_from_runs([main, ablation], "x", root) == config_from_runs([main], "x", root)
    with pytest.raises(RunConfigError, match=r"no run files under results/runs/"):
        config_from_runs([ablation], "x", root)
