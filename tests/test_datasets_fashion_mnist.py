"""Source ``fashion_mnist``: its ``folder`` option, else Debian's package, else the original files
downloaded to resources/raw/fashion_mnist/ and checked against their sha256 (rule download)."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

import agem.data.datasets.idx as idx
from agem.data.datasets import RAW_DATASETS, build_images, source_files, source_sizes
from agem.data.datasets.idx import FASHION_MNIST_FILES, FASHION_MNIST_RAW, LABELS_MAGIC, fashion_mnist_folder, load_fashion_mnist
from agem.data.datasets.raw import VERIFIED, ChecksumMismatch, RawDataError, prepare_raw
from agem.data.stream_files import read_image_file
from helpers.miniature_data import sha256_of, write_idx, write_mnist_folder

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_INSTALLED = all((DEBIAN / name).is_file() for name in FASHION_MNIST_FILES.values())
# The md5 of the original files, as published in Fashion-MNIST's README (and torchvision).
UPSTREAM_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# The gzip time of the original files (found by matching the md5 above): training files
# 2017-08-31 10:50:06 UTC, test files 10:50:27.
ORIGINAL_GZIP_TIME = {"train": 1504176606, "t10k": 1504176627}


def original_from_debian(name: str) -> bytes:
    """Debian's copy with the gzip header it stripped put back: flag FNAME, time, the file name."""
    debian = (DEBIAN / name).read_bytes()
    assert debian[3] == 0  # Debian's header: no flags, so the compressed data starts at byte 10
    mtime = ORIGINAL_GZIP_TIME[name.split("-")[0]]
    return b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + debian[8:10] + name.removesuffix(".gz").encode() + b"\0" + debian[10:]


@pytest.fixture
def no_debian(tmp_path, monkeypatch):
    """A machine without Debian's package, working in tmp_path (resources/raw/ is relative)."""
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", tmp_path / "not-installed")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def serve(folder: Path) -> dict:
    """`downloads.fashion_mnist` overrides: each file's URL a file:// URL into ``folder``, its checksum that file's."""
    return {name: {"url": (folder / name).as_uri(), "checksum": sha256_of(folder / name)} for name in FASHION_MNIST_FILES.values()}


def test_without_debian_the_files_are_downloaded_verified_and_read(no_debian):
    server = no_debian / "server"
    write_mnist_folder(server, n_train=30, n_test=10)
    raw_folder = no_debian / "resources" / "raw" / "fashion_mnist"
    assert "fashion_mnist" in RAW_DATASETS and fashion_mnist_folder() == Path("resources/raw/fashion_mnist")
    # rule build_images waits for the download's verified.json, so Snakemake downloads first
    assert source_files("fashion_mnist", {}) == ["resources/raw/fashion_mnist/verified.json"]
    assert source_sizes("fashion_mnist", {}) is None  # not known before the download
    with pytest.raises(RawDataError, match=r"neither installed in .*not-installed/ nor downloaded to resources/raw/fashion_mnist/: run `snakemake "):
        load_fashion_mnist()
    record = prepare_raw(RAW_DATASETS["fashion_mnist"].with_overrides(serve(server)), raw_folder)
    assert sorted(record["files"]) == sorted(FASHION_MNIST_FILES.values()) and (raw_folder / VERIFIED).is_file()
    build_images("fashion_mnist", {}, no_debian / "images.h5")
    assert read_image_file(no_debian / "images.h5").train_x.shape == (30, 784)
    assert source_sizes("fashion_mnist", {}).n_classes == 10


def test_a_corrupted_download_is_refused_and_deleted(no_debian):
    server = no_debian / "server"
    write_mnist_folder(server, n_train=30, n_test=10)
    overrides = {name: {"url": (server / name).as_uri()} for name in FASHION_MNIST_FILES.values()}  # the real checksums
    raw_folder = no_debian / "resources" / "raw" / "fashion_mnist"
    with pytest.raises(ChecksumMismatch, match=r"train-images-idx3-ubyte\.gz: checksum mismatch, expected "
                                               r"sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"):
        prepare_raw(FASHION_MNIST_RAW.with_overrides(overrides), raw_folder)
    assert not (raw_folder / "train-images-idx3-ubyte.gz").exists() and not (raw_folder / VERIFIED).exists()


def test_the_folder_option_still_reads_your_own_copy(no_debian):
    paths = write_mnist_folder(no_debian / "mine", n_train=20, n_test=10)
    options = {"folder": str(no_debian / "mine")}
    assert source_files("fashion_mnist", options) == [str(paths[key]) for key in FASHION_MNIST_FILES]
    assert source_sizes("fashion_mnist", options).n_classes == 10
    build_images("fashion_mnist", options, no_debian / "images.h5")
    assert read_image_file(no_debian / "images.h5").test_x.shape == (10, 784)


@pytest.mark.skipif(not DEBIAN_INSTALLED, reason=f"Fashion-MNIST not installed in {DEBIAN}/ (apt-get install dataset-fashion-mnist)")
def test_debian_files_are_preferred_when_installed():
    assert fashion_mnist_folder() == DEBIAN
    assert source_files("fashion_mnist", {}) == [str(DEBIAN / name) for name in FASHION_MNIST_FILES.values()]


@pytest.mark.skipif(not DEBIAN_INSTALLED, reason=f"Fashion-MNIST not installed in {DEBIAN}/ (apt-get install dataset-fashion-mnist)")
def test_the_checksums_are_those_of_the_original_files(no_debian):
    """Debian's copies with their stripped gzip header restored have the md5 published upstream:
    they are the original files, so their sha256 must be the ones the download checks."""
    server = no_debian / "server"
    server.mkdir()
    for name, md5 in UPSTREAM_MD5.items():
        original = original_from_debian(name)
        assert hashlib.md5(original).hexdigest() == md5
        assert gzip.decompress(original) == gzip.decompress((DEBIAN / name).read_bytes())
        (server / name).write_bytes(original)
    overrides = {name: {"url": (server / name).as_uri()} for name in UPSTREAM_MD5}  # URLs only: the built-in checksums
    record = prepare_raw(FASHION_MNIST_RAW.with_overrides(overrides), no_debian / "raw")
    assert {name: entry["md5"] for name, entry in record["files"].items()} == UPSTREAM_MD5


def test_a_partial_debian_install_falls_back_to_the_download(no_debian, monkeypatch):
    partial = no_debian / "partial"
    partial.mkdir()
    write_idx(partial / "train-labels-idx1-ubyte.gz", np.arange(10), LABELS_MAGIC)
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", partial)
    assert source_files("fashion_mnist", {}) == ["resources/raw/fashion_mnist/verified.json"]
