"""Every hostile run file of tests/helpers/hostile_runfiles.py is refused clearly by the table
rebuild (one line naming the file and the fix, no traceback) and the previous table survives;
the legitimate diverged run is accepted."""

from __future__ import annotations

import pytest

from helpers.hostile import run_hostile
from helpers.hostile_runfiles import CASES, prepare


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_run_file_is_refused_clearly(tmp_path, case):
    prepare(tmp_path)
    verdict, message = run_hostile(case, tmp_path)
    assert verdict == "clear", message
