"""Raw data of the paper's benchmarks: download, manual placement, checksums (rule ``download``).

Every raw dataset has one folder, ``resources/raw/{dataset}/``, holding its files under their
original names (``train-images-idx3-ubyte.gz``, ``cifar-100-python.tar.gz``,
``CUB_200_2011.tgz``, ``AwA2-data.zip``). :func:`prepare_raw` uses the files already there
(placed by hand on an offline machine, or by an earlier download), fetches the missing ones
(torchvision's dataset classes for MNIST and CIFAR-100, :func:`download` otherwise), verifies
every file's checksum and records the result in ``verified.json``, which is what the rules
depend on. A file with the wrong checksum is deleted and the error names it with the expected
and actual checksums; when a file can neither be found nor downloaded, the error lists exactly
which files to put where.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from agem.io.atomic import atomic_output
from agem.io.provenance import HASH_ALGORITHMS, file_digests

RAW_ROOT = Path("resources/raw")
VERIFIED = "verified.json"


class RawDataError(RuntimeError):
    """Raw data is missing, cannot be downloaded, is corrupt or fails its checksum."""


class ChecksumMismatch(RawDataError):
    pass


@dataclass(frozen=True)
class RawFile:
    """One original file of a dataset: its name, ``"md5:<hex>"`` / ``"sha256:<hex>"`` checksum
    ("" to record but not check one) and where it is downloaded from."""

    name: str
    checksum: str
    url: str | None = None


@dataclass(frozen=True)
class RawDataset:
    name: str
    files: tuple[RawFile, ...]
    homepage: str
    # Fetches the given missing files into the folder; None: our own resumable downloader.
    fetch: Callable[[Path, list[RawFile]], None] | None = None

    def with_overrides(self, overrides: dict | None) -> RawDataset:
        """Replace files' ``url`` / ``checksum`` from the config (``downloads.<dataset>.<file>``)."""
        overrides = overrides or {}
        unknown = sorted(set(overrides) - {f.name for f in self.files})
        if unknown:
            raise ValueError(f"downloads.{self.name}: unknown file(s) {unknown}; the files are {[f.name for f in self.files]}")
        files = tuple(replace(f, **overrides.get(f.name, {})) for f in self.files)
        for f in files:
            parse_checksum(f.checksum)
        return replace(self, files=files)


def parse_checksum(checksum: str) -> tuple[str, str] | None:
    """``"md5:<hex>"`` → ("md5", "<hex>"); "" → None (not checked)."""
    if not checksum:
        return None
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in HASH_ALGORITHMS or not digest:
        raise ValueError(f"checksum {checksum!r} must look like 'md5:<hex>' or 'sha256:<hex>'")
    return algorithm, digest.lower()


def verify_file(path: Path, checksum: str) -> dict[str, str]:
    """Check ``path`` against ``checksum``; on mismatch delete it and raise :class:`ChecksumMismatch`."""
    digests = file_digests(path)
    expected = parse_checksum(checksum)
    if expected is not None:
        algorithm, digest = expected
        if digests[algorithm] != digest:
            path.unlink()
            raise ChecksumMismatch(
                f"{path}: checksum mismatch, expected {algorithm}:{digest}, actual {algorithm}:{digests[algorithm]}; "
                "the file was deleted. Download it again, or, if the source has changed, set its checksum "
                "in the config (downloads.<dataset>.<file>.checksum)"
            )
    return digests


def download(url: str, dest: Path, chunk: int = 1 << 20, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest``, resuming a previous partial download (``dest.part``).

    A partial file is continued with an HTTP Range request; a server that ignores the range
    (status 200) sends the whole file again. ``dest`` appears only once the download is complete.
    """
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "agem-repro"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # range not satisfiable: the partial file is already whole
            part.replace(dest)
            return
        raise
    with response:
        resumed = offset > 0 and getattr(response, "status", 200) == 206
        with open(part, "ab" if resumed else "wb") as out:
            while block := response.read(chunk):
                out.write(block)
        expected = response.headers.get("Content-Length")
    if expected is not None and part.stat().st_size != (offset if resumed else 0) + int(expected):
        raise RawDataError(f"download of {url} ended early ({part.stat().st_size:,} bytes in {part}); run again to resume")
    part.replace(dest)


def _download_missing(folder: Path, missing: list[RawFile]) -> None:
    for f in missing:
        if not f.url:
            raise RawDataError(f"no URL is configured for {f.name}")
        print(f"downloading {f.url} -> {folder / f.name}", flush=True)
        download(f.url, folder / f.name)


def placement_help(dataset: RawDataset, folder: Path, files: Iterable[RawFile]) -> str:
    lines = [f"put these files, under exactly these names, into {folder.resolve()}/ (see {dataset.homepage}):"]
    for f in files:
        lines.append(f"  {f.name}" + (f"  ({f.checksum})" if f.checksum else "") + (f"  from {f.url}" if f.url else ""))
    return "\n".join(lines)


def placed_file_problems(dataset: RawDataset, folder: Path) -> list[str]:
    """What is wrong with the files already in ``folder``: checksum mismatches and unexpected
    names (a misnamed file), so one error reports them together with the missing files."""
    expected = {f.name: f for f in dataset.files}
    problems = []
    for path in sorted(folder.iterdir()):
        if path.name == VERIFIED or path.name.endswith((".part", ".tmp")) or not path.is_file():
            continue
        if path.name not in expected:
            problems.append(f"{path}: not a file of {dataset.name} (a misnamed file? the names are {sorted(expected)})")
            continue
        wanted = parse_checksum(expected[path.name].checksum)
        if wanted is not None and file_digests(path)[wanted[0]] != wanted[1]:
            problems.append(f"{path}: checksum mismatch, expected {wanted[0]}:{wanted[1]}; replace it with the original file")
    return problems


def prepare_raw(dataset: RawDataset, folder: str | Path, download_missing: bool = True) -> dict:
    """Make ``folder`` hold every file of ``dataset``, verified; return and write ``verified.json``.

    Files already in the folder are used as they are (manual placement); missing ones are
    fetched when ``download_missing``. Checksums are verified either way.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    missing = [f for f in dataset.files if not (folder / f.name).is_file()]
    if missing and download_missing:
        fetch = dataset.fetch or _download_missing
        try:
            fetch(folder, missing)
        except Exception as exc:  # no network, firewall, HTTP error, a mirror that moved…
            still = [f for f in missing if not (folder / f.name).is_file()]
            if still:
                raise RawDataError(
                    f"could not download {dataset.name} ({type(exc).__name__}: {exc}).\n" + placement_help(dataset, folder, still)
                ) from exc
    still = [f for f in dataset.files if not (folder / f.name).is_file()]
    if still:
        reason = "downloads are disabled" if not download_missing else "the download did not produce them"
        raise RawDataError(
            f"{dataset.name}: missing file(s) {[f.name for f in still]} ({reason}).\n"
            + "".join(f"{problem}\n" for problem in placed_file_problems(dataset, folder))
            + placement_help(dataset, folder, still)
        )
    record = {"dataset": dataset.name, "files": {}}
    for f in dataset.files:
        digests = verify_file(folder / f.name, f.checksum)
        stat = (folder / f.name).stat()
        record["files"][f.name] = {"checksum": f.checksum, **digests, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with atomic_output(folder / VERIFIED) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def sources_sha256(paths: Iterable[Path]) -> str:
    """One sha256 for a set of source files (the stream attribute ``source_sha256``).

    Uses the digests that :func:`prepare_raw` recorded in the folder's ``verified.json`` when
    present and the file is unchanged since (same size and modification time), so that a 13 GB
    archive is hashed once, not once per build.
    """
    combined = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        record = path.parent / VERIFIED
        recorded = json.loads(record.read_text())["files"].get(path.name, {}) if record.is_file() else {}
        stat = path.stat()
        unchanged = recorded.get("size") == stat.st_size and recorded.get("mtime_ns") == stat.st_mtime_ns
        digest = recorded["sha256"] if unchanged else file_digests(path)["sha256"]
        combined.update(f"{path.name}:{digest}\n".encode())
    return combined.hexdigest()
