"""The configuration: the schema (types, unknown keys, defaults) and check_config's
cross-checks, each error naming the offending key."""

from pathlib import Path

import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from agem.pipeline.config import ConfigError, check_config
from helpers.configs import default_config_with_every_benchmark

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def load_config() -> dict:
    return default_config_with_every_benchmark()


# `config` (conftest.py): the default config with every benchmark selected, schema defaults filled in.


def test_default_config_passes_and_gets_defaults(config):
    check_config(config)
    assert config["training"]["eval_batch_size"] == 2048  # not in config.yaml: a schema default
    assert config["training"]["progress_seconds"] == 30
    raw = load_config()
    assert "eval_batch_size" not in raw["training"]


DELETE = object()


def _edit(path: str, value):
    """An edit of the config at a dotted ``path``: set it to ``value``, or delete it."""
    def apply(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return apply


ERRORS = {
    "dataset_not_in_benchmarks": (_edit("datasets", ["permuted_digits", "cifar"]), r"datasets: 'cifar' is not defined under 'benchmarks'"),
    "unregistered_method": (_edit("methods", ["van", "no_such_method"]), r"methods: 'no_such_method' is not a registered method"),
    "missing_hparams": (_edit("hparams.split_digits.gem", DELETE), r"hparams\.split_digits\.gem is missing"),
    "missing_hparams_dataset": (_edit("hparams.permuted_digits", DELETE), r"hparams\.permuted_digits\.van is missing"),
    "unknown_hparam": (_edit("hparams.permuted_digits.agem.lrr", 0.1), r"hparams\.permuted_digits\.agem: .*no hyper-parameter\(s\) \['lrr'\]"),
    "split_without_classes": (_edit("benchmarks.split_digits.classes_per_task", DELETE),
        r"benchmarks\.split_digits\.classes_per_task is required for layout 'split'"),
    "cv_tasks_equal": (_edit("benchmarks.permuted_digits.n_cv_tasks", 20),
        r"benchmarks\.permuted_digits\.n_cv_tasks \(20\) must be smaller than n_tasks \(20\)"),
    "cv_tasks_more": (_edit("benchmarks.split_digits.n_cv_tasks", 7), r"benchmarks\.split_digits\.n_cv_tasks \(7\) must be smaller"),
    "unknown_source": (_edit("benchmarks.split_digits.source", "mnist_from_mars"), r"benchmarks\.split_digits\.source: unknown source 'mnist_from_mars'"),
    "unknown_network": (_edit("benchmarks.permuted_digits.network", {"type": "transformer"}),
        r"benchmarks\.permuted_digits\.network\.type: unknown network 'transformer'"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_inconsistent_config_names_the_key(config, case):
    edit, message = ERRORS[case]
    edit(config)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


SCHEMA_ERRORS = {
    "unknown_top_level_key": (_edit("learning_rate", 0.1), r"'learning_rate' was unexpected"),
    "wrong_type_n_tasks": (_edit("benchmarks.permuted_digits.n_tasks", "twenty"), r"'twenty' is not of type 'integer'[\s\S]*n_tasks"),
    "wrong_type_batch_size": (_edit("training.batch_size", 2.5), r"2\.5 is not of type 'integer'[\s\S]*batch_size"),
    "unknown_training_key": (_edit("training.momentum", 0.9), r"'momentum' was unexpected"),
    "unknown_layout": (_edit("benchmarks.split_digits.layout", "rotated"), r"'rotated' is not one of \['permuted', 'split'\][\s\S]*layout"),
    "missing_required": (_edit("seeds", DELETE), r"'seeds' is a required property"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_ERRORS))
def test_schema_rejects_bad_config(case):
    edit, message = SCHEMA_ERRORS[case]
    config = load_config()
    edit(config)
    with pytest.raises(WorkflowError, match=message):
        validate(config, SCHEMA)



@pytest.mark.parametrize("key", ["seeds", "cv_seeds", "benchmarks.split_digits.seeds", "ablation.seeds"])
def test_a_seed_beyond_2_to_the_32_is_one_config_line_naming_the_range(key):
    """10**20 once reached Snakemake as a wildcard value and failed as a PeriodicWildcardError."""
    from agem.pipeline.config import schema_error

    config = load_config()
    config.setdefault("ablation", {})
    _edit(key, [1, 10**20])(config)
    assert schema_error(config, SCHEMA) is not None
    assert schema_error(config, SCHEMA).startswith(f"{key}.1: 100000000000000000000 is greater than the maximum of 4294967295. ")
    assert schema_error(config, SCHEMA).endswith("Seeds are integers 0..4294967295 (2**32 - 1, NumPy's range).")
    _edit(key, [0, 2**32 - 1])(config)
    assert schema_error(config, SCHEMA) is None
