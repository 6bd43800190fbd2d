"""Every value the config check can know is checked before any job: hyper-parameter types and
ranges, network options, the device. Each case asserts the message names the key and the rule."""

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from agem.methods import METHODS, Hyperparameters, make_hyperparameters
from agem.methods.hparam_checks import field_range, hparam
from agem.pipeline.config import ConfigError, check_config

ROOT = Path(__file__).resolve().parents[1]


BAD_HPARAMS = {  # (benchmark, method, name, value) -> message
    "lr_string": (("permuted_digits", "agem", "lr", "abc"), r"hparams\.permuted_digits\.agem: lr must be a finite number > 0, got 'abc'"),
    "lr_zero": (("permuted_digits", "van", "lr", 0), r"hparams\.permuted_digits\.van: lr must be a finite number > 0, got 0"),
    "lr_negative": (("split_digits", "ewc", "lr", -0.1), r"lr must be a finite number > 0, got -0\.1"),
    "lr_nan": (("split_digits", "gem", "lr", math.nan), r"lr must be a finite number > 0, got nan"),
    "lr_inf": (("split_digits", "gem", "lr", math.inf), r"lr must be a finite number > 0, got inf"),
    "lr_bool": (("split_digits", "van", "lr", True), r"lr must be a finite number > 0, got True"),
    "ref_batch_zero": (("permuted_digits", "agem", "ref_batch_size", 0), r"ref_batch_size must be an integer >= 1, got 0"),
    "ref_batch_negative": (("permuted_digits", "agem", "ref_batch_size", -1), r"ref_batch_size must be an integer >= 1, got -1"),
    "ref_sampling_unknown": (("permuted_mnist5k", "agem", "ref_sampling", "balanced"),
                             r"hparams\.permuted_mnist5k\.agem: ref_sampling must be one of \['uniform', 'task_balanced'\], got 'balanced'"),
    "gem_batched_string": (("permuted_mnist5k", "gem", "batched", "yes"), r"batched must be true or false, got 'yes'"),
    "ref_batch_float": (("permuted_digits", "agem", "ref_batch_size", 2.5), r"ref_batch_size must be an integer >= 1, got 2\.5"),
    "replay_batch_zero": (("split_digits", "icarl", "replay_batch_size", 0), r"replay_batch_size must be an integer >= 1, got 0"),
    "fisher_update_zero": (("split_digits", "ewc", "fisher_update_every", 0), r"fisher_update_every must be an integer >= 1, got 0"),
    "fisher_decay_zero": (("split_digits", "rwalk", "fisher_decay", 0), r"fisher_decay must be a finite number > 0 and <= 1, got 0"),
    "fisher_decay_above_one": (("split_digits", "ewc", "fisher_decay", 1.5), r"fisher_decay must be a finite number > 0 and <= 1, got 1\.5"),
    "margin_negative": (("split_digits", "gem", "margin", -0.5), r"margin must be a finite number >= 0, got -0\.5"),
    "eps_negative": (("split_digits", "sgem", "eps", -1e-3), r"eps must be a finite number >= 0, got -0\.001"),
    "lam_negative": (("split_digits", "mas", "lam", -1), r"lam must be a finite number >= 0, got -1"),
    "xi_zero": (("split_digits", "pi", "xi", 0), r"xi must be a finite number > 0, got 0"),
}


@pytest.mark.parametrize("case", sorted(BAD_HPARAMS))
def test_bad_hyperparameter_value_is_refused_before_any_job(config, case):
    (dataset, method, name, value), message = BAD_HPARAMS[case]
    config["methods"] = list(dict.fromkeys([*config["methods"], method]))  # iCaRL is not a default method
    config["hparams"][dataset][method][name] = value
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_valid_boundaries_pass(config):
    """The ends of each range that are valid stay valid (a range one step too strict fails here)."""
    config["hparams"]["split_digits"]["ewc"].update(fisher_decay=1, lam=0, fisher_update_every=1)
    config["hparams"]["split_digits"]["gem"].update(margin=0, eps=0)
    config["hparams"]["permuted_digits"]["agem"].update(ref_batch_size=1, lr=1)  # an int lr is a number
    config["hparams"]["split_digits"]["icarl"].update(replay_batch_size=1)
    check_config(config)


def test_bad_cv_grid_value_is_refused(config):
    config["hparam_selection"] = "cross_validate"
    config["datasets"] = ["permuted_digits"]
    config["cv_grid"] = {"lr": [0.1, -0.1]}
    with pytest.raises(ConfigError, match=r"cv_grid: a grid point for van on permuted_digits is invalid: lr must be a finite number > 0, got -0\.1"):
        check_config(config)


def _numeric_fields(cls):
    hints = typing.get_type_hints(cls)
    return [f.name for f in dataclasses.fields(cls) if hints[f.name] in (int, float)]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_numeric_hyperparameter_declares_its_range(method):
    """A new method's number without a declared range fails here, so none goes unchecked."""
    cls = METHODS[method].Hyperparameters
    unranged = [name for name in _numeric_fields(cls) if field_range(cls, name) is None]
    assert not unranged, f"{method}: declare a range with hparam(default, gt=/ge=/lt=/le=) for {unranged}"


def test_a_new_method_gets_type_and_range_checks_for_free():
    @dataclass
    class NewHyperparameters(Hyperparameters):
        lr: float = 0.5  # overrides only the default: keeps lr's declared range
        steps: int = hparam(3, ge=1)
        flag: bool = False

    with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got 0"):
        NewHyperparameters(lr=0)
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1, got 'x'"):
        NewHyperparameters(steps="x")
    with pytest.raises(ValueError, match=r"flag must be true or false, got 'yes'"):
        NewHyperparameters(flag="yes")


def test_every_method_default_is_valid():
    for method in METHODS:
        make_hyperparameters(method, {})


BAD_NETWORKS = {
    "misspelt_option": ({"type": "mlp", "hiddn": [32]},
                        r"benchmarks\.split_digits\.network\.hiddn: network 'mlp' has no option 'hiddn'; did you mean 'hidden'\?"),
    "hidden_string": ({"type": "mlp", "hidden": "abc"}, r"network\.hidden: must be a list of integers >= 1, e\.g\. \[256, 256\], got 'abc'"),
    "init_typo": ({"type": "mlp", "init": "oficial"}, r"network\.init: must be one of \['official', 'torch'\], got 'oficial'"),
    "hidden_zero": ({"type": "mlp", "hidden": [256, 0]}, r"network\.hidden: must be a list of integers >= 1"),
    "nf_zero": ({"type": "reduced_resnet18", "nf": 0}, r"network\.nf: must be an integer >= 1, got 0"),
    "unknown_head": ({"type": "resnet18", "head": "je"}, r"network\.head: must be one of \['linear', 'joint_embedding'\], got 'je'"),
    "unknown_pretrained": ({"type": "resnet18", "pretrained": "imagenet21k"}, r"network\.pretrained: must be one of \['imagenet', 'none'\]"),
    "unknown_type": ({"type": "transformer"}, r"network\.type: unknown network 'transformer'"),
}


@pytest.mark.parametrize("case", sorted(BAD_NETWORKS))
def test_bad_network_option_is_refused_before_any_job(config, case):
    network, message = BAD_NETWORKS[case]
    config["benchmarks"]["split_digits"]["network"] = network
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_bad_ablation_network_is_refused(config):
    from agem.pipeline.ablation import check_ablation

    config["ablation"] = {"datasets": ["split_digits"], "methods": ["van"], "networks": {"big": {"mlp": {"hidden": "wide"}}}}
    with pytest.raises(ConfigError, match=r"ablation\.networks\.big on split_digits: hidden: must be a list of integers"):
        check_ablation(config)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_is_refused_where_jobs_run_here(config, monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config["device"] = device
    with pytest.raises(ConfigError, match=rf"device: device '{device}' was requested but CUDA is not available here; use device: auto or cpu"):
        check_config(config)
    check_config(config, jobs_run_here=False)  # a cluster's nodes may have the GPU the submit host lacks


def test_cuda_index_beyond_the_gpus_is_refused(config, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    config["device"] = "cuda:2"
    with pytest.raises(ConfigError, match=r"device 'cuda:2': this machine has 2 GPU\(s\), cuda:0 \.\. cuda:1"):
        check_config(config)
    config["device"] = "cuda:1"
    check_config(config)
