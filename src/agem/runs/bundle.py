"""A results bundle: every run file in one archive with a manifest, to rebuild the paper's tables
and figures elsewhere without training or downloading any dataset.

Archive (``.tar.gz``)::

    manifest.json               bundle_format_version, run_format_version, created, config (the
                                config the runs were made with, reconstructed from the runs by
                                agem.runs.bundle_config), versions (packages, git commit), and
                                files: {path: {sha256, bytes}} for every file below
    results/runs/...            the run files, at their paths in the project folder
    results/ablation/runs/...   the epochs ablation's, if any

A bundle may come from anyone, so :func:`import_bundle` checks everything before it writes
anything into ``results/``: the format versions; the manifest against
``workflow/schemas/bundle_manifest.schema.yaml``; that the members are exactly the manifest's
files, plain files inside ``results/``; every member's size against the manifest while it is
unpacked (and against hard caps); every checksum; every run file. Members are unpacked into a
staging folder beside ``results/`` and moved into place only once all of them passed; a refused
bundle leaves nothing behind and raises :class:`BundleError` naming the bundle and the problem.
Nothing of a bundle runs as code: the ``method_modules`` its config names are dropped unless the
user allows them by name. It also writes ``results/imported/manifest.json`` and
``results/imported/config.yaml``, the config to rebuild with::

    snakemake --cores 2 artefacts --configfile results/imported/config.yaml --config reuse_runs=true
"""

from __future__ import annotations

import gzip
import io
import json
import os
import platform
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import h5py
import yaml

from agem.io.atomic import atomic_output
from agem.io.provenance import file_digests, git_commit
from agem.pipeline.paths import RESULTS
from agem.runs.bundle_config import RunConfigError, config_from_runs
from agem.runs.identity import RunIdentity
from agem.runs.runfile import RUN_FORMAT_VERSION, inspect_run

BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "bundle_manifest.schema.yaml"
IMPORTED = Path(RESULTS) / "imported"
RUN_FOLDERS = (f"{RESULTS}/runs", f"{RESULTS}/ablation/runs")
BUNDLE_NAME = "agem-results.tar.gz"
# scripts/bundle.py export packs every run; the workflow's rule bundle writes results/{experiment}/bundle/.
DEFAULT_BUNDLE = f"{RESULTS}/bundle/{BUNDLE_NAME}"
PACKAGES = ("agem-repro", "numpy", "pandas", "h5py", "matplotlib", "seaborn", "snakemake", "torch", "scipy")
REBUILD_COMMAND = f"snakemake --cores 2 artefacts --configfile {IMPORTED.as_posix()}/config.yaml --config reuse_runs=true"

# Caps on what a received bundle may unpack, so that a small archive cannot fill the disk (gzip
# compresses zeros 1000:1). A run file is a few hundred kB (accuracy matrices and curves of at most
# a few dozen tasks); the paper's whole study is a few hundred of them.
MAX_MEMBER_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 2 * 2**30
MAX_MEMBERS = 20_000
MAX_MANIFEST_BYTES = 16 * 2**20
# The tar stream holds, besides the files, a 512-byte header and up to 511 bytes of padding per member.
MAX_STREAM_BYTES = MAX_TOTAL_BYTES + MAX_MANIFEST_BYTES + MAX_MEMBERS * 2048
CHUNK_BYTES = 2**20


class BundleError(ValueError):
    """A bundle cannot be made or imported; the message names the file and the problem."""


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
    try:
        relative = path.resolve().relative_to(root.resolve()) if path.is_absolute() else path
    except ValueError:
        raise BundleError(f"{path} is not inside the project folder {root}") from None
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


# ---- Export -----------------------------------------------------------------------------------


def export_runs(out: str | Path, run_paths: Iterable[str | Path], experiment: str, root: str | Path = ".",
                order: Sequence[str] = ()) -> Path:
    """Pack the run files with the config they were made with (reconstructed from the runs, named
    ``experiment``; ``order``: agem.runs.bundle_config.config_from_runs) into ``out``: what
    ``scripts/bundle.py export`` and the rule ``bundle`` do."""
    root = Path(root)
    names = sorted({_member_name(path, root) for path in run_paths})
    try:
        config = config_from_runs(names, experiment, root, order)
    except RunConfigError as exc:
        raise BundleError(f"cannot export: {exc}") from exc
    return export_bundle(out, names, config, root)


def export_bundle(out: str | Path, run_paths: Iterable[str | Path], config: dict, root: str | Path = ".") -> Path:
    """Pack the run files (paths relative to ``root``) with their manifest and ``config`` into ``out``."""
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


# ---- Import: the manifest ---------------------------------------------------------------------


def _read_manifest(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], archive: Path) -> dict:
    member = members.get(MANIFEST)
    if member is None:
        raise BundleError(f"{archive} has no {MANIFEST}: it is not an agem-repro results bundle")
    if not member.isfile() or member.size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{archive}: its {MANIFEST} is not a plain file of at most {MAX_MANIFEST_BYTES:,} bytes; refusing the bundle")
    try:
        manifest = json.loads(tar.extractfile(member).read(MAX_MANIFEST_BYTES + 1))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{archive}: {MANIFEST} is not valid JSON ({exc})") from exc
    if isinstance(manifest, dict):
        _check_format_versions(manifest, archive)
    problem = manifest_problem(manifest)
    if problem:
        raise BundleError(f"{archive}: its {MANIFEST} is not a valid bundle manifest: {problem}; nothing was imported. "
                          "It was not written by scripts/bundle.py export or was edited since: export the bundle again")
    return manifest


def _check_format_versions(manifest: dict, archive: Path) -> None:
    version = manifest.get("bundle_format_version")
    if version != BUNDLE_FORMAT_VERSION:
        versions = manifest.get("versions")
        made_by = versions.get("agem-repro", "unknown") if isinstance(versions, dict) else "unknown"
        raise BundleError(
            f"{archive} has bundle format version {version!r} (made by agem-repro {made_by}); this agem-repro "
            f"reads version {BUNDLE_FORMAT_VERSION}. Import it with a matching agem-repro, or export it again."
        )
    if manifest.get("run_format_version") != RUN_FORMAT_VERSION:
        raise BundleError(
            f"{archive} holds run files of format version {manifest.get('run_format_version')!r}; this agem-repro "
            f"reads version {RUN_FORMAT_VERSION}. Import it with a matching agem-repro."
        )


def manifest_problem(manifest: object) -> str | None:
    """The manifest's first violation of the schema, as ``where: what``, or None if it is valid."""
    import jsonschema  # here: exporting and the workflow never need it

    schema = yaml.safe_load(MANIFEST_SCHEMA.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(manifest))
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path) or "the top level"
    if error.validator == "type":  # jsonschema's message would begin with the whole value
        return f"{where}: a JSON {JSON_TYPES.get(type(error.instance), type(error.instance).__name__)} is not of type {error.validator_value!r}"
    message = error.message if len(error.message) <= 240 else f"{error.message[:120]}…{error.message[-120:]}"
    return f"{where}: {message}"


JSON_TYPES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


# ---- Import: the members ----------------------------------------------------------------------


def _read_members(tar: tarfile.TarFile, archive: Path) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar:
        if member.name in members:
            raise BundleError(f"{archive}: member {member.name!r} appears twice; refusing the bundle")
        if len(members) > MAX_MEMBERS:
            raise BundleError(f"{archive} has more than {MAX_MEMBERS:,} members; refusing the bundle")
        members[member.name] = member
    return members


def _check_members(members: dict[str, tarfile.TarInfo], files: dict, archive: Path) -> None:
    """The archive's members must be exactly the manifest's files: plain, inside results/, of the
    size the manifest gives, within the caps."""
    for name, member in members.items():
        if name == MANIFEST:
            continue
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not member.isfile():
            raise BundleError(f"{archive}: member {name!r} is not a plain file inside the project; refusing the bundle")
        if name not in files:
            raise BundleError(f"{archive}: {name} is not listed in {MANIFEST}; refusing the bundle")
        if member.size != files[name]["bytes"]:
            raise BundleError(f"{archive}: member {name} is {member.size:,} bytes, but {MANIFEST} says {files[name]['bytes']:,}; "
                              "refusing the bundle, nothing was imported")
    missing = sorted(set(files) - set(members))
    if missing:
        raise BundleError(f"{archive}: {MANIFEST} lists {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                          + " but the archive lacks it; refusing the bundle")
    for name, entry in files.items():
        _member_name(name, Path("."))  # listed files must be run files under results/
        if entry["bytes"] > MAX_MEMBER_BYTES:
            raise BundleError(f"{archive}: {name} is {entry['bytes']:,} bytes, more than the {MAX_MEMBER_BYTES:,} a run file may have; "
                              "refusing the bundle, nothing was imported")
    total = sum(entry["bytes"] for entry in files.values())
    if total > MAX_TOTAL_BYTES:
        raise BundleError(f"{archive} would unpack {total:,} bytes, more than the {MAX_TOTAL_BYTES:,} a bundle may hold; "
                          "refusing the bundle, nothing was imported")


def _stream_member(source: BinaryIO, target: Path, limit: int) -> int:
    """Copy ``source`` to ``target`` but never more than ``limit`` + 1 bytes; the bytes read."""
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(min(CHUNK_BYTES, limit + 1 - written)):
            out.write(chunk)
            written += len(chunk)
            if written > limit:
                break
    return written


def _stage_member(tar: tarfile.TarFile, member: tarfile.TarInfo, expected: dict, staged: Path, archive: Path) -> None:
    """Unpack one member into the staging folder and check its size, checksum and content."""
    name = member.name
    staged.parent.mkdir(parents=True, exist_ok=True)
    limit = min(expected["bytes"], MAX_MEMBER_BYTES)
    with tar.extractfile(member) as source:
        written = _stream_member(source, staged, limit)
    if written > limit:
        raise BundleError(f"{archive}: member {name} holds more than the {limit:,} bytes {MANIFEST} says; "
                          "refusing the bundle, nothing was imported")
    if written != expected["bytes"]:
        raise BundleError(f"{archive}: member {name} holds {written:,} bytes, {MANIFEST} says {expected['bytes']:,}; "
                          "refusing the bundle, nothing was imported")
    actual = sha256_of(staged)
    if actual != expected["sha256"]:
        raise BundleError(f"{archive}: {name} is damaged: its sha256 is {actual}, the manifest says "
                          f"{expected['sha256']}; nothing was imported")
    _check_run_file(staged, name, archive)


def _check_run_file(staged: Path, name: str, archive: Path) -> None:
    """A run file of this format, readable, and at the path of the run it records."""
    try:
        version = _run_format_version(staged)
    except BundleError as exc:
        raise BundleError(f"{archive}: {name} is not a valid run file ({str(exc.__cause__)}); nothing was imported") from exc
    if version != RUN_FORMAT_VERSION:
        raise BundleError(f"{archive}: {name} has run format version {version!r}, this agem-repro reads "
                          f"{RUN_FORMAT_VERSION}; nothing was imported")
    try:
        _refuse_links(staged)
        record, problems = inspect_run(staged)  # every problem as a phrase, without the advice for one's own runs
        if record is None:
            raise ValueError("; ".join(problems))
        with h5py.File(staged, "r") as f:
            identity_text = f.attrs.get("identity")
        identity = RunIdentity.from_json(str(identity_text)) if identity_text is not None else None
    except Exception as exc:  # anything a foreign file may raise (RunFileError, IdentityError, KeyError, ...)
        problem = str(exc).replace(str(staged), name)
        raise BundleError(f"{archive}: {name} is not a valid run file ({problem}); nothing was imported") from exc
    parts = PurePosixPath(name).parts
    if parts[:2] == ("results", "runs") and (parts[2], parts[3], parts[-1]) != (record.dataset, record.method, f"seed{record.seed}.h5"):
        raise BundleError(f"{archive}: {name} holds the run {record.dataset}/{record.method}/seed{record.seed}, not the one its "
                          "path names; refusing the bundle, nothing was imported")
    if identity is not None and len(parts) == 6 and identity.run_path() != name:
        raise BundleError(f"{archive}: {name} records the identity of {identity.run_path()}, not of its path; "
                          "refusing the bundle, nothing was imported")


def _refuse_links(path: Path) -> None:
    """Every object of a received run file must live in it: an external link, external storage or
    a virtual dataset would make the tables read another file of the machine."""
    with h5py.File(path, "r") as f:
        for name in f:
            link = f.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise ValueError(f"{name} is a link ({type(link).__name__}), not data stored in the file")
            item = f[name]
            if not isinstance(item, h5py.Dataset):  # run files are flat: a group could hold links
                raise ValueError(f"{name} is a group; a run file holds datasets only")
            if item.external or item.is_virtual:
                raise ValueError(f"{name} stores its data outside the file")


def _check_gzip_stream(archive: Path) -> None:
    """Decompress the whole archive once: tarfile stops quietly at a corrupt gzip block, so a
    damaged archive would otherwise read as one whose members are missing. Nothing is written."""
    decompressed = 0
    try:
        with gzip.open(archive, "rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                decompressed += len(chunk)
                if decompressed > MAX_STREAM_BYTES:
                    raise BundleError(f"{archive} decompresses to more than {MAX_STREAM_BYTES:,} bytes, more than a "
                                      "results bundle may hold; refusing it")
    except FileNotFoundError as exc:
        raise BundleError(f"{archive} does not exist") from exc
    except (OSError, EOFError, zlib.error) as exc:
        with open(archive, "rb") as head:
            if head.read(2) != b"\x1f\x8b":  # no gzip header at all: some other file
                raise BundleError(f"{archive} is not a readable .tar.gz results bundle ({exc})") from exc
        raise BundleError(f"{archive} is corrupt: its gzip stream cannot be decompressed ({exc}); copy or download it again") from exc


# ---- Import: what it writes -------------------------------------------------------------------


def print_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _imported_config(config: dict, allowed_modules: Sequence[str]) -> tuple[dict, list[str]]:
    """The bundle's config without the method modules the user did not allow; the dropped ones.
    A module named there would be imported (run) by the rebuild."""
    modules = config.get("method_modules", [])
    dropped = [module for module in modules if module not in allowed_modules]
    kept = [module for module in modules if module in allowed_modules]
    config = {key: value for key, value in config.items() if key != "method_modules"}
    if kept:
        config["method_modules"] = kept
    return config, dropped


def _check_imported_folder(root: Path, texts: dict[str, str], archive: Path, overwrite: bool) -> None:
    """An earlier import's config or manifest is replaced only with ``overwrite``."""
    for name, text in texts.items():
        existing = root / IMPORTED / name
        if not overwrite and existing.exists() and existing.read_text(encoding="utf-8") != text:
            raise BundleError(f"{existing} holds an earlier import's {name}, which importing {archive} would replace; "
                              "nothing was imported. Use --overwrite to replace it, or --into another folder to keep both")


def import_bundle(archive: str | Path, root: str | Path = ".", overwrite: bool = False, allow_method_modules: Sequence[str] = (),
                  warn: Callable[[str], None] = print_warning) -> list[Path]:
    """Verify the bundle, then unpack its run files into ``root`` and its config and manifest
    into ``root/results/imported/``; return the run files' paths. See the module docstring."""
    archive, root = Path(archive), Path(root)
    _check_gzip_stream(archive)
    root_existed = root.exists()
    try:
        imported, dropped = _import(archive, root, overwrite, allow_method_modules)
    except (tarfile.TarError, EOFError, zlib.error) as exc:  # a damaged tar inside a sound gzip stream
        _remove_if_made(root, root_existed)
        raise BundleError(f"{archive} is not a readable .tar.gz results bundle ({exc}); nothing was imported") from exc
    except BaseException:
        _remove_if_made(root, root_existed)
        raise
    if dropped:
        warn(f"{archive}'s config names method_modules {', '.join(dropped)}: left out of {root / IMPORTED / 'config.yaml'}, "
             "since nothing of a bundle is imported as code. If you trust them and have them installed, import again "
             f"with --allow-method-modules {' '.join(dropped)} --overwrite")
    return imported


def _remove_if_made(root: Path, root_existed: bool) -> None:
    if not root_existed and root.is_dir() and not any(root.iterdir()):
        root.rmdir()  # the folder this import made for itself


def _import(archive: Path, root: Path, overwrite: bool, allowed_modules: Sequence[str]) -> tuple[list[Path], list[str]]:
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"{archive} is not a readable .tar.gz results bundle ({exc})") from exc
    with tar:
        members = _read_members(tar, archive)
        manifest = _read_manifest(tar, members, archive)
        files = manifest["files"]
        _check_members(members, files, archive)
        config, dropped = _imported_config(manifest["config"], allowed_modules)
        texts = {"config.yaml": yaml.safe_dump(config, sort_keys=False), MANIFEST: json.dumps(manifest, indent=2, sort_keys=True)}
        _check_imported_folder(root, texts, archive, overwrite)
        root.mkdir(parents=True, exist_ok=True)
        # Beside results/, on the same file system: moving a checked file in is a rename.
        with tempfile.TemporaryDirectory(prefix=".bundle-import-", dir=root) as staging:
            for name, expected in files.items():
                _stage_member(tar, members[name], expected, Path(staging) / name, archive)
            conflicts = [name for name in files if (root / name).exists() and sha256_of(root / name) != files[name]["sha256"]]
            if conflicts and not overwrite:
                raise BundleError(f"importing {archive} would replace {len(conflicts)} different run file(s) in {root}, "
                                  f"e.g. {conflicts[0]}; nothing was imported (use --overwrite to replace them)")
            for name, text in texts.items():
                staged = Path(staging) / IMPORTED / name
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.write_text(text, encoding="utf-8")
            imported = []
            for name in [*files, *(f"{IMPORTED.as_posix()}/{name}" for name in texts)]:
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(Path(staging) / name, target)
                imported.append(target)
    return imported[: len(files)], dropped

