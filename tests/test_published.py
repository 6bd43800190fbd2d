"""Published result sets (agem.pipeline.published): every table and figure comes back from the
committed bundles without training, and the README's result numbers are the published runs'."""

from pathlib import Path

import pytest

from agem.pipeline.published import PUBLISHED, fill_readme, readme_blocks, rebuild

REPO = Path(__file__).resolve().parents[1]
SETS = sorted(p.name for p in PUBLISHED.iterdir() if (p / "agem-results.tar.gz").is_file()) if PUBLISHED.is_dir() else []


def test_readme_blocks_are_replaced_between_their_markers_only():
    text = "a\n<!-- published:x:y -->\nold\n<!-- /published -->\nb\n<!-- published:x:z -->\nkeep\n<!-- /published -->\n"
    assert fill_readme(text, {"x:y": "new\n"}) == text.replace("old", "new")
    assert fill_readme(text, {}) == text


def test_every_published_set_has_its_bundle_rebuild_config_and_provenance():
    assert {"default", "task_length"} <= set(SETS)
    for name in SETS:
        assert {p.name for p in (PUBLISHED / name).iterdir()} >= {"agem-results.tar.gz", "rebuild.yaml", "provenance.json"}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> dict[str, Path]:
    built = {}
    for name in SETS:
        folder = tmp_path_factory.mktemp(name)
        result = rebuild(name, folder / "work")
        assert result.returncode == 0, result.stderr[-3000:]
        assert "rule train" not in result.stdout + result.stderr  # nothing trains
        built[name] = folder / "work"
    return built


@pytest.mark.slow
def test_published_sets_rebuild_every_table_and_figure_without_training(rebuilt):
    default = rebuilt["default"] / "results" / "default"
    assert {"main.csv", "reproduction_summary.md", "table4_mnist_cifar.csv", "table7_cost.csv"} <= {p.name for p in (default / "tables").iterdir()}
    assert (default / "figures" / "fig3_accuracy_vs_tasks.png").is_file()
    study = rebuilt["task_length"] / "results" / "task_length" / "study"
    assert {"task_length.csv", "task_length_claims.md", "task_length_accuracy.pdf", "task_length_gap.png"} <= {p.name for p in study.iterdir()}


@pytest.mark.slow
def test_readme_numbers_and_figure_are_the_published_runs(rebuilt):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = readme_blocks(rebuilt)
    assert set(blocks) <= set(__import__("re").findall(r"<!-- published:([a-z_]+:[a-z_]+) -->", readme))
    assert fill_readme(readme, blocks) == readme, "README.md drifted from the published runs: run scripts/published.py readme"
    for rebuilt_path, readme_figure in [
        (rebuilt["task_length"] / "results/task_length/study/task_length_accuracy.png", "task_length_accuracy.png"),
        (rebuilt["default"] / "results/default/figures/fig3_accuracy_vs_tasks.png", "fig3_accuracy_vs_tasks.png"),
    ]:
        assert (REPO / "docs" / "img" / readme_figure).read_bytes() == rebuilt_path.read_bytes(), readme_figure
