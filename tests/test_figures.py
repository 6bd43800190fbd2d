"""Figures from synthetic run files: every figure of the paper is written, readable and
non-trivial, and missing datasets or methods leave gaps instead of errors."""

import dataclasses
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agem.report.figures import FIGURE_NAMES, fig5_zero_shot, fig6_violations, je_pairs
from agem.report.frames import per_task_frame
from agem.report.paper import ARTEFACTS
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


def test_default_figures_are_figs_1_3_6(tmp_path):
    paths = write_records(tmp_path / "runs", RECORDS[:2])
    with redirect_stdout(StringIO()):
        run_script("make_figures", "--runs", *map(str, paths), "--out-dir", str(tmp_path / "out"))
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.png")) == [
        "fig1_bars", "fig3_accuracy_vs_tasks", "fig3_lca_vs_beta", "fig6_violations"]


def test_violation_panels_note_missing_methods():
    fig = fig6_violations(per_task_frame(RECORDS), ["mnist", "cifar", "awa"], METHODS)
    notes = [[text.get_text() for text in ax.texts] for ax in fig.axes[:3]]
    assert notes == [[], ["no GEM/A-GEM runs"], ["no GEM/A-GEM runs"]]
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["GEM", "A-GEM"]


def test_je_pairs_and_gaps():
    assert je_pairs(DATASETS) == [("mnist", "mnist_je"), ("cifar", "cifar_je"), ("cub", "cub_je"), ("awa", "awa_je")]
    assert je_pairs(["split_awa_je"]) == [("split_awa", "split_awa_je")]
    fig = fig5_zero_shot(per_task_frame(RECORDS), ["cub", "awa"], METHODS)
    cub, awa = fig.axes[:2]
    assert [t.get_text() for t in awa.texts] == ["no runs"]
    # standard dashed, JE solid; the JE curve is the zero-shot accuracy in % (0.3 -> 30).
    lines = {line.get_label(): line for line in cub.get_lines()}
    assert lines["A-GEM (JE)"].get_linestyle() == "-" and lines["A-GEM (standard)"].get_linestyle() == "--"
    np.testing.assert_allclose(lines["VAN (JE)"].get_ydata(), [30.0, 30.0])
