"""Figures from synthetic run files: every figure of the paper is written, readable and
non-trivial, and missing datasets or methods leave gaps instead of errors."""

import dataclasses
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from agem.report.figures import FIGURE_NAMES, draw_figures, fig5_zero_shot, fig6_violations, je_pairs
from agem.report.frames import per_task_frame
from agem.report.paper import ARTEFACTS, artefact_datasets, has_runs
from agem.report.styles import method_style
from helpers.runs import NAN, make_record, write_records
from helpers.scripts import run_script

STEMS = [stem for name in FIGURE_NAMES for stem in ARTEFACTS[name].stems]


def learning_curve(record, zero_shot: float, slope: float):
    """The record with a rising learning curve a_{k,b,k} = zero_shot + slope·b (Figs. 4, 5)."""
    acc_lca = np.minimum(1.0, zero_shot + slope * np.arange(11))[None, :].repeat(record.n_tasks, axis=0)
    return dataclasses.replace(record, acc_lca=acc_lca)


def ablation_run(dataset, method, network, epochs, seed, a_t):
    """An epochs-ablation run: network and epochs come from the run's config (Figs. 7, 8)."""
    record = make_record(dataset, method, seed, (0.9, 2 * a_t - 0.9, 0.9))
    return dataclasses.replace(record, config={"ablation_network": network, "training": {"epochs": epochs}})


RECORDS = [
    # mnist: every kind of method, including MULTI-TASK (final row only, no LCA).
    *(make_record("mnist", "van", s, (0.9, 0.5 + 0.1 * s, 0.9), 0.2, 10.0, 1000) for s in (0, 1)),
    *(make_record("mnist", "agem", s, (0.9, 0.8, 0.85), 0.3, 40.0, 3000, (0, 3 + s)) for s in (0, 1)),
    *(make_record("mnist", "gem", s, (0.9, 0.85, 0.9), 0.25, 90.0, 9000, (0, 7 + s)) for s in (0, 1)),
    make_record("mnist", "multitask", 0, (NAN, 0.93, 0.95), multitask=True),
    # cifar: no GEM/A-GEM, no MULTI-TASK, PI diverged on every seed.
    make_record("cifar", "van", 0, (0.6, 0.4, 0.6), 0.25, 5.0, 500),
    make_record("cifar", "pi", 0, diverged=True),
    # cub and its joint-embedding variant: JE starts above chance (zero-shot) and learns faster.
    *(learning_curve(make_record("cub", m, s, (0.6, 0.5, 0.6)), 0.1, 0.03) for m in ("van", "agem") for s in (0, 1)),
    *(learning_curve(make_record("cub_je", m, s, (0.7, 0.6, 0.7)), 0.3, 0.05) for m in ("van", "agem") for s in (0, 1)),
    # the epochs ablation: more epochs, more forgetting; the big network forgets less.
    *(ablation_run("mnist", m, net, e, 0, 0.8 - 0.05 * np.log(e) + (0.05 if net == "big" else 0))
      for m in ("van", "ewc") for net in ("small", "big") for e in (1, 3, 10)),
]
DATASETS = ["mnist", "cifar", "cub", "cub_je", "awa"]  # awa has no runs at all, nor its JE variant
METHODS = ["van", "pi", "ewc", "gem", "agem", "multitask", "prognn"]  # prognn has no runs at all


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("figures")
    paths = write_records(tmp / "runs", RECORDS[:-12])
    ablation = [path for i, record in enumerate(RECORDS[-12:]) for path in write_records(tmp / f"ablation{i}", [record])]
    out_dir = tmp / "figures"
    printed = StringIO()
    for runs, names in ((paths, [n for n in FIGURE_NAMES if not ARTEFACTS[n].ablation]), (ablation, ["fig7", "fig8"])):
        with redirect_stdout(printed):
            run_script("make_figures", "--runs", *map(str, runs), "--datasets", *DATASETS,
                       "--methods", *METHODS, "--out-dir", str(out_dir), "--only", *names)
    return out_dir, printed.getvalue()


@pytest.mark.parametrize("stem", STEMS)
def test_figure_is_a_real_image_and_pdf(figures, stem):
    out_dir, printed = figures
    path = out_dir / f"{stem}.png"
    assert f"wrote {path}" in printed
    pixels = np.asarray(Image.open(path).convert("L"))
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300
    assert (pixels < 128).mean() > 0.002  # something is drawn, not a blank canvas
    assert (out_dir / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


def run_make_figures(tmp_path, records, *extra) -> tuple[list[str], str]:
    """The PNG stems make_figures.py writes for ``records``, and what it printed."""
    paths = write_records(tmp_path / "runs", records)
    printed = StringIO()
    with redirect_stdout(printed):
        run_script("make_figures", "--runs", *map(str, paths), "--out-dir", str(tmp_path / "out"), *extra)
    return sorted(p.stem for p in (tmp_path / "out").glob("*.png")), printed.getvalue()


def test_default_figures_are_figs_1_3_6_and_one_without_data_is_not_written(tmp_path):
    written, printed = run_make_figures(tmp_path, RECORDS[:2])  # VAN only: no constraint to violate
    assert written == ["fig1_bars", "fig3_accuracy_vs_tasks", "fig3_lca_vs_beta"]
    assert "not written: fig6_violations" in printed
    assert not (tmp_path / "out" / "fig6_violations.pdf").exists()


def panel_titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_visible()]


def test_violation_panels_only_where_gem_or_agem_ran():
    fig = fig6_violations(per_task_frame(RECORDS), ["mnist", "cifar", "awa"], METHODS)
    assert panel_titles(fig) == ["MNIST"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["GEM", "A-GEM"]
    assert fig6_violations(per_task_frame(RECORDS), ["cifar", "awa"], METHODS) is None


def test_je_pairs_and_only_pairs_with_runs():
    assert je_pairs(DATASETS) == [("mnist", "mnist_je"), ("cifar", "cifar_je"), ("cub", "cub_je"), ("awa", "awa_je")]
    assert je_pairs(["split_awa_je"]) == [("split_awa", "split_awa_je")]
    fig = fig5_zero_shot(per_task_frame(RECORDS), ["cub", "awa"], METHODS)
    assert panel_titles(fig) == ["CUB: standard vs joint embedding"]  # AWA has no runs: no panel
    # Per method one curve per variant, both in the method's colour: standard with hollow markers;
    # the zero-shot accuracy in % (0.3 -> 30).
    standard, joint = [line for line in fig.axes[0].get_lines() if line.get_color() == method_style("van").colour]
    assert standard.get_markerfacecolor() == "white" and joint.get_markerfacecolor() != "white"
    np.testing.assert_allclose(joint.get_ydata(), [30.0, 30.0])
    assert fig5_zero_shot(per_task_frame(RECORDS), ["awa"], METHODS) is None


SUBSETS = {
    "everything": RECORDS[:-12],
    "van on mnist": RECORDS[:2],
    "multitask only": [RECORDS[6]],
    "cub only": [r for r in RECORDS[:-12] if r.dataset == "cub"],
    "diverged pi only": [RECORDS[8]],
}


@pytest.mark.parametrize("subset", SUBSETS)
def test_a_figure_is_drawn_exactly_when_the_workflow_requests_it(subset):
    """make_figures and the workflow's artefact list (paper.has_runs, on the planned runs) agree:
    Snakemake never waits for a figure that is not drawn, nor misses one that is."""
    records = SUBSETS[subset]
    pairs = {(r.dataset, r.method) for r in records}
    for name in (name for name in FIGURE_NAMES if not ARTEFACTS[name].ablation):
        # As the figure's rule calls it: with the datasets that figure shows.
        drawn = draw_figures(records, [name], artefact_datasets(name, DATASETS), METHODS)
        assert bool(drawn) == has_runs(name, pairs, DATASETS), name
        assert not drawn or set(drawn) == set(ARTEFACTS[name].stems), name
    plt.close("all")


def caption(fig) -> str:
    return fig._suptitle.get_text().replace("\n", " ").replace("\u00a0", " ")


def test_each_figure_says_its_seeds_and_band_and_is_typeset_for_print():
    figures = draw_figures(RECORDS[:-12], [n for n in FIGURE_NAMES if not ARTEFACTS[n].ablation], DATASETS, METHODS)
    assert "Mean over 1–2 seeds" in caption(figures["fig3_accuracy_vs_tasks"])
    assert "band: ± 1 std" in caption(figures["fig3_lca_vs_beta"])
    assert "whiskers: ± 1 std" in caption(figures["fig1_bars"])
    for stem, fig in figures.items():
        assert fig.get_figwidth() <= 7.0, stem  # a two-column paper's text width: drawn at print size
        sizes = [text.get_fontsize() for text in fig.findobj(matplotlib.text.Text) if text.get_text().strip()]
        assert min(sizes) >= 8, stem
    assert figures["fig3_lca_vs_beta"].axes[0].get_ylabel() == r"Learning curve area, LCA$_\beta$"
    plt.close("all")


def legend_labels(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


def test_a_diverged_method_is_listed_once_and_marked():
    pi_mnist = make_record("mnist", "pi", 0, (0.9, 0.6, 0.8), 0.3)
    records = [*RECORDS[:2], RECORDS[8], pi_mnist]  # PI diverged on cifar, trained on mnist
    fig = draw_figures(records, ["fig3"], ["mnist", "cifar"], ["van", "pi"])["fig3_accuracy_vs_tasks"]
    assert legend_labels(fig) == ["VAN", "PI"]
    assert panel_titles(fig) == ["MNIST", "CIFAR\n(diverged: PI)"]
    only_diverged = draw_figures([*RECORDS[:2], RECORDS[8]], ["fig3"], ["mnist", "cifar"], ["van", "pi"])
    assert legend_labels(only_diverged["fig3_accuracy_vs_tasks"]) == ["VAN", "PI (diverged)"]
    plt.close("all")


def test_method_styles_are_fixed_by_name_and_distinct():
    from agem.report.styles import METHOD_STYLES

    known = list(METHOD_STYLES)
    assert len({(s.colour) for s in METHOD_STYLES.values()}) == len(known)
    assert len({(s.marker) for s in METHOD_STYLES.values()}) == len(known)  # greyscale: the marker tells
    assert "er" in METHOD_STYLES  # reserved for experience replay
    # A method's look does not depend on which others run (A-GEM was magenta, then lilac).
    few = draw_figures(RECORDS[2:4], ["fig3"], ["mnist"], ["agem"])["fig3_lca_vs_beta"]
    many = draw_figures(RECORDS[:6], ["fig3"], ["mnist"], ["van", "agem", "gem"])["fig3_lca_vs_beta"]
    agem_lines = [[line for line in fig.axes[0].get_lines() if line.get_marker() == "o"] for fig in (few, many)]
    assert agem_lines[0][0].get_color() == agem_lines[1][0].get_color() == method_style("agem").colour
    # A new method: stable across processes, and never with a known method's marker.
    new = method_style("brand_new_method")
    assert new == method_style("brand_new_method") and new.marker not in {s.marker for s in METHOD_STYLES.values()}
    assert method_style("prog_nn") == method_style("prognn")
    plt.close("all")


# --- what a reviewer reads off a figure ------------------------------------------------------------
CAPTIONS = Path(__file__).resolve().parents[1] / "workflow" / "report"


def test_fig6_caption_names_every_method_the_figure_draws():
    """S-GEM violates constraints too and is drawn: the report's caption must not say "GEM vs A-GEM"."""
    sgem = [make_record("mnist", "sgem", s, (0.9, 0.8, 0.85), 0.3, 40.0, 3000, (0, 2 + s)) for s in (0, 1)]
    fig = fig6_violations(per_task_frame([*RECORDS[2:6], *sgem]), ["mnist"], ["gem", "sgem", "agem"])
    drawn = legend_labels(fig)
    assert drawn == ["GEM", "S-GEM", "A-GEM"]
    text = (CAPTIONS / "fig6_violations.rst").read_text(encoding="utf-8")
    assert all(label in text for label in drawn) and "GEM vs A-GEM" not in text
    plt.close("all")


def bar_texts(ax) -> list[str]:
    return [t.get_text().strip() for t in ax.texts]


def test_fig1_keys_its_dashes_marks_zero_bars_and_methods_beyond_the_paper():
    prognn = [make_record("mnist", "prognn", s, (0.9, 0.9, 0.95), 0.2, 20.0, 2000) for s in (0, 1)]  # F_T = 0
    er = [make_record("mnist", "er", s, (0.9, 0.8, 0.9), 0.3, 15.0, 1500) for s in (0, 1)]
    records = [*RECORDS[:2], RECORDS[6], *prognn, *er, RECORDS[8]]  # PI: diverged on cifar, not run on mnist
    fig = draw_figures(records, ["fig1"], ["mnist", "cifar"], ["van", "pi", "prognn", "multitask", "er"])["fig1_bars"]
    mnist_forgetting, cifar_accuracy = fig.axes[1], fig.axes[5]
    # MULTI-TASK's undefined F_T is a "–" with its key in the caption; PI, not run on MNIST, is left empty.
    assert bar_texts(mnist_forgetting).count("–") == 1
    assert "–: undefined (MULTI-TASK" in caption(fig)
    assert bar_texts(cifar_accuracy) == ["∞ diverged"]
    # PROG-NN's F_T of 0 is a visible tick at 0, labelled with its value.
    ticks = [line for line in mnist_forgetting.get_lines() if line.get_gid() == "short bar"]
    assert len(ticks) == 1 and list(ticks[0].get_xdata()) == [0.0]
    assert ticks[0].get_color() == method_style("prognn").colour and "0" in bar_texts(mnist_forgetting)
    # ER carries the table's ‡, and the caption says what it means.
    assert "ER ‡" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "‡: beyond the paper" in caption(fig)
    plt.close("all")


def test_a_one_seed_figure_promises_no_band():
    one_seed = [RECORDS[0], RECORDS[2], RECORDS[4]]  # VAN, A-GEM, GEM on mnist, seed 0 each
    figures = draw_figures(one_seed, ["fig1", "fig3", "fig6"], ["mnist"], ["van", "agem", "gem"])
    for stem, fig in figures.items():
        assert "± 1 std" not in caption(fig), stem
        assert "one seed: no band" in caption(fig) or "one seed: no whisker" in caption(fig), stem
    mixed = draw_figures([*one_seed, RECORDS[1]], ["fig3"], ["mnist"], ["van", "agem"])["fig3_lca_vs_beta"]
    assert "band: ± 1 std (none where one seed)" in caption(mixed)
    plt.close("all")


@pytest.mark.parametrize("name", ["my_method", "plugin_replay", "xyz", "brand_new_method", "lwf", "dummy"])
def test_a_plugin_method_is_a_solid_coloured_line_never_a_reference_line(name):
    from agem.report.styles import METHOD_STYLES, SOLID

    style = method_style(name)
    assert style.linestyle == SOLID
    assert style.colour not in {s.colour for s in METHOD_STYLES.values()}
    red, green, blue = (int(style.colour[i:i + 2], 16) for i in (1, 3, 5))
    assert max(red, green, blue) - min(red, green, blue) > 40  # a colour, not a grey like MULTI-TASK's


def test_rebuilt_figures_are_byte_identical(tmp_path, monkeypatch):
    """No creation date in the PDF (nor a time in the PNG): a rebuild from the same runs gives the same bytes."""
    from agem.report.figures import save_figure

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    built = []
    for attempt in ("first", "second"):
        (tmp_path / attempt).mkdir()
        fig = draw_figures(RECORDS[:6], ["fig1"], ["mnist"], ["van", "agem", "gem"])["fig1_bars"]
        built.append({p.suffix: p.read_bytes() for p in save_figure(fig, tmp_path / attempt, "fig1_bars")})
        if attempt == "first":
            monkeypatch.setattr("time.time", lambda: 2_000_000_000.0)  # a later clock for the rebuild
    assert b"CreationDate" not in built[0][".pdf"]
    assert built[0] == built[1]


def test_one_seed_bars_have_no_whiskers():
    """A whisker of length 0 still draws its caps: with one seed there must be none at all."""
    from matplotlib.collections import LineCollection

    one_seed = draw_figures([RECORDS[0], RECORDS[2]], ["fig1"], ["mnist"], ["van", "agem"])["fig1_bars"]
    two_seeds = draw_figures(RECORDS[:4], ["fig1"], ["mnist"], ["van", "agem"])["fig1_bars"]
    accuracy = [fig.axes[0] for fig in (one_seed, two_seeds)]
    whiskers = [[c for c in ax.collections if isinstance(c, LineCollection)] for ax in accuracy]
    assert whiskers[0] == [] and len(whiskers[1]) == 1
    plt.close("all")
