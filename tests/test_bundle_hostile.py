"""Every hostile bundle of tests/helpers/hostile_bundles.py is refused clearly (one line naming
the bundle and the problem, no traceback, nothing left behind), or imported without harm,
through the command line, with the finished result beside it untouched."""

import pytest

from helpers.hostile import run_hostile
from helpers.hostile_bundles import CASES, prepare


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_bundle_is_refused_clearly(case, tmp_path):
    prepare(tmp_path)
    verdict, message = run_hostile(case, tmp_path)
    assert verdict == "clear", f"{case.name}: {verdict}: {message}"
