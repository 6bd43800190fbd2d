"""Run identity (agem.runs.identity) and the run plan (agem.pipeline.run_plan): a run's file is
addressed by everything its numbers depend on; old-layout runs are adopted or refused."""

import copy
import json
from dataclasses import replace

import pytest

from agem.pipeline.config import ConfigError, check_config, job_settings
from agem.pipeline.run_plan import adopt_all, adopt_legacy_runs, check_recorded_identities, main_runs, stream_dependency
from agem.pipeline.sweeps import check_sweeps, sweep_points
from agem.runs.identity import IdentityError, RunIdentity, hparams_label, identity_mismatch
from agem.runs.runfile import write_run
from helpers.runs import make_record


def identity(**changes) -> RunIdentity:
    base = RunIdentity(dataset="split_digits", method="agem", seed=1234, hparams={"lr": 0.1, "ref_batch_size": 256},
                       network={"type": "mlp", "hidden": [256, 256]}, memory_per_task=50, training={"batch_size": 10},
                       device="auto", stream_spec_sha256="a" * 64, train_threads=1)
    return replace(base, **changes)


@pytest.mark.parametrize("change", [
    {"hparams": {"lr": 0.03, "ref_batch_size": 256}},
    {"hparams": {"lr": 0.1, "ref_batch_size": 256, "extra": 1}},
    {"network": {"type": "mlp", "hidden": [100, 100]}},
    {"memory_per_task": 25},
    {"training": {"batch_size": 20}},
    {"device": "cpu"},
    {"stream_spec_sha256": "b" * 64},
    {"train_threads": 2},
    {"method_module": "my_methods"},
    {"hparams_selection": {"cross_validate": {"config": {"lr": 0.1}}}},
])
def test_every_field_but_the_seed_changes_the_variant(change):
    assert identity(**change).variant != identity().variant
    assert identity(**change).run_path() != identity().run_path()


def test_same_settings_same_variant_and_the_seed_only_in_the_file_name():
    assert identity().variant == identity().variant
    other_seed = identity(seed=1235)
    assert other_seed.variant == identity().variant
    assert other_seed.digest != identity().digest  # a checkpoint's fingerprint tells seeds apart
    assert identity().run_path() == f"results/runs/split_digits/agem/{identity().variant}/seed1234.h5"


def test_the_variant_reads_as_its_hyperparameters_then_a_digest():
    assert hparams_label({"ref_batch_size": 256, "lr": 0.1}) == "lr0.1_ref_batch_size256"
    assert hparams_label({"flag": True, "name": "a b/c"}) == "flagtrue_nameabc"
    label, digest = identity().variant.rsplit("-", 1)
    assert label == "lr0.1_ref_batch_size256" and len(digest) == 10
    assert hparams_label({}) == "default"


def test_recorded_identity_round_trips_and_refuses_what_is_not_one():
    assert RunIdentity.from_json(identity().to_json()) == identity()
    good = json.loads(identity().to_json())
    for bad, message in [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({**good, "identity_version": 9}), "identity_version"),
        (json.dumps({**good, "surprise": 1}), "unknown identity field"),
        (json.dumps({k: v for k, v in good.items() if k != "network"}), "incomplete"),
        (json.dumps({**good, "seed": "1234"}), "seed"),
        (json.dumps({**good, "seed": True}), "seed"),
        (json.dumps({**good, "seed": 2**40}), "outside"),
        (json.dumps({**good, "dataset": "../etc"}), "not a plain name"),
        (json.dumps({**good, "stream_spec_sha256": "abc"}), "sha256"),
    ]:
        with pytest.raises(IdentityError, match=message):
            RunIdentity.from_json(bad)


def test_mismatch_names_the_field_and_both_values():
    text = identity_mismatch(identity(), identity(hparams={"lr": 0.03}))
    assert "hparams" in text and "0.1" in text and "0.03" in text
    assert identity_mismatch(identity(), identity()) is None


# ---- The plan: variants never share a file, identical runs always do ----------------------------


def narrowed(config: dict) -> dict:
    config = copy.deepcopy(config)
    config.update(datasets=["split_digits"], methods=["van", "agem"], seeds=[1234])
    return config


def test_a_variant_gets_its_own_files_and_leaves_the_others(config):
    base = {run.path for run in main_runs(narrowed(config))}
    variant_config = narrowed(config)
    variant_config["hparams"]["split_digits"]["agem"] = {"lr": 0.3, "ref_batch_size": 256}
    variant = {run.path for run in main_runs(variant_config)}
    shared = base & variant
    assert len(base) == len(variant) == 2
    assert [p.split("/")[3] for p in shared] == ["van"]  # VAN is the same run; A-GEM is not


def test_legacy_run_with_the_same_settings_is_adopted(config, tmp_path):
    (run,) = [r for r in main_runs(narrowed(config)) if r.identity.method == "van"]
    legacy = tmp_path / "results/runs/split_digits/van/seed1234.h5"
    record = make_record("split_digits", "van", 1234, (0.9, 0.5, 0.9))
    record.config = {**run.settings, "seed": 1234, "stream": "results/streams/split_digits/seed1234.h5", "threads": 1}
    write_run(legacy, record)
    lines = []
    # A dry run moves nothing.
    assert adopt_legacy_runs([run], dry_run=True, log=lines.append, results=str(tmp_path / "results")) == []
    assert legacy.exists() and "would adopt" in lines[0]
    adopted = adopt_legacy_runs([run], dry_run=False, log=lines.append, results=str(tmp_path / "results"))
    assert adopted == [run.identity.run_path(str(tmp_path / "results"))]
    assert not legacy.exists()


def test_legacy_run_with_other_settings_is_refused_with_the_command(config, tmp_path):
    (run,) = [r for r in main_runs(narrowed(config)) if r.identity.method == "agem"]
    legacy = tmp_path / "results/runs/split_digits/agem/seed1234.h5"
    record = make_record("split_digits", "agem", 1234, (0.9, 0.5, 0.9))
    record.config = {**run.settings, "hparams": {"lr": 0.3, "ref_batch_size": 256}, "seed": 1234}
    write_run(legacy, record)
    with pytest.raises(ConfigError, match=r"seed1234\.h5 \(hparams: asked .*0\.03.*0\.3.*scripts/adopt_runs\.py"):
        adopt_legacy_runs([run], dry_run=False, log=print, results=str(tmp_path / "results"))
    assert legacy.exists()
    moved, left = adopt_all(str(tmp_path / "results"), log=lambda line: None)
    assert left == [] and "lr0.3_ref_batch_size256-" in moved[0] and not legacy.exists()


def test_a_file_copied_over_another_run_is_refused(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    van, agem = sorted(main_runs(narrowed(config)), key=lambda r: r.identity.method, reverse=True)
    record = make_record("split_digits", "van", 1234, (0.9, 0.5, 0.9))
    record.config = {**van.settings, "seed": 1234}
    write_run(van.path, record)
    check_recorded_identities([van, agem])  # its own file: fine
    write_run(agem.path, record)  # VAN's run under A-GEM's path
    with pytest.raises(ConfigError, match=r"is not the run its path names \(method: asked 'agem', file has 'van'"):
        check_recorded_identities([van, agem])


# ---- Every request runs or is refused --------------------------------------------------------------


def test_a_method_no_selected_benchmark_runs_is_refused(config):
    config = copy.deepcopy(config)
    config.update(datasets=["permuted_mnist5k"], methods=["icarl"])  # permuted_mnist5k's methods leave iCaRL out
    with pytest.raises(ConfigError, match=r"methods: 'icarl' runs on no selected benchmark \(benchmarks\.permuted_mnist5k\.methods is \["):
        check_config(config, jobs_run_here=False)


def test_a_method_some_benchmarks_leave_out_warns_once_each(config):
    config = copy.deepcopy(config)
    config.update(datasets=["permuted_mnist5k", "split_digits"], methods=["van", "icarl"])
    config["hparams"]["permuted_mnist5k"]["icarl"] = {"lr": 0.1}
    warnings = []
    check_config(config, jobs_run_here=False, warn=warnings.append)
    assert [w for w in warnings if "icarl" in w] == [
        "methods: 'icarl' does not run on permuted_mnist5k (not in benchmarks.permuted_mnist5k.methods)",
        "hparams.permuted_mnist5k.icarl is ignored: icarl does not run on permuted_mnist5k",
    ]


# ---- Sweeps -------------------------------------------------------------------------------------------


def test_sweep_fans_out_points_times_seeds_and_shares_the_config_point(config):
    config = narrowed(config)
    config["sweeps"] = {"agem_lr": {"dataset": "split_digits", "method": "agem", "grid": {"lr": [0.01, 0.03, 0.1]}, "seeds": [1, 2]}}
    points = sweep_points(config, "agem_lr")
    assert [p.values for p in points] == [{"lr": 0.01}, {"lr": 0.03}, {"lr": 0.1}]
    assert all(len(p.runs) == 2 for p in points)
    assert len({run.path for p in points for run in p.runs}) == 6
    # lr 0.03 is split_digits' A-GEM value: with the main seed it is the main table's run.
    config["sweeps"]["agem_lr"]["seeds"] = [1234]
    main = {run.path for run in main_runs(config) if run.identity.method == "agem"}
    assert main == {points_run.path for points_run in sweep_points(config, "agem_lr")[1].runs}
    assert json.loads(json.dumps(job_settings(config, "split_digits", "agem")))["hparams"]["lr"] == 0.03


def test_sweep_with_an_invalid_point_is_refused_before_any_job(config):
    config = narrowed(config)
    config["sweeps"] = {"bad": {"dataset": "split_digits", "method": "agem", "grid": {"ref_batch_size": [0]}}}
    with pytest.raises(ConfigError, match=r"sweeps\.bad\.grid: the point \{'ref_batch_size': 0\} is not valid for agem"):
        check_sweeps(config)
    config["sweeps"] = {"bad": {"dataset": "nowhere", "method": "agem", "grid": {"lr": [0.1]}}}
    with pytest.raises(ConfigError, match=r"sweeps\.bad\.dataset: 'nowhere' is not defined"):
        check_sweeps(config)


def test_a_received_run_lists_no_missing_stream_and_every_other_run_does(tmp_path):
    run, stream = tmp_path / "seed1.h5", tmp_path / "stream.h5"
    assert stream_dependency(run, stream, forced=False, recorded_inputs=None) == [str(stream)]  # to train
    run.write_bytes(b"")
    assert stream_dependency(run, stream, forced=False, recorded_inputs=None) == []  # received, stream missing
    assert stream_dependency(run, stream, forced=True, recorded_inputs=None) == [str(stream)]
    assert stream_dependency(run, stream, forced=False, recorded_inputs=[str(stream)]) == [str(stream)]  # made here
    stream.write_bytes(b"")
    assert stream_dependency(run, stream, forced=False, recorded_inputs=None) == [str(stream)]
