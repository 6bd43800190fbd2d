"""config/paper.yaml's hyper-parameters against the paper's App. G, typed in here by hand from
the paper (and, where App. G gives nothing, from the code behind its tables: GEM's own
run_experiments.sh, the official A-GEM code's S-GEM and g_ref batch), never read from the file
under test. Every entry of the file must be in the table and every entry of the table in the file."""

from __future__ import annotations

from pathlib import Path

import yaml

PAPER_CONFIG = Path(__file__).resolve().parents[1] / "config" / "paper.yaml"

MNIST_FISHER, IMAGE_FISHER = 10, 50  # EWC/RWALK's Fisher update period in the official code
XI = 0.001  # PI's and RWALK's damping (the code's PARAM_XI_STEP)

# benchmark -> method -> {hyper-parameter: value}
APP_G = {
    "permuted_mnist": {
        "van": {"lr": 0.03},
        "ewc": {"lr": 0.03, "lam": 10, "fisher_update_every": MNIST_FISHER},
        "pi": {"lr": 0.1, "lam": 0.1, "xi": XI},
        "mas": {"lr": 0.1, "lam": 0.1},
        "rwalk": {"lr": 0.1, "lam": 1, "fisher_update_every": MNIST_FISHER},
        "prognn": {"lr": 0.1},
        "agem": {"lr": 0.1, "ref_batch_size": 256},
        "gem": {"lr": 0.1, "margin": 0.5, "eps": 0.001},  # GEM's run_experiments.sh
        "sgem": {"lr": 0.1, "margin": 0, "eps": 0},  # official S-GEM: A-GEM's closed form, A-GEM's lr
        "multitask": {"lr": 0.03},
    },
    "split_cifar": {
        "van": {"lr": 0.01},
        "ewc": {"lr": 0.03, "lam": 10, "fisher_update_every": IMAGE_FISHER},
        "pi": {"lr": 0.01, "lam": 0.1, "xi": XI},
        "mas": {"lr": 0.03, "lam": 0.1},
        "rwalk": {"lr": 0.03, "lam": 1, "fisher_update_every": IMAGE_FISHER},
        "prognn": {"lr": 0.03},
        "agem": {"lr": 0.03, "ref_batch_size": 256},  # 1300 in the paper's text, 256 in its code
        "gem": {"lr": 0.1, "margin": 0.5, "eps": 0.001},  # GEM's run_experiments.sh: 0.1 on CIFAR-100
        "sgem": {"lr": 0.03, "margin": 0, "eps": 0},
        "icarl": {"lr": 0.03},  # not in App. G
        "multitask": {"lr": 0.03},
    },
    "split_cub": {
        "van": {"lr": 0.03},
        "ewc": {"lr": 0.03, "lam": 1, "fisher_update_every": IMAGE_FISHER},
        "pi": {"lr": 0.03, "lam": 0.1, "xi": XI},
        "mas": {"lr": 0.03, "lam": 0.1},
        "rwalk": {"lr": 0.03, "lam": 1, "fisher_update_every": IMAGE_FISHER},
        "agem": {"lr": 0.03, "ref_batch_size": 128},
        "multitask": {"lr": 0.03},
    },
    "split_awa": {
        "van": {"lr": 0.001},
        "ewc": {"lr": 0.003, "lam": 100, "fisher_update_every": IMAGE_FISHER},
        "pi": {"lr": 0.003, "lam": 1, "xi": XI},
        "mas": {"lr": 0.003, "lam": 1},
        "rwalk": {"lr": 0.003, "lam": 10, "fisher_update_every": IMAGE_FISHER},
        "agem": {"lr": 0.01, "ref_batch_size": 128},
        "multitask": {"lr": 0.03},
    },
    "split_cub_je": {
        "van": {"lr": 0.03},
        "ewc": {"lr": 0.03, "lam": 10, "fisher_update_every": IMAGE_FISHER},
        "pi": {"lr": 0.03, "lam": 0.1, "xi": XI},
        "mas": {"lr": 0.03, "lam": 0.1},
        "rwalk": {"lr": 0.03, "lam": 1, "fisher_update_every": IMAGE_FISHER},
        "agem": {"lr": 0.03, "ref_batch_size": 128},
        "multitask": {"lr": 0.03},  # not in App. G
    },
    "split_awa_je": {
        "van": {"lr": 0.003},
        "ewc": {"lr": 0.003, "lam": 100, "fisher_update_every": IMAGE_FISHER},
        "pi": {"lr": 0.003, "lam": 10, "xi": XI},
        "mas": {"lr": 0.001, "lam": 0.1},
        "rwalk": {"lr": 0.003, "lam": 10, "fisher_update_every": IMAGE_FISHER},
        "agem": {"lr": 0.003, "ref_batch_size": 128},
        "multitask": {"lr": 0.03},  # not in App. G
    },
}


def test_paper_config_hparams_are_app_g_entry_by_entry():
    hparams = yaml.safe_load(PAPER_CONFIG.read_text())["hparams"]
    assert sorted(hparams) == sorted(APP_G)
    for benchmark, methods in APP_G.items():
        assert sorted(hparams[benchmark]) == sorted(methods), benchmark
        for method, expected in methods.items():
            assert hparams[benchmark][method] == expected, f"{benchmark}.{method}"


def test_paper_config_runs_the_methods_it_has_hparams_for():
    config = yaml.safe_load(PAPER_CONFIG.read_text())
    for benchmark, spec in config["benchmarks"].items():
        methods = spec.get("methods", config["methods"])
        assert sorted(methods) == sorted(APP_G[benchmark]), benchmark
