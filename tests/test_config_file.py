"""scripts/check_config.py: a config file's YAML error named by file:line:column, then the
schema and the config check, without running Snakemake. Snakemake itself names neither."""

import subprocess
import sys
from pathlib import Path

import pytest

from agem.pipeline.config import ConfigError
from agem.pipeline.config_file import check_config_files, read_config_file

REPO = Path(__file__).resolve().parents[1]


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [1, 2\ndatasets: [split_digits]\n")  # the ']' is missing on line 1
    with pytest.raises(ConfigError) as error:
        read_config_file(bad)
    assert str(error.value).startswith(f"{bad}:2:9: YAML syntax error: while parsing a flow sequence expected ',' or ']', but got ':'")


def test_tab_indentation_is_located(tmp_path):
    bad = tmp_path / "tabs.yaml"
    bad.write_text("training:\n\tbatch_size: 5\n")
    with pytest.raises(ConfigError, match=rf"^{bad}:2:1: YAML syntax error: .*tab"):
        read_config_file(bad)


def test_a_list_instead_of_a_mapping_is_refused(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- datasets\n")
    with pytest.raises(ConfigError, match="must be a mapping of keys"):
        read_config_file(bad)


def test_schema_error_names_the_key(tmp_path):
    bad = tmp_path / "batch.yaml"
    bad.write_text("training: {batch_size: 0}\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: training\.batch_size: 0 is less than the minimum of 1$"):
        check_config_files([bad])


def test_config_check_runs_on_the_merged_config(tmp_path):
    bad = tmp_path / "tasks.yaml"
    bad.write_text("datasets: [split_digits]\nbenchmarks: {split_digits: {n_tasks: 6}}\n")  # merged: classes_per_task 2 from the default
    with pytest.raises(ConfigError, match=r"n_tasks 6 x classes_per_task 2 = 12 classes, but the source has 10"):
        check_config_files([bad])


@pytest.mark.slow
def test_script_exit_status_and_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [1, 2\n")
    script = [sys.executable, str(REPO / "scripts" / "check_config.py")]
    failed = subprocess.run([*script, str(bad)], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and failed.stderr.startswith(f"error: {bad}:2:1: YAML syntax error")
    assert "Traceback" not in failed.stderr
    good = subprocess.run([*script, str(REPO / "config" / "paper.yaml"), "--cluster"], capture_output=True, text=True, timeout=120)
    assert good.returncode == 0 and good.stdout.startswith("ok: "), good.stderr


def billion_laughs(levels: int = 9) -> str:
    """Each level an anchored list of nine aliases of the one before: 9**levels values written out."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\ntraining: {{note: *lol{levels - 1}}}\n"


def test_yaml_alias_bomb_is_refused_naming_file_line_and_fix(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    # lol1..lol3's aliases repeat 9×10 + 9×91 + 9×820 = 8,289 values; lol4's first *lol3 (line 5,
    # column 14) adds 7,381. Read unchecked, the file loads at once; the walks over it never end.
    with pytest.raises(ConfigError, match=rf"^{bomb}:5:14: YAML aliases repeat more than 10,000 values in all \(here \*lol3\); .*write the values out"):
        read_config_file(bomb)


def test_alias_inside_its_own_anchor_is_refused(tmp_path):
    endless = tmp_path / "endless.yaml"
    endless.write_text("training: &t\n  note: *t\n")
    with pytest.raises(ConfigError, match=rf"^{endless}:2:9: alias \*t is used inside its own anchor &t"):
        read_config_file(endless)


def test_more_than_100_aliases_are_refused(tmp_path):
    many = tmp_path / "many.yaml"
    many.write_text("x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(101)))
    with pytest.raises(ConfigError, match=rf"^{many}:102:7: more than 100 YAML aliases"):
        read_config_file(many)
    many.write_text("x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(100)))
    assert read_config_file(many)["k99"] == 1


def test_project_configs_keep_their_anchors_and_merge_keys():
    """config/task_length.yaml merges one benchmark into two (<<: *permuted_fashion): read as YAML reads it."""
    import yaml

    for name in ("task_length.yaml", "paper.yaml"):
        path = REPO / "config" / name
        assert read_config_file(path) == yaml.safe_load(path.read_text())
    benchmarks = read_config_file(REPO / "config" / "task_length.yaml")["benchmarks"]
    assert benchmarks["permuted_fashion_400"]["source"] == benchmarks["permuted_fashion_5500"]["source"] == "fashion_mnist"
