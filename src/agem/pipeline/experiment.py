"""Result sets: each configuration writes its tables and figures to its own folder.

The runs (and streams, images, checkpoints) stay shared and content-addressed under ``results/``:
a run file is the same whichever configuration asks for it, so two configurations that share a
benchmark × method × seed share its run and never train it twice. What a configuration *makes of*
its runs — the tables, figures, their logs and its results bundle — goes to
``results/{experiment}/``, so a narrowed or failed run never overwrites another's.

The experiment's name is the config's ``experiment`` key if given; otherwise the name of the last
``--configfile`` (``config/paper.yaml`` → ``paper``), or ``default`` for the built-in
``config/config.yaml``; and if ``--config`` changes anything besides ``experiment`` and
``reuse_runs``, a short digest of those changes is appended (``default-3f9c21ab``), so that
``--config methods=[van,agem] seeds=[1234]`` can never replace the full run's main table.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from agem.pipeline.config import ConfigError, coerce_command_line_values, to_json
from agem.pipeline.paths import RESULTS

DEFAULT_EXPERIMENT = "default"
# The shared folders under results/: an experiment of one of these names would mix its tables with them.
SHARED_FOLDERS = ("runs", "streams", "images", "cv", "checkpoints", "logs", "ablation", "bundle", "imported")
# --config keys that describe how to run, not what to show: they leave the name unchanged.
NAME_NEUTRAL_KEYS = ("experiment", "reuse_runs")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def experiment_name(config: Mapping, configfiles: Sequence[str | Path] = (), overrides: Mapping | None = None) -> str:
    """The result set's name (module docstring): ``config["experiment"]`` if set, else derived
    from the command line's ``configfiles`` and ``--config`` ``overrides``. Raises ConfigError
    for a name that is not a plain folder name or is one of the shared folders."""
    name = config.get("experiment")
    if name is None:
        name = _from_configfiles(configfiles)
        changed = {key: value for key, value in dict(overrides or {}).items() if key not in NAME_NEUTRAL_KEYS}
        if changed:
            name += "-" + hashlib.sha256(to_json(coerce_command_line_values(copy.deepcopy(changed))).encode()).hexdigest()[:8]
    check_experiment_name(str(name))
    return str(name)


def _from_configfiles(configfiles: Sequence[str | Path]) -> str:
    if not configfiles:
        return DEFAULT_EXPERIMENT
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(configfiles[-1]).stem).lstrip("._-") or DEFAULT_EXPERIMENT
    # A config file named like a shared folder (ablation.yaml) must not put its tables among them.
    return f"{stem}_experiment" if stem in SHARED_FOLDERS else stem


def check_experiment_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"experiment: {name!r} is not a folder name; use letters, digits, '_', '.' and '-' "
                          "(e.g. --config experiment=narrowed)")
    if name in SHARED_FOLDERS:
        raise ConfigError(f"experiment: {name!r} is a shared folder of {RESULTS}/ ({', '.join(SHARED_FOLDERS)}); "
                          "choose another name")


def experiment_folder(name: str) -> str:
    """``results/{experiment}``: the result set's tables/, figures/, logs/ and bundle/."""
    return f"{RESULTS}/{name}"
