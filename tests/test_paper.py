"""The published values (config/paper_results.yaml), the verdict logic on hand-made numbers, and
the paper's artefacts."""

import math
import shutil

import pytest
import yaml

from agem.report.paper import (
    ARTEFACTS,
    NO_PAPER_VALUE,
    NOT_RUN,
    OFF,
    PAPER_RESULTS,
    REPRODUCED,
    WITHIN_2SIGMA,
    PaperResultsError,
    PaperValue,
    artefact_datasets,
    compare,
    load_paper_results,
    method_order,
    verdict_of,
)


def test_published_values_load_and_match_agem_paper_md():
    paper = load_paper_results()
    assert paper.value("main", "permuted_mnist", "agem", "A_T") == PaperValue(89.1, 0.14)
    assert paper.value("main", "split_cifar", "gem", "F_T") == PaperValue(0.06, 0.007)
    assert paper.value("main", "split_awa_je", "agem", "LCA10") == PaperValue(0.39)
    assert paper.value("main", "permuted_mnist", "pi", "A_T").mean == math.inf  # "fails to train"
    assert paper.value("main", "permuted_mnist", "multitask", "F_T") is None  # printed "–"
    assert paper.value("memory_vs_test", "split_cifar", "agem", "A_T_memory") == PaperValue(72.1)
    assert paper.value("gem_variants", "permuted_mnist", "sgem", "F_T") == PaperValue(0.08)
    assert paper.train_seconds["split_cifar"]["gem"] == PaperValue(5238)
    assert paper.memory_formulas["agem"] == "2P + (B+M)H"
    # Table 7's own ratio the text quotes: 7.2× on MNIST, 11.7× on CIFAR.
    for dataset, ratio in (("permuted_mnist", 7.2), ("split_cifar", 11.7)):
        seconds = paper.train_seconds[dataset]
        assert seconds["gem"].mean / seconds["agem"].mean == pytest.approx(ratio, abs=0.05)


@pytest.mark.parametrize(("edit", "named"), [
    (lambda d: d["main"]["permuted_mnist"]["van"].update(A_T="high"), "main.permuted_mnist.van.A_T"),
    (lambda d: d["main"]["split_cub"]["van"].update(A_T_final=1.0), "A_T_final"),
    (lambda d: d["main"]["split_cub"]["van"].update(A_T=[54.3, -1]), "main.split_cub.van.A_T"),
    (lambda d: d.update(format_version=2), "format_version"),
    (lambda d: d["cost"].pop("memory_formulas"), "memory_formulas"),
])
def test_a_malformed_values_file_is_refused_naming_the_entry(tmp_path, edit, named):
    data = yaml.safe_load(PAPER_RESULTS.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "paper_results.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(PaperResultsError, match=named.replace(".", r"\.")):
        load_paper_results(path)


def test_a_missing_values_file_is_refused(tmp_path):
    with pytest.raises(PaperResultsError, match="cannot read"):
        load_paper_results(tmp_path / "nowhere.yaml")
    shutil.copy(PAPER_RESULTS, tmp_path / "ok.yaml")
    assert load_paper_results(tmp_path / "ok.yaml").source.startswith("Chaudhry")


def test_compare_without_a_value_and_with_infinity():
    assert compare(None, 50.0, 1.0, 0.05).verdict == NO_PAPER_VALUE
    assert compare(PaperValue(50.0, 1.0), math.nan, math.nan, 0.05).verdict == NOT_RUN
    # The paper's ∞ (PI on MNIST fails to train): reproduced only if ours diverged too.
    assert compare(PaperValue(math.inf), math.inf, math.nan, 0.05).verdict == REPRODUCED
    assert compare(PaperValue(math.inf), 60.0, 1.0, 0.05).verdict == OFF
    assert compare(PaperValue(60.0, 1.0), math.inf, math.nan, 0.05).verdict == OFF


def test_verdict_boundaries():
    assert [verdict_of(x) for x in (0, 1, -1, 1.01, 2, -2.01)] == [
        REPRODUCED, REPRODUCED, REPRODUCED, WITHIN_2SIGMA, WITHIN_2SIGMA, OFF]


def test_artefact_datasets_and_method_order():
    run = ["permuted_digits", "split_cub", "split_digits"]
    assert artefact_datasets("table4", run) == ["permuted_mnist", "split_cifar", "permuted_digits", "split_digits"]
    assert artefact_datasets("table5", run) == ["split_cub", "split_cub_je"]
    assert artefact_datasets(ARTEFACTS["fig4"], run) == ["split_cub", "split_awa", "split_cub_je", "split_awa_je"]
    assert method_order(["my_method", "agem", "van", "multitask", "gem"]) == ["van", "gem", "agem", "multitask", "my_method"]
