"""Figures from synthetic run files: all four are written, readable and non-trivial, and missing
datasets or methods leave gaps instead of errors."""

import runpy
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agem.figures import fig6_violations
from agem.tables import per_task_frame
from test_tables import NAN, ROOT, make_record, write_records

STEMS = ["fig1_bars", "fig3_accuracy_vs_tasks", "fig3_lca_vs_beta", "fig6_violations"]
RECORDS = [
    # mnist: every kind of method, including MULTI-TASK (final row only, no LCA).
    *(make_record("mnist", "van", s, (0.9, 0.5 + 0.1 * s, 0.9), 0.2, 10.0, 1000) for s in (0, 1)),
    *(make_record("mnist", "agem", s, (0.9, 0.8, 0.85), 0.3, 40.0, 3000, (0, 3 + s)) for s in (0, 1)),
    *(make_record("mnist", "gem", s, (0.9, 0.85, 0.9), 0.25, 90.0, 9000, (0, 7 + s)) for s in (0, 1)),
    make_record("mnist", "multitask", 0, (NAN, 0.93, 0.95), multitask=True),
    # cifar: no GEM/A-GEM, no MULTI-TASK, PI diverged on every seed.
    make_record("cifar", "van", 0, (0.6, 0.4, 0.6), 0.25, 5.0, 500),
    make_record("cifar", "pi", 0, diverged=True),
]
DATASETS = ["mnist", "cifar", "cub"]  # cub has no runs at all
METHODS = ["van", "pi", "gem", "agem", "multitask", "prognn"]  # prognn has no runs at all


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("figures")
    paths = write_records(tmp / "runs", RECORDS)
    out_dir = tmp / "figures"
    argv = ["make_figures.py", "--runs", *map(str, paths), "--datasets", *DATASETS,
            "--methods", *METHODS, "--out-dir", str(out_dir)]
    printed = StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(printed):
        patch.setattr(sys, "argv", argv)
        runpy.run_path(str(ROOT / "scripts" / "make_figures.py"), run_name="__main__")
    return out_dir, printed.getvalue()


@pytest.mark.parametrize("stem", STEMS)
def test_png_is_a_real_image(figures, stem):
    out_dir, printed = figures
    path = out_dir / f"{stem}.png"
    assert f"wrote {path}" in printed
    assert path.stat().st_size > 10_000
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # not one flat colour


@pytest.mark.parametrize("stem", STEMS)
def test_pdf_is_written(figures, stem):
    out_dir, _ = figures
    assert (out_dir / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


def test_violation_panels_note_missing_methods():
    fig = fig6_violations(per_task_frame(RECORDS), DATASETS, METHODS)
    notes = [[text.get_text() for text in ax.texts] for ax in fig.axes[: len(DATASETS)]]
    assert notes == [[], ["no GEM/A-GEM runs"], ["no GEM/A-GEM runs"]]
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["GEM", "A-GEM"]
