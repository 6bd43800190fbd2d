"""The determinism block of docs/reproduction.md (agem.pipeline.determinism): its numbers are those of
the published runs, and each of them is computed as the section says (checked on hand-made matrices)."""

import subprocess

import numpy as np
import pytest

from agem.pipeline.determinism import DOCS_KEY, SEEDS, docs_block, identical_reruns, measure, read_measurement, refill_docs
from agem.runs.runfile import RunRecord, write_run
from helpers.scripts import load_script

MEASURED = {"cpu": "Hand CPU", "code_paths": {"default_kernels": {"cpu_capability": "AVX512", "rerun_identical": True},
                                             "generic_kernels": {"cpu_capability": "DEFAULT", "rerun_identical": True}}}


def record(method: str, seed: int, acc_final: list[list[float]]) -> RunRecord:
    acc = np.array(acc_final)
    n = len(acc)
    return RunRecord("handmade", method, seed, acc, np.full((n, 11), np.nan), np.zeros(n, dtype=np.int64), 1.0, 1)


def seeds_with(last_row_means: list[float], method: str) -> dict:
    """Runs of seeds 1234-1238 whose A_T (the last row's mean, in percent) is given."""
    return {(method, seed): record(method, seed, [[0.9, np.nan], [mean / 100 - 0.05, mean / 100 + 0.05]])
            for seed, mean in zip(SEEDS, last_row_means)}


def moved(run: RunRecord, changes: dict[tuple[int, int], float]) -> RunRecord:
    """Seed 1234's run as another code path gives it: ``changes`` added to the given entries."""
    acc = run.acc_final.copy()
    for entry, change in changes.items():
        acc[entry] += change
    return record(run.method, run.seed, acc.tolist())


def test_the_block_counts_only_evaluated_entries_and_compares_the_gap_with_the_seed_spread():
    # VAN: A_T 75, 71, 73, 79, 77 over the seeds: mean 75, std (ddof 0, as the tables) √8 = 2.83, range 8.
    # A-GEM: A_T 50, 48, 52, 50, 50: mean 50, std √1.6 = 1.26, range 4.
    default = seeds_with([75, 71, 73, 79, 77], "van") | seeds_with([50, 48, 52, 50, 50], "agem")
    generic = {
        # a_00 −10 points, a_10 and a_11 −5 (A_T 70), and the unevaluated a_01 (NaN) set: 3 of 3 differ.
        ("van", 1234): moved(default[("van", 1234)], {(0, 0): -0.1, (1, 0): -0.05, (1, 1): -0.05}),
        # a_11 +30 points: A_T +15, beyond its seeds' range 4.
        ("agem", 1234): moved(default[("agem", 1234)], {(1, 1): 0.3}),
    }
    generic[("van", 1234)].acc_final[0, 1] = 0.4
    block = docs_block({"default_kernels": default, "generic_kernels": generic}, MEASURED)
    assert "Measured on Hand CPU (PyTorch's kernels: AVX512 by default, DEFAULT on the generic path)" in block
    assert "| VAN | 75.00 | 70.00 | 3 of 3 | 10.00 | 75.00 ± 2.83 (8.00) |" in block
    assert "| A-GEM | 50.00 | 65.00 | 1 of 3 | 30.00 | 50.00 ± 1.26 (4.00) |" in block
    assert "VAN -5.00 points, 1.8 seed std; A-GEM +15.00 points, 11.9 seed std." in block
    assert "At least one is beyond the range that 5 seeds span" in block
    assert "bit-identical accuracy matrices on both paths" in block


def test_a_gap_within_every_seed_range_reads_as_one_more_seed_and_a_failed_rerun_is_named():
    default = seeds_with([75, 71, 73, 79, 77], "van") | seeds_with([50, 48, 52, 50, 50], "agem")
    generic = {("van", 1234): moved(default[("van", 1234)], {(1, 0): 0.04, (1, 1): 0.04}),
               ("agem", 1234): default[("agem", 1234)]}
    measured = {**MEASURED, "code_paths": {**MEASURED["code_paths"], "generic_kernels": {"cpu_capability": "DEFAULT",
                                                                                         "rerun_identical": False}}}
    block = docs_block({"default_kernels": default, "generic_kernels": generic}, measured)
    assert "| VAN | 75.00 | 79.00 | 2 of 3 | 4.00 | 75.00 ± 2.83 (8.00) |" in block
    assert "VAN +4.00 points, 1.4 seed std; A-GEM +0.00 points, 0.0 seed std." in block
    assert "so a result from another CPU is one more seed" in block
    assert "did NOT reproduce bit for bit on: generic kernels." in block


def test_reruns_are_identical_only_when_every_matrix_matches_bit_for_bit(tmp_path):
    names = ("first", "same", "other", "other_lca")
    runs = {name: tmp_path / name / "results" / "runs" / "d" / "van" / "v" / "seed1234.h5" for name in names}
    for name, path in runs.items():
        path.parent.mkdir(parents=True)
        run = record("van", 1234, [[0.5, np.nan], [0.25, 0.75 + (1e-12 if name == "other" else 0)]])
        run.acc_lca[:, 0] = [0.1, 0.2 if name == "other_lca" else 0.1]  # LCA's curve is compared too
        write_run(path, run)
    assert identical_reruns([runs["first"]], [runs["same"]], tmp_path / "first", tmp_path / "same")
    for other in ("other", "other_lca"):
        assert not identical_reruns([runs["first"]], [runs[other]], tmp_path / "first", tmp_path / other), other
    assert not identical_reruns([runs["first"]], [], tmp_path / "first", tmp_path / "same")  # nothing rerun proves nothing


def test_a_document_without_the_block_is_refused(tmp_path):
    docs = tmp_path / "reproduction.md"
    docs.write_text("# no block here\n")
    with pytest.raises(ValueError, match=f"has no <!-- published:{DOCS_KEY} --> block"):
        refill_docs(write=False, docs=docs)


def test_the_docs_block_is_the_published_runs():
    assert not refill_docs(write=False), "docs/reproduction.md drifted from published/determinism/: run scripts/determinism.py docs"


def test_measure_refuses_a_used_folder_and_a_failed_run_publishes_nothing(tmp_path, monkeypatch):
    script = load_script("determinism")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "old.txt").write_text("")
    with pytest.raises(SystemExit, match="is not empty: give a fresh folder, so that every run is trained here"):
        script.main(["measure", "--work", str(tmp_path / "used")])

    # The generic path's run fails after the default path's trained: nothing is exported.
    def train(workdir, seeds, environment):
        if environment:
            raise subprocess.CalledProcessError(1, ["snakemake"])
        return []

    monkeypatch.setattr("agem.pipeline.determinism.train", train)
    monkeypatch.setattr("agem.pipeline.determinism.cpu_capability", lambda environment: "AVX512")
    with pytest.raises(subprocess.CalledProcessError):
        measure(tmp_path / "work", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(script, "measure", lambda work: measure(work, out=tmp_path / "out"))
    with pytest.raises(SystemExit, match=r"a pipeline run failed \(exit status 1; its output is above\): nothing was published"):
        script.main(["measure", "--work", str(tmp_path / "fresh")])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", ["not json", "{}", '{"cpu": "x", "code_paths": {}}',
                                     '{"cpu": "x", "code_paths": {"default_kernels": {"cpu_capability": "A", "rerun_identical": "yes"},'
                                     ' "generic_kernels": {"cpu_capability": "D", "rerun_identical": true}}}'])
def test_a_measurement_file_that_is_not_one_is_refused_with_its_name(tmp_path, content):
    (tmp_path / "measurement.json").write_text(content)
    with pytest.raises(ValueError, match=r"measurement.json is not a determinism measurement .*run scripts/determinism.py measure"):
        read_measurement(tmp_path / "measurement.json")
