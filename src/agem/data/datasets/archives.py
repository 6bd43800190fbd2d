"""Reading the original archives in place (tar.gz, zip) and decoding their JPEGs.

The archives are read without extracting them: AwA2's zip is 13 GB and would need as much
again on disk. A tar.gz can only be read front to back, so every reader takes the set of
members it wants and receives them in archive order. Any damage (truncated or corrupt archive,
a member that is not there, an image that does not decode) raises
:class:`~agem.data.datasets.raw.RawDataError` naming the archive.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from agem.data.datasets.raw import RawDataError

# What a damaged archive raises, by module: tarfile/gzip, zipfile, zlib, a short read.
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError)

# torchvision's ImageNet statistics (RGB, of pixels scaled to [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _corrupt(archive: Path, exc: BaseException) -> RawDataError:
    return RawDataError(
        f"{archive}: the archive is corrupt or truncated ({type(exc).__name__}: {exc}); "
        "delete it and run the 'download' rule again, or place an intact copy there"
    )


def iter_members(archive: Path, wanted: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each wanted member, in archive order; every wanted member must exist."""
    archive = Path(archive)
    wanted = set(wanted)
    found: set[str] = set()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                names = set(z.namelist())
                for name in sorted(wanted & names):
                    found.add(name)
                    yield name, z.read(name)
        else:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:
                    if member.isfile() and member.name in wanted:
                        found.add(member.name)
                        yield member.name, tar.extractfile(member).read()
    except RawDataError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise _corrupt(archive, exc) from exc
    missing = sorted(wanted - found)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise RawDataError(f"{archive}: missing file(s) in the archive: {shown}")


def read_members(archive: Path, wanted: Iterable[str]) -> dict[str, bytes]:
    return dict(iter_members(archive, wanted))


def member_names(archive: Path) -> list[str]:
    """Names of the archive's regular files (a zip's directory is read without decompressing)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                return [info.filename for info in z.infolist() if not info.is_dir()]
        with tarfile.open(archive, "r:*") as tar:
            return [m.name for m in tar if m.isfile()]
    except _ARCHIVE_ERRORS as exc:
        raise _corrupt(Path(archive), exc) from exc


def decode_image(data: bytes, size: int, name: str = "") -> np.ndarray:
    """A JPEG (or any image PIL reads) as uint8 [3, size, size] RGB, resized without cropping.

    Bilinear resize of the whole image to size × size, as the paper's CUB and AWA pipelines
    did: resized to 224×224, no crop (docs/benchmarks.md#paper-benchmarks). Grey and CMYK images become RGB.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB").resize((size, size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise RawDataError(f"image {name!r} could not be decoded ({exc})") from exc
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


@dataclass
class ArchivedImages:
    """Images still inside an archive, decoded and resized while the image file is written.

    Row i of the set is archive member ``members[i]``. ``write_into`` makes one pass over the
    archive and writes each image straight into its HDF5 row, so the 5.6 GB of AWA never has to
    fit in memory (the lazy-image protocol of :func:`agem.data.streams.write_images`).
    """

    archive: Path
    members: list[str]
    size: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.members), 3, self.size, self.size)

    def write_into(self, dataset) -> None:
        row_of = {name: row for row, name in enumerate(self.members)}
        for name, data in iter_members(self.archive, row_of):
            dataset[row_of[name]] = decode_image(data, self.size, f"{self.archive.name}:{name}")


NORMALISATIONS = ("mean", "mean_std")


def imagenet_statistics(size: int, normalise: str) -> tuple[np.ndarray, np.ndarray | None]:
    """ImageNet's per-channel mean, and std for ``normalise='mean_std'``, as [3, size, size] float32.

    They become the stream's ``mean`` and ``std``: inputs are ``(x / 255 - mean) / std``.
    """
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise must be one of {list(NORMALISATIONS)}, got {normalise!r}")
    def plane(values):
        return np.broadcast_to(np.asarray(values, dtype=np.float32)[:, None, None], (3, size, size)).copy()
    return plane(IMAGENET_MEAN), plane(IMAGENET_STD) if normalise == "mean_std" else None


def l2_normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Class attribute rows scaled to unit L2 norm (paper §5, the -JE heads); zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def parse_table(text: str, name: str, columns: int | None = None) -> list[list[str]]:
    """Whitespace-separated rows of a text file of the datasets (CUB's and AwA2's lists)."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if columns is not None:
        bad = [i + 1 for i, row in enumerate(rows) if len(row) < columns]
        if bad:
            raise RawDataError(f"{name}: line(s) {bad[:5]} have fewer than {columns} fields")
    return rows
