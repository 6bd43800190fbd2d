"""Checking config files without running Snakemake (scripts/check_config.py).

Snakemake reads ``--configfile`` before the Snakefile, and for a YAML syntax error prints only
"Config file is not valid JSON or YAML" (the file and line appear only in the traceback of
``snakemake --verbose``); the Snakefile cannot improve that message. This check names the file,
line and column, then applies the workflow's own checks (schema, check_config) to the merged
config, as ``snakemake --configfile FILE…`` would see it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from agem.pipeline.config import ConfigError, check_config, coerce_command_line_values, print_warning

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def read_config_file(path: str | Path) -> dict:
    """A config file's mapping; a syntax error is a ConfigError naming file:line:column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = " ".join(part for part in (getattr(exc, "context", None), getattr(exc, "problem", None)) if part) or str(exc)
        raise ConfigError(f"{where}: YAML syntax error: {problem}; fix the file (a missing bracket or quote, a tab, bad indentation)") from exc
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys (datasets:, methods:, …), not a {type(config).__name__}")
    return config


def check_config_files(paths: list[str | Path], jobs_run_here: bool = True, warn: Callable[[str], None] = print_warning) -> dict:
    """The config Snakemake would build from ``--configfile paths`` (merged over the default
    config), validated against the schema and checked; raises ConfigError."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import update_config, validate

    config = read_config_file(DEFAULT_CONFIG)
    for path in paths:
        update_config(config, read_config_file(path))
    coerce_command_line_values(config)
    try:
        validate(config, str(SCHEMA))
    except WorkflowError as exc:
        raise ConfigError(f"{', '.join(map(str, paths)) or DEFAULT_CONFIG}: {_first_schema_error(exc)}") from exc
    check_config(config, jobs_run_here=jobs_run_here, warn=warn)
    from agem.pipeline.ablation import check_ablation  # the Snakefile checks it in ablation.smk

    check_ablation(config)
    return config


def _first_schema_error(exc: Exception) -> str:
    """'training.batch_size: 0 is less than the minimum of 1' from Snakemake's long message."""
    import re

    text = str(exc)
    problem = re.search(r"ValidationError: (.*)", text)
    instance = re.search(r"On instance((?:\[[^\]]*\])*)", text)
    key = ".".join(re.findall(r"\[['\"]?([^'\"\]]*)['\"]?\]", instance[1])) if instance else ""
    message = problem[1] if problem else text.strip().splitlines()[0]
    return f"{key}: {message}" if key else message
