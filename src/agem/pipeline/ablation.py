"""The epochs ablation behind the paper's Figs. 7–8: A_T and F_T after 1, 3, 10, 30 epochs per
task for VAN and EWC, with a small and a big network.

Driven by the config section ``ablation`` (schema: workflow/schemas/config.schema.yaml, defaults
there; documented in config/README.md)::

    ablation:
      datasets: [permuted_digits]        # default []: the ablation is off
      methods: [van, ewc]
      epochs: [1, 3, 10, 30]
      seeds: [1234]                      # default: the config's seeds
      networks:                          # network name -> options per network type
        small: {mlp: {hidden: [256, 256]}, reduced_resnet18: {nf: 20}}
        big:   {mlp: {hidden: [1024, 1024]}, reduced_resnet18: {nf: 64}}

A network's options for the benchmark's network type are merged over the benchmark's own
``network``; a type it does not name keeps the benchmark's network. Every run is an ordinary
training job whose settings differ only in ``network`` and ``training.epochs``, written to
``results/ablation/runs/{dataset}/{network}/{method}/epochs{epochs}/seed{seed}.h5``, apart from
the main runs in ``results/runs/``.
"""

from __future__ import annotations

from agem.methods import METHODS
from agem.networks.models import check_network_spec
from agem.pipeline.config import ConfigError, job_settings
from agem.pipeline.paths import RESULTS

RUN_PATTERN = "ablation/runs/{dataset}/{network}/{method}/epochs{epochs}/seed{seed}.h5"


def ablation_section(config: dict) -> dict:
    """The validated ``ablation`` section with its seeds resolved (default: the config's)."""
    section = dict(config.get("ablation") or {})
    section.setdefault("datasets", [])
    section["seeds"] = section.get("seeds") or config["seeds"]
    return section


def check_ablation(config: dict) -> None:
    """What the schema cannot check: datasets defined, methods registered, hyper-parameters given.
    Checked only when the ablation is on (datasets not empty)."""
    section = ablation_section(config)
    for dataset in section["datasets"]:
        if dataset not in config["benchmarks"]:
            raise ConfigError(f"ablation.datasets: {dataset!r} is not defined under 'benchmarks' (defined: {sorted(config['benchmarks'])})")
        for method in section["methods"]:
            if method not in METHODS:
                raise ConfigError(f"ablation.methods: {method!r} is not a registered method (registered: {sorted(METHODS)})")
            if method not in config["hparams"].get(dataset, {}):
                raise ConfigError(f"ablation: hparams.{dataset}.{method} is missing; the ablation trains {method} on {dataset}")
        for network in section["networks"]:
            try:
                check_network_spec(ablation_network(config, dataset, network))
            except ValueError as exc:
                raise ConfigError(f"ablation.networks.{network} on {dataset}: {exc}") from exc


def ablation_network(config: dict, dataset: str, network: str) -> dict:
    """The benchmark's network with the ablation network's options for its type merged over it."""
    base = config["benchmarks"][dataset]["network"]
    options = ablation_section(config)["networks"][network].get(base["type"], {})
    return {**base, **options}


def ablation_settings(config: dict, dataset: str, method: str, network: str, epochs: int) -> dict:
    """The job settings of one ablation run: the main run's, with its network and epochs, and
    the network's name (read back by the figures)."""
    settings = job_settings(config, dataset, method)
    return {
        **settings,
        "network": ablation_network(config, dataset, network),
        "training": {**settings["training"], "epochs": int(epochs)},
        "ablation_network": network,
    }


def ablation_runs(config: dict) -> list[str]:
    """Every run file of the ablation (none when it is off)."""
    section = ablation_section(config)
    return [
        f"{RESULTS}/" + RUN_PATTERN.format(dataset=dataset, network=network, method=method, epochs=epochs, seed=seed)
        for dataset in section["datasets"]
        for network in section["networks"]
        for method in section["methods"]
        for epochs in section["epochs"]
        for seed in section["seeds"]
    ]
