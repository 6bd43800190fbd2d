"""Every hostile checkpoint of tests/helpers/hostile_checkpoints.py is ignored by the training job
with a line naming the file, never runs code, and the job trains afresh; nothing finished is lost."""

from __future__ import annotations

import pytest

from helpers.hostile import run_hostile
from helpers.hostile_checkpoints import CASES, prepare


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_checkpoint_is_ignored_clearly(tmp_path, case):
    prepare(tmp_path)
    verdict, message = run_hostile(case, tmp_path)
    assert verdict == "clear", message
