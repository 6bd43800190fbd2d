"""The bad-input sweep's config cases, in-process through check_config_files (the checks of
scripts/check_config.py and of the Snakefile): each is refused with its clear message. The full
sweep through `snakemake -n` is tests/sweep_bad_inputs.py (by hand: ~5 s per case)."""

import re
from pathlib import Path

import pytest

from agem.pipeline.config import ConfigError
from agem.pipeline.config_file import check_config_files
from helpers.bad_inputs import CASES

# Snakemake's own message for these is checked by the full sweep only.
SNAKEMAKE_MESSAGES = {"yaml_syntax_snakemake"}
IN_PROCESS = [case for case in CASES if case.config_only and case.name not in SNAKEMAKE_MESSAGES]
# Checks that the Snakefile makes but check_config_files (scripts/check_config.py) does not yet:
# strict, so that the test fails once the check is added and the entry must go.
NOT_YET_IN_CHECK_CONFIG: dict[str, str] = {}


def in_process(case):
    reason = NOT_YET_IN_CHECK_CONFIG.get(case.name)
    return pytest.param(case, marks=pytest.mark.xfail(strict=True, raises=pytest.fail.Exception, reason=reason) if reason else ())


def test_the_sweep_has_at_least_40_cases_and_most_run_in_process():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)
    assert len(IN_PROCESS) >= 40


@pytest.mark.parametrize("case", [in_process(case) for case in IN_PROCESS], ids=lambda case: case.name)
def test_bad_config_is_refused_with_a_clear_message(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative file names of a case resolve in a fresh folder
    path = tmp_path / "case.yaml"
    path.write_text(case.config_text)
    for name, data in case.files.items():  # files the config check reads (IDX labels)
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    present = sorted(p.name for p in Path(tmp_path).iterdir())
    warnings: list[str] = []
    with pytest.raises(ConfigError) as error:
        check_config_files([path], warn=warnings.append)
    assert re.search(case.expect, str(error.value), flags=re.DOTALL), str(error.value)
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == present  # nothing written
