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
