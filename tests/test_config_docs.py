"""config/README.md agrees with the config schema and the shipped configs: its key tables are
generated from the schema (scripts/config_docs.py), every key the configs use is documented there,
and it names every method the default config runs."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agem.pipeline.config_docs import (
    BEGIN,
    END,
    README,
    SCHEMA,
    StaleReadme,
    check_readme,
    load_schema,
    map_entry,
    render_key_tables,
    resolve,
    update_readme,
    write_readme,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "config" / "config.yaml", ROOT / "config" / "paper.yaml"]
STALE = "config/README.md is out of date with workflow/schemas/config.schema.yaml: run `python scripts/config_docs.py`"


def test_readme_is_up_to_date():
    assert check_readme() is None


def test_check_cli_passes_on_the_repository():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def undocumented_keys(value: dict, node: dict, root: dict, path: str = "") -> list[str]:
    """The keys of a config (recursively) that the schema lacks or leaves without a description.

    A key is looked up among the node's ``properties``, else it is an entry of a documented map
    (``additionalProperties`` with a description, e.g. a benchmark's name). The entries of any
    other map (hparams values, source_options, network options) are free-form and not checked.
    """
    missing = []
    for key, item in value.items():
        where = f"{path}{key}"
        child = resolve(root, node.get("properties", {}).get(key))
        if child is None:
            child = map_entry(root, node)
            if child is None:
                if node.get("additionalProperties") is False:
                    missing.append(f"{where} (not in the schema)")
                continue
        if not child.get("description"):
            missing.append(f"{where} (no description)")
        if isinstance(item, dict):
            missing += undocumented_keys(item, child, root, where + ".")
    return missing


@pytest.mark.parametrize("config_path", CONFIGS, ids=lambda path: path.name)
def test_every_config_key_has_a_schema_description(config_path):
    schema = load_schema()
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    assert undocumented_keys(config, schema, schema) == []


def test_the_key_walk_sees_nested_keys():
    """Guard the test above against checking nothing: nested keys, map entries through a
    reference, unknown keys; free-form maps skipped."""
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "a": {"description": "A.", "type": "object", "properties": {"b": {"type": "integer"}}},
            "m": {"description": "A map.", "type": "object", "additionalProperties": {"$ref": "#/$defs/entry"}},
            "free": {"description": "Free-form.", "type": "object", "additionalProperties": {"type": "object"}},
        },
        "$defs": {
            "entry": {
                "description": "An entry.",
                "type": "object",
                "additionalProperties": False,
                "properties": {"c": {"description": "C."}},
            }
        },
    }
    config = {"a": {"b": 1}, "m": {"name": {"c": 1, "d": 2}}, "free": {"anything": {"x": 1}}, "z": 1}
    assert undocumented_keys(config, schema, schema) == [
        "a.b (no description)",
        "m.name.d (not in the schema)",
        "z (not in the schema)",
    ]


def test_readme_names_every_default_method_and_dataset():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    readme = README.read_text(encoding="utf-8")
    assert [m for m in config["methods"] if f"`{m}`" not in readme] == []
    assert [d for d in config["datasets"] if f"`{d}`" not in readme] == []



def stale_copy(tmp_path: Path) -> Path:
    """A copy of the schema with one description changed."""
    text = SCHEMA.read_text(encoding="utf-8")
    old = 'description: "Mini-batch size (paper: 10)."'
    assert text.count(old) == 1
    schema = tmp_path / "config.schema.yaml"
    schema.write_text(text.replace(old, 'description: "Examples per SGD step."'), encoding="utf-8")
    return schema


def test_check_reports_a_changed_description(tmp_path):
    schema = stale_copy(tmp_path)
    assert check_readme(schema, README) is not None
    readme = tmp_path / "README.md"
    shutil.copy(README, readme)
    assert "is out of date with" in check_readme(schema, readme)
    assert write_readme(schema, readme)
    assert check_readme(schema, readme) is None
    assert "| `training.batch_size` | integer ≥ 1 | `10` | Examples per SGD step. |" in readme.read_text(encoding="utf-8")
    assert not write_readme(schema, readme)


def test_check_cli_fails_on_a_stale_readme(tmp_path):
    schema = stale_copy(tmp_path)
    readme = tmp_path / "README.md"
    shutil.copy(README, readme)
    command = [sys.executable, str(ROOT / "scripts" / "config_docs.py"), "--schema", str(schema), "--readme", str(readme)]
    result = subprocess.run([*command, "--check"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "is out of date" in result.stderr and "run `python scripts/config_docs.py`" in result.stderr
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert subprocess.run([*command, "--check"], capture_output=True).returncode == 0


def test_stale_message_names_the_repository_files(monkeypatch):
    monkeypatch.setattr("agem.pipeline.config_docs.render_key_tables", lambda schema: "something else\n")
    assert check_readme() == STALE


def test_update_needs_one_marked_region():
    with pytest.raises(StaleReadme):
        update_readme("# no markers\n", "x\n")
    with pytest.raises(StaleReadme):
        update_readme(f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", "x\n")
    assert update_readme(f"a\n{BEGIN}\nold\n{END}\nb\n", "new\n") == f"a\n{BEGIN}\nnew\n{END}\nb\n"


def test_tables_show_nested_keys_defaults_and_required():
    tables = render_key_tables(load_schema())
    assert "| `benchmarks.<name>.memory_per_task` | integer ≥ 1 | *required* |" in tables
    assert "| `benchmarks.<name>.resources.train_mem_mb` | integer ≥ 100 | `2000` |" in tables
    assert "| `training` | object | see below |" in tables
    assert "| `ablation.epochs` | list of integers ≥ 1 | `[1, 3, 10, 30]` |" in tables
    assert "| `hparam_selection` | `paper` or `cross_validate` | `paper` |" in tables
