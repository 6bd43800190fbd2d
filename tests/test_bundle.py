"""Results bundles: export / import round trip, and refusal of damaged or foreign bundles with a
clear message and nothing left behind (more hostile bundles: tests/test_bundle_hostile.py; the
exported config: tests/test_bundle_config.py)."""

import io
import json
import tarfile

import h5py
import numpy as np
import pytest
import yaml

import agem.runs.bundle as bundle_module
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
from helpers.hostile_bundles import RUN_NAME, manifest_for, run_file_bytes, write_bundle, zeros_member
from helpers.runs import RECORDS, write_identity_run, write_records
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
    assert not fresh.exists()  # not even the folder the import would have made


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
                      edit_manifest=lambda m: m["files"].update({"results/runs/a/b/seed3.h5": {"sha256": "0" * 64, "bytes": 1}}))
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


def test_command_line(tmp_path, monkeypatch, capsys):
    root = tmp_path / "project"
    write_identity_run(root, "mnist", "van", 0)
    write_identity_run(root, "mnist", "van", 1)
    monkeypatch.chdir(root)
    main = load_script("bundle").main
    assert main(["export", "--out", "out.tar.gz", "--experiment", "shared"]) == 0
    assert main(["import", str(root / "out.tar.gz"), "--into", str(tmp_path / "fresh")]) == 0
    printed = capsys.readouterr().out
    assert "imported 2 run files" in printed and "--config reuse_runs=true" in printed
    assert yaml.safe_load((tmp_path / "fresh" / "results" / "imported" / "config.yaml").read_text())["experiment"] == "shared"
    assert main(["import", str(tmp_path / "missing.tar.gz"), "--into", str(tmp_path / "other")]) == 1
    assert "error: " in capsys.readouterr().err
    assert main(["export", "--out", "x.tar.gz", "--experiment", "runs"]) == 1  # a shared folder's name
    assert "error: --experiment experiment: 'runs' is a shared folder" in capsys.readouterr().err
    with pytest.raises(BundleError, match="not a run file under results/runs"):
        export_bundle(tmp_path / "x.tar.gz", [root / "out.tar.gz"], CONFIG, root)


# ---- Hostile manifests and members: refused before anything is written --------------------------


def received(tmp_path, edit=lambda manifest: manifest):
    """A bundle of one valid run file whose manifest went through ``edit``."""
    run = run_file_bytes(tmp_path)
    return write_bundle(tmp_path / "received.tar.gz", edit(manifest_for({RUN_NAME: run})), {RUN_NAME: run})


INVALID = r"received\.tar\.gz: its manifest\.json is not a valid bundle manifest: {}.*nothing was imported.*export the bundle again"


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda m: {k: v for k, v in m.items() if k != "config"}, "the top level: 'config' is a required property"),
    (lambda m: [m], "the top level: a JSON array is not of type 'object'"),
    (lambda m: {k: v for k, v in m.items() if k != "files"}, "the top level: 'files' is a required property"),
    (lambda m: {**m, "files": {RUN_NAME: {"bytes": 10}}}, rf"files\.{RUN_NAME}: 'sha256' is a required property"),
    (lambda m: {**m, "files": list(m["files"])}, "files: a JSON array is not of type 'object'"),
    (lambda m: {**m, "files": {RUN_NAME: {"sha256": "ab" * 31, "bytes": 10}}}, rf"files\.{RUN_NAME}\.sha256: 'a.*b' does not match"),
], ids=["no config", "array", "no files", "no sha256", "files as list", "short sha256"])
def test_manifest_breaking_the_schema_is_refused_before_anything_is_written(tmp_path, edit, problem):
    refused(received(tmp_path, edit), tmp_path / "fresh", INVALID.format(problem))


def test_member_larger_than_its_manifest_bytes_is_refused_before_it_is_written(tmp_path, monkeypatch):
    """20 MB of zeros (20 kB compressed) listed as 100 bytes: at most 101 bytes of it are written."""
    staged_sizes = []
    stream_member = bundle_module._stream_member

    def recording(source, target, limit):
        try:
            return stream_member(source, target, limit)
        finally:
            staged_sizes.append(target.stat().st_size)

    monkeypatch.setattr(bundle_module, "_stream_member", recording)
    manifest = manifest_for({RUN_NAME: b"x" * 100})
    bomb = zeros_member(tmp_path / "received.tar.gz", manifest, RUN_NAME, 20_000_000)
    assert bomb.stat().st_size < 100_000
    refused(bomb, tmp_path / "fresh", rf"received\.tar\.gz: member {RUN_NAME} is 20,000,000 bytes, but manifest\.json says 100; refusing")
    assert all(size <= 101 for size in staged_sizes), staged_sizes


def test_streaming_stops_one_byte_past_the_limit(tmp_path):
    target = tmp_path / "member"
    assert bundle_module._stream_member(io.BytesIO(bytes(5000)), target, 1000) == 1001
    assert target.stat().st_size == 1001
    assert bundle_module._stream_member(io.BytesIO(bytes(500)), target, 1000) == 500


def test_members_over_the_caps_are_refused(tmp_path, monkeypatch):
    bundle = received(tmp_path)
    size = len(run_file_bytes(tmp_path))
    monkeypatch.setattr(bundle_module, "MAX_MEMBER_BYTES", size - 1)
    refused(bundle, tmp_path / "fresh", rf"{RUN_NAME} is {size:,} bytes, more than the {size - 1:,} a run file may have")
    monkeypatch.setattr(bundle_module, "MAX_MEMBER_BYTES", size)
    monkeypatch.setattr(bundle_module, "MAX_TOTAL_BYTES", size - 1)
    refused(bundle, tmp_path / "fresh", rf"would unpack {size:,} bytes, more than the {size - 1:,} a bundle may hold")
    monkeypatch.setattr(bundle_module, "MAX_STREAM_BYTES", 1000)
    refused(bundle, tmp_path / "fresh", "decompresses to more than 1,000 bytes")


def test_second_import_of_another_config_needs_overwrite(tmp_path):
    first = received(tmp_path)
    import_bundle(first, tmp_path / "fresh")
    config_file = tmp_path / "fresh" / "results" / "imported" / "config.yaml"
    before = config_file.read_text()
    (tmp_path / "second").mkdir()
    second = received(tmp_path / "second", lambda m: {**m, "config": {**m["config"], "seeds": [0, 1]}})
    with pytest.raises(BundleError, match=rf"{config_file} holds an earlier import's config\.yaml, which importing {second} would "
                                          r"replace; nothing was imported\. Use --overwrite"):
        import_bundle(second, tmp_path / "fresh")
    assert config_file.read_text() == before
    import_bundle(first, tmp_path / "fresh")  # the same bundle again changes nothing: no flag needed
    import_bundle(second, tmp_path / "fresh", overwrite=True)
    assert yaml.safe_load(config_file.read_text())["seeds"] == [0, 1]


def test_method_modules_of_a_bundle_are_dropped_unless_allowed(tmp_path, capsys):
    bundle = received(tmp_path, lambda m: {**m, "config": {**m["config"], "method_modules": ["evil_methods", "my_methods"]}})
    main = load_script("bundle").main
    assert main(["import", str(bundle), "--into", str(tmp_path / "fresh")]) == 0
    warning = capsys.readouterr().err
    assert f"warning: {bundle}'s config names method_modules evil_methods, my_methods: left out of" in warning
    assert "--allow-method-modules evil_methods my_methods --overwrite" in warning
    config_file = tmp_path / "fresh" / "results" / "imported" / "config.yaml"
    assert "method_modules" not in yaml.safe_load(config_file.read_text())
    assert main(["import", str(bundle), "--into", str(tmp_path / "fresh"), "--allow-method-modules", "my_methods", "--overwrite"]) == 0
    assert yaml.safe_load(config_file.read_text())["method_modules"] == ["my_methods"]
    assert "evil_methods" in capsys.readouterr().err
