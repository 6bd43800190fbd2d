"""Checking config files without running Snakemake (scripts/check_config.py).

Snakemake reads ``--configfile`` before the Snakefile, and for a YAML syntax error prints only
"Config file is not valid JSON or YAML" (the file and line appear only in the traceback of
``snakemake --verbose``); the Snakefile cannot improve that message. This check names the file,
line and column, then applies the workflow's own checks (schema, check_config) to the merged
config, as ``snakemake --configfile FILE…`` would see it.

YAML aliases (``*name``) are limited: a "billion laughs" file of nested aliases loads as a few
shared objects, then every walk over the config (the workflow's own, the schema's) visits each
of its billions of leaves and never ends; an alias that contains itself recurses without end.
A config needs a few aliases (config/task_length.yaml merges one benchmark into two others),
so more than :data:`MAX_ALIASES` of them, or aliases repeating more than
:data:`MAX_ALIAS_EXPANSION` values in all, are refused with the file and the alias's line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from agem.pipeline.config import ConfigError, check_config, coerce_command_line_values, print_warning

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
# The project's own configs use at most a handful of aliases repeating a few dozen values.
MAX_ALIASES = 100
MAX_ALIAS_EXPANSION = 10_000


class _AliasLimitExceeded(yaml.YAMLError):
    def __init__(self, problem: str, mark) -> None:
        super().__init__(problem)
        self.problem, self.mark = problem, mark


class _AliasLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader counting what each alias repeats, stopping at the limits before any
    value is built, and at an alias used inside its own anchor."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.aliases_seen = 0
        self.values_repeated = 0
        self._open_anchors: list[str] = []  # anchored collections being composed now
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._count_alias(event)
            return super().compose_node(parent, index)
        if event.anchor is None:
            return super().compose_node(parent, index)
        self._open_anchors.append(event.anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.pop()

    def _count_alias(self, event) -> None:
        if event.anchor in self._open_anchors:
            raise _AliasLimitExceeded(f"alias *{event.anchor} is used inside its own anchor &{event.anchor} (an endless value)", event.start_mark)
        node = self.anchors.get(event.anchor)
        if node is None:
            return  # PyYAML reports the undefined alias
        self.aliases_seen += 1
        self.values_repeated += self._expanded_size(node)
        if self.aliases_seen > MAX_ALIASES:
            raise _AliasLimitExceeded(f"more than {MAX_ALIASES} YAML aliases (*name)", event.start_mark)
        if self.values_repeated > MAX_ALIAS_EXPANSION:
            raise _AliasLimitExceeded(f"YAML aliases repeat more than {MAX_ALIAS_EXPANSION:,} values in all (here *{event.anchor})", event.start_mark)

    def _expanded_size(self, node) -> int:
        """How many values a finished node holds written out in full, capped just above the limit."""
        if id(node) not in self._sizes:
            if isinstance(node, yaml.ScalarNode):
                children = []
            elif isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            else:
                children = node.value
            size = 1 + sum(self._expanded_size(child) for child in children)
            self._sizes[id(node)] = min(size, MAX_ALIAS_EXPANSION + 1)
        return self._sizes[id(node)]


def read_config_file(path: str | Path) -> dict:
    """A config file's mapping; a syntax error is a ConfigError naming file:line:column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    try:
        config = yaml.load(text, Loader=_AliasLimitedLoader)  # noqa: S506 (a SafeLoader)
    except _AliasLimitExceeded as exc:
        raise ConfigError(
            f"{path}:{exc.mark.line + 1}:{exc.mark.column + 1}: {exc.problem}; a config file needs only a few aliases: "
            "write the values out, or merge one anchor (<<: *name) as config/task_length.yaml does"
        ) from exc
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
    from agem.pipeline.sweeps import check_sweeps  # the Snakefile checks it in common.smk

    check_sweeps(config)
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


def check_config_file_aliases(paths) -> None:
    """Re-read config files that Snakemake has loaded already (``workflow.config_settings.configfiles``)
    to refuse a YAML alias bomb before the workflow walks the config; raises ConfigError."""
    for path in paths:
        read_config_file(path)
