"""Result sets (agem.pipeline.experiment): the experiment's name and its folder."""

import hashlib

import pytest

from agem.pipeline.config import ConfigError
from agem.pipeline.experiment import experiment_folder, experiment_name


def test_named_after_the_last_configfile_or_default():
    assert experiment_name({}) == "default"
    assert experiment_name({}, ["config/paper.yaml"]) == "paper"
    assert experiment_name({}, ["config/paper.yaml", "my runs/extra er.yaml"]) == "extra_er"
    assert experiment_folder("paper") == "results/paper"
    assert experiment_name({}, ["tiny.yaml", "ablation.yaml"]) == "ablation_experiment"  # not results/ablation


def test_command_line_changes_get_a_digest_so_a_narrowed_run_has_its_own_folder():
    # Snakemake hands --config values over as strings (YAML's BaseLoader); written out by hand:
    expected = hashlib.sha256(b'{"methods":["van","agem"],"seeds":[1234]}').hexdigest()[:8]
    assert experiment_name({}, [], {"seeds": ["1234"], "methods": ["van", "agem"]}) == f"default-{expected}"
    assert experiment_name({}, ["config/paper.yaml"], {"methods": ["van"]}).startswith("paper-")
    assert experiment_name({}, [], {"methods": ["van"]}) != experiment_name({}, [], {"methods": ["agem"]})
    # Rebuilding from existing runs shows the same result set.
    assert experiment_name({}, [], {"reuse_runs": "true"}) == "default"


def test_an_explicit_name_wins():
    assert experiment_name({"experiment": "ablate"}, ["config/paper.yaml"], {"methods": ["van"], "experiment": "ablate"}) == "ablate"


@pytest.mark.parametrize(("name", "problem"), [
    ("runs", "shared folder"), ("logs", "shared folder"), ("../up", "not a folder name"), ("a/b", "not a folder name"),
])
def test_names_that_would_mix_with_shared_folders_are_refused(name, problem):
    with pytest.raises(ConfigError, match=rf"experiment: .* {problem}"):
        experiment_name({"experiment": name})
