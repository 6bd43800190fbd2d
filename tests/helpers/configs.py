"""The repository's default config, as the config tests start from it."""

from __future__ import annotations

import yaml

from helpers.workflow import REPO


def default_config_with_every_benchmark() -> dict:
    """config/config.yaml with every benchmark it defines selected (the default selects only
    permuted_mnist5k), so that a bad value in any of them is checked."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"] = list(config["benchmarks"])
    return config


def validated_default_config() -> dict:
    """:func:`default_config_with_every_benchmark` validated against the schema, which fills in
    its defaults (as Snakemake's ``validate`` does before ``check_config``)."""
    from snakemake.utils import validate

    config = default_config_with_every_benchmark()
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config
