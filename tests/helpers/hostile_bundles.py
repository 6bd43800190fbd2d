"""Hostile results bundles (tests/helpers/hostile.py): archives someone else made, each wrong in
one way, imported with ``scripts/bundle.py import``. Every one must be refused naming the bundle
and the problem, or (``expect`` None) imported without harm, and leave nothing behind.

The builders here also serve tests/test_bundle.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import yaml

from agem.runs.runfile import RUN_FORMAT_VERSION, write_run
from helpers.hostile import Hostile
from helpers.runs import RECORDS, make_record, write_records
from helpers.workflow import REPO

RUN_NAME = "results/runs/received/van/seed0.h5"  # apart from the finished result's runs
CONFIG = {"datasets": ["received"], "methods": ["van"], "seeds": [0]}


def run_file_bytes(scratch: Path, dataset: str = "received", method: str = "van", seed: int = 0) -> bytes:
    """The bytes of a valid run file of ``dataset``/``method``/``seed``."""
    path = scratch / f"{dataset}-{method}-{seed}.h5"
    write_run(path, make_record(dataset, method, seed, (0.9, 0.5, 0.9), 0.2))
    return path.read_bytes()


def manifest_for(files: dict[str, bytes], config: object = None) -> dict:
    """The manifest scripts/bundle.py export would write for ``files`` (name → bytes)."""
    return {
        "bundle_format_version": 1,
        "run_format_version": RUN_FORMAT_VERSION,
        "created": "2026-01-01T00:00:00+00:00",
        "config": CONFIG if config is None else config,
        "versions": {"agem-repro": "test"},
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in files.items()},
    }


def write_bundle(path: Path, manifest: object, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    """A .tar.gz with ``manifest`` (JSON; omitted if None) and ``members`` (name → bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        entries = ({"manifest.json": json.dumps(manifest).encode()} if manifest is not None else {}) | members
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def zeros_member(path: Path, manifest: dict, name: str, size: int) -> Path:
    """A bundle whose member ``name`` is ``size`` zero bytes (gzip shrinks them 1000:1)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, _Zeros(size))
    return path


class _Zeros(io.RawIOBase):
    def __init__(self, size: int):
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def prepare(workdir: Path) -> None:
    """The finished result a hostile bundle must not cost: two run files and the main table."""
    write_records(workdir / "results" / "runs", RECORDS[:2])
    table = workdir / "results" / "tables" / "main.csv"
    table.parent.mkdir(parents=True)
    table.write_text("method,A_T\nvan,70.0\n")


def import_command(workdir: Path, bundle: Path, *options: str) -> tuple[int, str]:
    """``python scripts/bundle.py import BUNDLE --into WORKDIR OPTIONS``, with this checkout's code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bundle.py"), "import", str(bundle), "--into", str(workdir), *options],
                          capture_output=True, text=True, cwd=workdir, env=env, timeout=120)
    return done.returncode, done.stdout + done.stderr


def leftovers(workdir: Path) -> str | None:
    """What a refused import left behind: a staging folder or an imported config."""
    staging = [p.name for p in workdir.glob(".bundle-import-*")]
    if staging:
        return f"staging folder left behind: {staging}"
    if (workdir / "results" / "imported").exists() or (workdir / RUN_NAME).exists():
        return "a refused bundle wrote into results/"
    return None


# ---- The cases --------------------------------------------------------------------------------


def _edited(edit: Callable[[dict], object]) -> Callable[[Path], tuple[int, str]]:
    """A case whose manifest is the valid one passed through ``edit`` (which returns the new one)."""

    def act(workdir: Path) -> tuple[int, str]:
        run = run_file_bytes(workdir / "incoming")
        bundle = write_bundle(workdir / "incoming" / "bundle.tar.gz", edit(manifest_for({RUN_NAME: run})), {RUN_NAME: run})
        return import_command(workdir, bundle)

    return act


def _without(manifest: dict, key: str) -> dict:
    return {k: v for k, v in manifest.items() if k != key}


def _oversize(workdir: Path) -> tuple[int, str]:
    manifest = manifest_for({RUN_NAME: b"x" * 100})
    return import_command(workdir, zeros_member(workdir / "incoming" / "bundle.tar.gz", manifest, RUN_NAME, 20_000_000))


def _over_the_cap(workdir: Path) -> tuple[int, str]:
    size = 65 * 2**20  # honest manifest, but more than a run file may be
    manifest = manifest_for({RUN_NAME: b""})
    manifest["files"][RUN_NAME] = {"sha256": "0" * 64, "bytes": size}
    return import_command(workdir, zeros_member(workdir / "incoming" / "bundle.tar.gz", manifest, RUN_NAME, size))


def _second_import(workdir: Path) -> tuple[int, str]:
    run = run_file_bytes(workdir / "incoming")
    first = write_bundle(workdir / "incoming" / "first.tar.gz", manifest_for({RUN_NAME: run}), {RUN_NAME: run})
    returncode, output = import_command(workdir, first)
    assert returncode == 0, output
    other = {**CONFIG, "seeds": [0, 1]}
    second = write_bundle(workdir / "incoming" / "second.tar.gz", manifest_for({RUN_NAME: run}, other), {RUN_NAME: run})
    return import_command(workdir, second)


def _method_modules(workdir: Path) -> tuple[int, str]:
    run = run_file_bytes(workdir / "incoming")
    config = {**CONFIG, "method_modules": ["antigravity", "this"]}
    bundle = write_bundle(workdir / "incoming" / "bundle.tar.gz", manifest_for({RUN_NAME: run}, config), {RUN_NAME: run})
    return import_command(workdir, bundle)


def _modules_kept(workdir: Path) -> str | None:
    config = yaml.safe_load((workdir / "results" / "imported" / "config.yaml").read_text())
    return f"a bundle's method_modules reached results/imported/config.yaml: {config['method_modules']}" if "method_modules" in config else None


def _member(name: str, data_of=run_file_bytes, symlink: str | None = None):
    def act(workdir: Path) -> tuple[int, str]:
        run = data_of(workdir / "incoming")
        manifest = manifest_for({RUN_NAME: run})  # the extra member is not listed: a listed one would fail the schema
        members = {RUN_NAME: run} | ({} if symlink else {name: run})
        bundle = write_bundle(workdir / "incoming" / "bundle.tar.gz", manifest, members, {name: symlink} if symlink else None)
        return import_command(workdir, bundle)

    return act


def _run_at_another_path(workdir: Path) -> tuple[int, str]:
    run = run_file_bytes(workdir / "incoming", "received", "agem", 3)  # a run of agem seed 3 ...
    bundle = write_bundle(workdir / "incoming" / "bundle.tar.gz", manifest_for({RUN_NAME: run}), {RUN_NAME: run})  # ... as van seed 0
    return import_command(workdir, bundle)


def _not_a_run_file(workdir: Path) -> tuple[int, str]:
    data = b"\x89HDF\r\n\x1a\n" + bytes(200)
    bundle = write_bundle(workdir / "incoming" / "bundle.tar.gz", manifest_for({RUN_NAME: data}), {RUN_NAME: data})
    return import_command(workdir, bundle)


def _linking_run_file(workdir: Path) -> tuple[int, str]:
    import h5py

    path = workdir / "incoming" / "linking.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_run(path, make_record("received", "van", 0, (0.9, 0.5, 0.9), 0.2))
    with h5py.File(path, "a") as f:  # the tables would read another file of the machine
        f["acc_memory"] = h5py.ExternalLink("/etc/hostname", "/data")
    data = path.read_bytes()
    bundle = write_bundle(workdir / "incoming" / "bundle.tar.gz", manifest_for({RUN_NAME: data}), {RUN_NAME: data})
    return import_command(workdir, bundle)


BUNDLE = r"\S*/incoming/(bundle|second)\.tar\.gz"


def invalid(detail: str) -> str:
    """The refusal of a manifest that breaks workflow/schemas/bundle_manifest.schema.yaml."""
    return rf"{BUNDLE}: its manifest\.json is not a valid bundle manifest: {detail}.*export the bundle again"


CASES: list[Hostile] = [
    Hostile("manifest without config", "bundle", _edited(lambda m: _without(m, "config")),
            invalid(r"the top level: 'config' is a required property")),
    Hostile("manifest is a JSON array", "bundle", _edited(lambda m: [m]), invalid(r"the top level: .* is not of type 'object'")),
    Hostile("manifest without files", "bundle", _edited(lambda m: _without(m, "files")), invalid(r"the top level: 'files' is a required property")),
    Hostile("file entry without sha256", "bundle", _edited(lambda m: {**m, "files": {RUN_NAME: {"bytes": m["files"][RUN_NAME]["bytes"]}}}),
            invalid(rf"files\.{RUN_NAME}: 'sha256' is a required property")),
    Hostile("files as a list", "bundle", _edited(lambda m: {**m, "files": list(m["files"])}), invalid(r"files: .* is not of type 'object'")),
    Hostile("bytes negative", "bundle", _edited(lambda m: {**m, "files": {RUN_NAME: {**m["files"][RUN_NAME], "bytes": -1}}}),
            invalid(rf"files\.{RUN_NAME}\.bytes: -1 is less than the minimum of 0")),
    Hostile("listed path leaves results/runs", "bundle", _edited(lambda m: {**m, "files": {"results/runs/../../x.h5": m["files"][RUN_NAME]}}),
            invalid(r"files: 'results/runs/\.\./\.\./x\.h5' does not match")),
    Hostile("member larger than its manifest bytes (20 MB of zeros)", "bundle", _oversize,
            rf"{BUNDLE}: member {RUN_NAME} is 20,000,000 bytes, but manifest\.json says 100; refusing the bundle, nothing was imported",
            leftovers),
    Hostile("member over the 64 MiB cap", "bundle", _over_the_cap,
            rf"{BUNDLE}: {RUN_NAME} is 68,157,440 bytes, more than the 67,108,864 a run file may have; refusing the bundle", leftovers),
    Hostile("member outside the project", "bundle", _member("../evil.h5"), rf"{BUNDLE}: member '\.\./evil\.h5' is not a plain file inside the project",
            leftovers),
    Hostile("symbolic link member", "bundle", _member("results/runs/received/van/seed1.h5", symlink="/etc/passwd"),
            rf"{BUNDLE}: member 'results/runs/received/van/seed1\.h5' is not a plain file inside the project", leftovers),
    Hostile("run file at another run's path", "bundle", _run_at_another_path,
            rf"{BUNDLE}: {RUN_NAME} holds the run received/agem/seed3, not the one its path names", leftovers),
    Hostile("member that is not a run file", "bundle", _not_a_run_file, rf"{BUNDLE}: {RUN_NAME} is not a valid run file \(", leftovers),
    Hostile("run file linking to a file outside it", "bundle", _linking_run_file,
            rf"{BUNDLE}: {RUN_NAME} is not a valid run file \(.*acc_memory.* (link|ExternalLink)", leftovers),
    Hostile("second import with another config, no --overwrite", "bundle", _second_import,
            rf"results/imported/config\.yaml holds an earlier import's config\.yaml, which importing {BUNDLE} would replace; "
            r"nothing was imported\. Use --overwrite"),
    Hostile("config naming method_modules", "bundle", _method_modules, None, _modules_kept),
]
