"""The key tables of config/README.md, generated from the config schema.

Every key of ``workflow/schemas/config.schema.yaml`` becomes one row (key, type, default,
description) of a markdown table: one table for the top-level keys, then one per top-level key
with keys below it (``training``, ``benchmarks``, ...). Nested keys are dotted;
a map's free-form key is a placeholder such as ``benchmarks.<name>.memory_per_task``. Only a map
whose value schema has a ``description`` is documented key by key; the values of the others
(``hparams`` values, ``source_options``, network options) are free-form and described in the
hand-written parts of the README.

The tables replace whatever lies between :data:`BEGIN` and :data:`END` in the README;
:func:`check_readme` reports a README that differs from what :func:`update_readme` would write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
README = REPO / "config" / "README.md"

BEGIN = "<!-- BEGIN GENERATED KEYS -->"
END = "<!-- END GENERATED KEYS -->"
NOTICE = (
    "<!-- Generated from workflow/schemas/config.schema.yaml by `python scripts/config_docs.py`; "
    "edit the schema's descriptions, not this table. -->"
)

# The placeholder of a map's free-form keys, by the dotted path of the map.
PLACEHOLDERS = {
    "benchmarks": "<name>",
    "downloads": "<dataset>",
    "downloads.<dataset>": "<file>",
    "hparams": "<benchmark>",
    "hparams.<benchmark>": "<method>",
    "cv_grid": "<name>",
    "ablation.networks": "<network>",
}


class StaleReadme(Exception):
    """The README's generated region differs from the schema (or has no markers)."""


@dataclass(frozen=True)
class Key:
    """One documented key of the schema."""

    path: str  # dotted, e.g. "benchmarks.<name>.resources.gpu"
    schema: dict  # its subschema, references resolved
    required: bool  # required by the object that holds it

    @property
    def has_fixed_keys(self) -> bool:
        """Whether it is an object with fixed sub-keys (``training``, ``resources``)."""
        return bool(self.schema.get("properties"))


def load_schema(path: str | Path = SCHEMA) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def resolve(root: dict, node: dict | None) -> dict | None:
    """``node`` with a local ``$ref`` (``#/$defs/...``) replaced by its target, recursively."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not {ref!r}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def map_entry(root: dict, node: dict) -> dict | None:
    """The schema of a documented map's values: ``additionalProperties`` with a description."""
    entry = resolve(root, node.get("additionalProperties"))
    return entry if isinstance(entry, dict) and "description" in entry else None


def child_keys(root: dict, node: dict, prefix: str) -> list[Key]:
    """The documented keys directly below ``node``: its properties, then its map entry."""
    required = set(node.get("required", []))
    keys = [
        Key(f"{prefix}{name}", resolve(root, sub), name in required)
        for name, sub in node.get("properties", {}).items()
    ]
    entry = map_entry(root, node)
    if entry is not None:
        placeholder = PLACEHOLDERS.get(prefix.rstrip("."), "<name>")
        keys.append(Key(f"{prefix}{placeholder}", entry, False))
    return keys


def walk(root: dict, node: dict | None = None, prefix: str = "") -> list[Key]:
    """Every key below ``node`` (default: the whole schema), depth first."""
    found = []
    for key in child_keys(root, root if node is None else node, prefix):
        found.append(key)
        found.extend(walk(root, key.schema, key.path + "."))
    return found


def _code(text: str) -> str:
    return f"`{text}`"


def _flow(value) -> str:
    """A value as one line of YAML flow style, e.g. ``[1, 3, 10, 30]`` or ``{}``."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6)
    return text.strip().removesuffix("...").strip()


def render_type(schema: dict) -> str:
    """The type column: JSON type names, list item types, enums and simple bounds."""
    if "enum" in schema:
        return " or ".join(_code(_flow(value)) for value in schema["enum"])
    if "oneOf" in schema or "anyOf" in schema:
        return " or ".join(render_type(sub) for sub in schema.get("oneOf", schema.get("anyOf")))
    kinds = schema.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds and "number" in kinds:
        kinds = [kind for kind in kinds if kind != "integer"]
    names = []
    for kind in kinds:
        if kind == "array":
            items = schema.get("items")
            names.append(f"list of {_plural(render_type(items))}" if isinstance(items, dict) else "list")
        elif kind == "object":
            names.append("map" if "properties" not in schema else "object")
        else:
            names.append(kind)
    text = " or ".join(names)
    bounds = [
        f"{sign} {schema[word]}"
        for word, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
        if word in schema
    ]
    return " ".join([text, *bounds])


def _plural(type_text: str) -> str:
    """``integer ≥ 0`` -> ``integers ≥ 0``: the item type of a list."""
    first, _, rest = type_text.partition(" ")
    if first in ("string", "integer", "number", "boolean", "map", "object"):
        first += "s"
    return " ".join(filter(None, [first, rest]))


def render_default(key: Key) -> str:
    if key.required:
        return "*required*"
    if "default" in key.schema and key.has_fixed_keys:
        return "see below"  # an empty object whose own keys have defaults
    if "default" in key.schema:
        return _code(_flow(key.schema["default"]))
    return "–"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_table(keys: list[Key]) -> str:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    lines += [
        f"| {_cell(_code(key.path))} | {_cell(render_type(key.schema))} | {_cell(render_default(key))} "
        f"| {_cell(key.schema.get('description', ''))} |"
        for key in keys
    ]
    return "\n".join(lines)


def render_key_tables(schema: dict) -> str:
    """The generated region: a table of the top-level keys, then one table per top-level key
    that has documented keys below it, listing all of them."""
    top = child_keys(schema, schema, "")
    blocks = ["### Top-level keys", render_table(top)]
    for key in top:
        below = walk(schema, key.schema, key.path + ".")
        if below:
            blocks += [f"### {_code(key.path)}", render_table(below)]
    return "\n\n".join([NOTICE, *blocks]) + "\n"


def update_readme(readme: str, generated: str) -> str:
    """``readme`` with the text between the markers replaced by ``generated``."""
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.DOTALL)
    if len(pattern.findall(readme)) != 1:
        raise StaleReadme(f"the README needs exactly one {BEGIN} ... {END} region")
    return pattern.sub(lambda _: f"{BEGIN}\n{generated}{END}", readme)


def check_readme(schema_path: str | Path = SCHEMA, readme_path: str | Path = README) -> str | None:
    """None if the README's key tables match the schema, else a message saying how to fix it."""
    readme = Path(readme_path).read_text(encoding="utf-8")
    try:
        fresh = update_readme(readme, render_key_tables(load_schema(schema_path)))
    except StaleReadme as exc:
        return f"{_display(readme_path)}: {exc}"
    if fresh != readme:
        return (
            f"{_display(readme_path)} is out of date with {_display(schema_path)}: "
            "run `python scripts/config_docs.py`"
        )
    return None


def write_readme(schema_path: str | Path = SCHEMA, readme_path: str | Path = README) -> bool:
    """Regenerate the README's key tables; True if the file changed."""
    path = Path(readme_path)
    readme = path.read_text(encoding="utf-8")
    fresh = update_readme(readme, render_key_tables(load_schema(schema_path)))
    if fresh == readme:
        return False
    path.write_text(fresh, encoding="utf-8")
    return True


def _display(path: str | Path) -> str:
    """A path relative to the repository when it lies inside it (the message names the usual files)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
