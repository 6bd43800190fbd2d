"""Results bundles: export / import round trip, and refusal of damaged or foreign bundles with a
clear message and nothing left behind."""

import io
import json
import tarfile

import h5py
import numpy as np
import pytest
import yaml

from agem.runs.bundle import (
    BUNDLE_FORMAT_VERSION,
    MANIFEST,
    BundleError,
    export_bundle,
    find_runs,
    import_bundle,
    sha256_of,
)
from agem.runs.runfile import read_run
from helpers.runs import RECORDS, write_records
from helpers.scripts import load_script

CONFIG = {"datasets": ["mnist", "cifar"], "methods": ["van", "agem"], "seeds": [0, 1]}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with run files in results/runs, and the bundle exported from it."""
    root = tmp_path / "project"
    write_records(root / "results" / "runs", RECORDS[:4])
    monkeypatch.chdir(root)  # the CLI works on the current folder, like Snakemake
    bundle = export_bundle(root / "bundle.tar.gz", find_runs(root), CONFIG, root)
    return root, bundle


def rewrite(bundle, out, edit_manifest=None, edit_member=None, extra=None):
    """A copy of ``bundle`` with its manifest and/or one member's bytes changed."""
    with tarfile.open(bundle, "r:gz") as source, tarfile.open(out, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == MANIFEST and edit_manifest:
                manifest = json.loads(data)
                edit_manifest(manifest)
                data = json.dumps(manifest).encode()
            elif edit_member and member.name.endswith(edit_member):
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return out


def test_round_trip_into_a_fresh_folder(project, tmp_path):
    root, bundle = project
    fresh = tmp_path / "fresh"
    imported = import_bundle(bundle, fresh)
    assert len(imported) == 4
    for path in imported:
        original = root / path.relative_to(fresh)
        assert sha256_of(path) == sha256_of(original)
        np.testing.assert_array_equal(read_run(path).acc_final, read_run(original).acc_final)
    manifest = json.loads((fresh / "results" / "imported" / MANIFEST).read_text())
    assert manifest["bundle_format_version"] == BUNDLE_FORMAT_VERSION
    assert manifest["versions"]["numpy"] and manifest["versions"]["python"]
    assert set(manifest["files"]) == {p.relative_to(fresh).as_posix() for p in imported}
    assert yaml.safe_load((fresh / "results" / "imported" / "config.yaml").read_text()) == CONFIG
    # Importing the same bundle again is harmless; no staging folder is left behind.
    import_bundle(bundle, fresh)
    assert not list(fresh.glob(".bundle-import-*"))


def refused(bundle, fresh, match):
    with pytest.raises(BundleError, match=match):
        import_bundle(bundle, fresh)
    assert not (fresh / "results").exists()  # nothing partial
    assert not list(fresh.glob(".bundle-import-*"))


def test_a_wrong_checksum_is_refused_naming_the_file(project, tmp_path):
    _, bundle = project
    damaged = rewrite(bundle, tmp_path / "damaged.tar.gz", edit_member="mnist/agem/seed1.h5")
    refused(damaged, tmp_path / "fresh", r"results/runs/mnist/agem/seed1\.h5 is damaged: its sha256 is .*nothing was imported")


def test_another_format_version_is_refused(project, tmp_path):
    _, bundle = project
    newer = rewrite(bundle, tmp_path / "v2.tar.gz", edit_manifest=lambda m: m.update(bundle_format_version=2))
    refused(newer, tmp_path / "fresh", "bundle format version 2 .*reads version 1")
    runs_v2 = rewrite(bundle, tmp_path / "r2.tar.gz", edit_manifest=lambda m: m.update(run_format_version=2))
    refused(runs_v2, tmp_path / "fresh", "run files of format version 2")


def test_foreign_members_and_archives_are_refused(project, tmp_path):
    _, bundle = project
    extra = rewrite(bundle, tmp_path / "extra.tar.gz", extra={"../evil.sh": b"rm -rf /"})
    refused(extra, tmp_path / "fresh", "'../evil.sh' is not a plain file inside the project")
    unlisted = rewrite(bundle, tmp_path / "unlisted.tar.gz", extra={"results/runs/x/y/seed9.h5": b"x"})
    refused(unlisted, tmp_path / "fresh", "seed9.h5 is not listed in manifest.json")
    lacking = rewrite(bundle, tmp_path / "lacking.tar.gz",
                      edit_manifest=lambda m: m["files"].update({"results/runs/a/b/seed3.h5": {"sha256": "0", "bytes": 1}}))
    refused(lacking, tmp_path / "fresh", "lists results/runs/a/b/seed3.h5 but the archive lacks it")
    not_a_bundle = tmp_path / "plain.tar.gz"
    with tarfile.open(not_a_bundle, "w:gz"):
        pass
    refused(not_a_bundle, tmp_path / "fresh", "no manifest.json")
    (tmp_path / "text.tar.gz").write_text("hello")
    refused(tmp_path / "text.tar.gz", tmp_path / "fresh", "not a readable .tar.gz")


def test_different_existing_runs_are_not_overwritten_silently(project, tmp_path):
    root, bundle = project
    target = root / "results" / "runs" / "mnist" / "van" / "seed0.h5"
    with h5py.File(target, "a") as f:
        f.attrs["train_seconds"] = 99.0
    with pytest.raises(BundleError, match=r"would replace 1 different run file\(s\).*--overwrite"):
        import_bundle(bundle, root)
    assert read_run(target).train_seconds == 99.0
    import_bundle(bundle, root, overwrite=True)
    assert read_run(target).train_seconds == 10.0


def test_command_line(project, tmp_path, capsys):
    root, _ = project
    (root / "config").mkdir()
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    main = load_script("bundle").main
    assert main(["export", "--out", "out.tar.gz"]) == 0
    assert main(["import", str(root / "out.tar.gz"), "--into", str(tmp_path / "fresh")]) == 0
    printed = capsys.readouterr().out
    assert "imported 4 run files" in printed and "--config reuse_runs=true" in printed
    assert main(["import", str(tmp_path / "missing.tar.gz"), "--into", str(tmp_path / "other")]) == 1
    assert "error: " in capsys.readouterr().err
    with pytest.raises(BundleError, match="not a run file under results/runs"):
        export_bundle(tmp_path / "x.tar.gz", [root / "config" / "config.yaml"], CONFIG, root)
