"""A results bundle: every run file in one archive with a manifest, to rebuild the paper's tables
and figures elsewhere without training or downloading any dataset.

Archive (``.tar.gz``)::

    manifest.json               bundle_format_version, run_format_version, created, config (the
                                resolved config of the runs), versions (packages, git commit), and
                                files: {path: {sha256, bytes}} for every file below
    results/runs/...            the run files, at their paths in the project folder
    results/ablation/runs/...   the epochs ablation's, if any

:func:`import_bundle` checks everything before it writes anything: the bundle format version,
that the members are exactly the files of the manifest and stay inside ``results/``, every
checksum and every run file's format version. A bundle that fails is refused with
:class:`BundleError` naming the file or the version, and nothing of it is left behind (files
are unpacked into a temporary folder beside the target and moved into place only at the end).
It also writes ``results/imported/manifest.json`` and ``results/imported/config.yaml``, the
config to rebuild with::

    snakemake --cores 2 artefacts --configfile results/imported/config.yaml --config reuse_runs=true
"""

from __future__ import annotations

import gzip
import io
import json
import os
import platform
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath

import h5py
import yaml

from agem.io.atomic import atomic_output
from agem.io.provenance import file_digests, git_commit
from agem.pipeline.paths import RESULTS
from agem.runs.runfile import RUN_FORMAT_VERSION

BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IMPORTED = Path(RESULTS) / "imported"
RUN_FOLDERS = (f"{RESULTS}/runs", f"{RESULTS}/ablation/runs")
BUNDLE_NAME = "agem-results.tar.gz"
# scripts/bundle.py export packs every run; the workflow's rule bundle writes results/{experiment}/bundle/.
DEFAULT_BUNDLE = f"{RESULTS}/bundle/{BUNDLE_NAME}"
PACKAGES = ("agem-repro", "numpy", "pandas", "h5py", "matplotlib", "seaborn", "snakemake", "torch", "scipy")
REBUILD_COMMAND = f"snakemake --cores 2 artefacts --configfile {IMPORTED.as_posix()}/config.yaml --config reuse_runs=true"


class BundleError(ValueError):
    """A bundle cannot be made or imported; the message names the file or the version."""


def sha256_of(path: str | Path) -> str:
    return file_digests(path, ("sha256",))["sha256"]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["git_commit"] = git_commit()
    return versions


def find_runs(root: str | Path = ".") -> list[Path]:
    """Every run file under the run folders of ``root`` (results/runs, results/ablation/runs)."""
    root = Path(root)
    return sorted(path for folder in RUN_FOLDERS for path in (root / folder).rglob("*.h5"))


def _member_name(path: str | Path, root: Path) -> str:
    """The archive name of a run file: its path relative to ``root``, which must be in results/."""
    path = Path(path)
    relative = path.resolve().relative_to(root.resolve()) if path.is_absolute() else path
    name = relative.as_posix()
    if not any(name.startswith(folder + "/") for folder in RUN_FOLDERS):
        raise BundleError(f"{path} is not a run file under {' or '.join(RUN_FOLDERS)}")
    return name


def _run_format_version(path: Path) -> object:
    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("format_version")
    except OSError as exc:
        raise BundleError(f"{path} is not a readable run file ({exc})") from exc
    return version.item() if hasattr(version, "item") else version


def export_bundle(out: str | Path, run_paths: Iterable[str | Path], config: dict, root: str | Path = ".") -> Path:
    """Pack the run files (paths relative to ``root``) with their manifest into ``out``."""
    root = Path(root)
    names = sorted({_member_name(path, root) for path in run_paths})
    if not names:
        raise BundleError(f"no run files to bundle under {root / RUN_FOLDERS[0]}; train first")
    files = {}
    for name in names:
        version = _run_format_version(root / name)
        if version != RUN_FORMAT_VERSION:
            raise BundleError(f"{name} has run format version {version!r}, this code writes {RUN_FORMAT_VERSION}")
        files[name] = {"sha256": sha256_of(root / name), "bytes": (root / name).stat().st_size}
    manifest = {
        "bundle_format_version": BUNDLE_FORMAT_VERSION,
        "run_format_version": RUN_FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "versions": package_versions(),
        "files": files,
    }
    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    with atomic_output(out) as tmp, tarfile.open(tmp, "w:gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime = len(data), int(datetime.now(UTC).timestamp())
        tar.addfile(info, io.BytesIO(data))
        for name in names:
            tar.add(root / name, arcname=name, recursive=False)
    return Path(out)


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> dict:
    try:
        manifest = json.load(tar.extractfile(MANIFEST))
    except KeyError:
        raise BundleError(f"{archive} has no {MANIFEST}: it is not an agem-repro results bundle") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{archive}: {MANIFEST} is not valid JSON ({exc})") from exc
    version = manifest.get("bundle_format_version") if isinstance(manifest, dict) else None
    if version != BUNDLE_FORMAT_VERSION:
        made_by = manifest.get("versions", {}).get("agem-repro", "unknown") if isinstance(manifest, dict) else "unknown"
        raise BundleError(
            f"{archive} has bundle format version {version!r} (made by agem-repro {made_by}); this agem-repro "
            f"reads version {BUNDLE_FORMAT_VERSION}. Import it with a matching agem-repro, or export it again."
        )
    if manifest.get("run_format_version") != RUN_FORMAT_VERSION:
        raise BundleError(
            f"{archive} holds run files of format version {manifest.get('run_format_version')!r}; this agem-repro "
            f"reads version {RUN_FORMAT_VERSION}. Import it with a matching agem-repro."
        )
    return manifest


def _check_members(tar: tarfile.TarFile, files: dict, archive: Path) -> dict[str, tarfile.TarInfo]:
    """The archive's members must be exactly the manifest's files, regular, inside results/."""
    members = {m.name: m for m in tar.getmembers() if m.name != MANIFEST}
    for name, member in members.items():
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not member.isfile():
            raise BundleError(f"{archive}: member {name!r} is not a plain file inside the project; refusing the bundle")
        if name not in files:
            raise BundleError(f"{archive}: {name} is not listed in {MANIFEST}; refusing the bundle")
    missing = sorted(set(files) - set(members))
    if missing:
        raise BundleError(f"{archive}: {MANIFEST} lists {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                          + " but the archive lacks it; refusing the bundle")
    for name in files:
        _member_name(name, Path("."))  # listed files must be run files under results/
    return members


def _check_gzip_stream(archive: Path) -> None:
    """Decompress the whole archive once: tarfile stops quietly at a corrupt gzip block, so a
    damaged archive would otherwise read as one whose members are missing."""
    try:
        with gzip.open(archive, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except FileNotFoundError as exc:
        raise BundleError(f"{archive} does not exist") from exc
    except (OSError, EOFError, zlib.error) as exc:
        with open(archive, "rb") as head:
            if head.read(2) != b"\x1f\x8b":  # no gzip header at all: some other file
                raise BundleError(f"{archive} is not a readable .tar.gz results bundle ({exc})") from exc
        raise BundleError(f"{archive} is corrupt: its gzip stream cannot be decompressed ({exc}); copy or download it again") from exc


def import_bundle(archive: str | Path, root: str | Path = ".", overwrite: bool = False) -> list[Path]:
    """Verify the bundle, then unpack its run files into ``root`` and its config and manifest
    into ``root/results/imported/``; return the run files' paths. See the module docstring."""
    archive, root = Path(archive), Path(root)
    _check_gzip_stream(archive)
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"{archive} is not a readable .tar.gz results bundle ({exc})") from exc
    root.mkdir(parents=True, exist_ok=True)
    with tar, tempfile.TemporaryDirectory(prefix=".bundle-import-", dir=root) as staging:
        manifest = _read_manifest(tar, archive)
        files = manifest["files"]
        members = _check_members(tar, files, archive)
        for name, expected in files.items():
            staged = Path(staging) / name
            staged.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(members[name]) as source, open(staged, "wb") as target:
                shutil.copyfileobj(source, target)
            actual = sha256_of(staged)
            if actual != expected["sha256"]:
                raise BundleError(f"{archive}: {name} is damaged: its sha256 is {actual}, the manifest says "
                                  f"{expected['sha256']}; nothing was imported")
            version = _run_format_version(staged)
            if version != RUN_FORMAT_VERSION:
                raise BundleError(f"{archive}: {name} has run format version {version!r}, this agem-repro reads "
                                  f"{RUN_FORMAT_VERSION}; nothing was imported")
        conflicts = [name for name in files if (root / name).exists() and sha256_of(root / name) != files[name]["sha256"]]
        if conflicts and not overwrite:
            raise BundleError(f"importing {archive} would replace {len(conflicts)} different run file(s) in {root}, "
                              f"e.g. {conflicts[0]}; nothing was imported (use --overwrite to replace them)")
        imported = []
        for name in files:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(staging) / name, target)
            imported.append(target)
    folder = root / IMPORTED
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    (folder / "config.yaml").write_text(yaml.safe_dump(manifest["config"], sort_keys=False), encoding="utf-8")
    return imported
