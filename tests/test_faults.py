"""Faults: a full disk, a corrupt bundle, wrong raw files placed by hand. Each asserts the
message and that nothing was left behind and no finished result was lost."""

from __future__ import annotations

import copy
import hashlib
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from agem.data.datasets import build_stream
from agem.data.datasets.idx import MNIST_RAW
from agem.data.datasets.raw import RawDataError, prepare_raw
from agem.data.stream_files import RawImages, write_image_file
from agem.io.atomic import write_bytes
from agem.runs.bundle import BundleError, export_bundle, import_bundle
from agem.runs.runfile import write_run
from helpers.miniature_data import write_mnist_folder
from helpers.runs import RECORDS, write_records
from helpers.streams import SPECS


def sha256s(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    folder = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=False, capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'mount failed'}); run as root to test a full disk")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_stream_onto_a_full_disk_says_so_and_leaves_nothing(full_disk):
    out = full_disk / "streams" / "seed1.h5"
    with pytest.raises(OSError, match=rf"no space left on device writing {out} \(.* bytes\); free space"):
        build_stream("split_digits", {**SPECS["split"]}, 1, out)
    assert list(out.parent.iterdir()) == []  # no hidden .seed1.h5.*.tmp


def test_run_file_onto_a_full_disk_keeps_the_previous_good_one(full_disk):
    runs = full_disk / "runs"
    good = write_records(runs, RECORDS[:1])[0]
    before = sha256s(runs)
    record = copy.deepcopy(RECORDS[1])  # made too big for the disk by a long accuracy curve
    record.acc_curve = np.zeros((100_000, record.acc_final.shape[0]))
    record.curve_step = np.arange(100_000)
    with pytest.raises(OSError, match=rf"no space left on device writing {good}"):
        write_run(good, record)
    assert sha256s(runs) == before  # the good run is untouched, no temporary file


def test_checkpoint_onto_a_full_disk_is_a_clear_oserror(full_disk):
    target = full_disk / "checkpoints" / "seed1.pt"
    with pytest.raises(OSError, match=rf"no space left on device writing {target} \(1,048,576 bytes\)"):
        write_bytes(target, bytes(1 << 20))
    assert list(target.parent.iterdir()) == []


def test_image_file_checks_free_space_before_writing(full_disk):
    raw = RawImages(np.zeros((200, 28, 28), np.uint8), np.zeros(200, np.int64), np.zeros((50, 28, 28), np.uint8),
                    np.zeros(50, np.int64), 255.0, "test", "0" * 64)
    out = full_disk / "images" / "x.h5"
    with pytest.raises(OSError, match=rf"no space left on device writing {out} \(196,000 bytes\)"):
        write_image_file(out, raw)
    assert list(out.parent.iterdir()) == []


def test_bundle_with_a_corrupt_gzip_stream_says_the_archive_is_corrupt(tmp_path):
    project = tmp_path / "project"
    runs = write_records(project / "results" / "runs", RECORDS[:4])
    bundle = export_bundle(tmp_path / "bundle.tar.gz", runs, {"seeds": [0]}, project)
    data = bytearray(bundle.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # a damaged block in the middle of the deflate stream
    bundle.write_bytes(bytes(data))
    target = tmp_path / "fresh"
    with pytest.raises(BundleError, match=rf"{bundle} is corrupt: its gzip stream cannot be decompressed .*; copy or download it again"):
        import_bundle(bundle, target)
    assert not target.exists() or sha256s(target) == {}


def test_wrong_raw_file_is_reported_with_the_missing_ones(tmp_path):
    folder = tmp_path / "mnist"
    paths = write_mnist_folder(folder)  # miniature files: wrong checksums for MNIST
    paths["test_labels"].unlink()
    paths["train_labels"].rename(folder / "train-labels.gz")  # misnamed
    with pytest.raises(RawDataError) as error:
        prepare_raw(MNIST_RAW, folder, download_missing=False)
    message = str(error.value)
    assert "missing file(s) ['train-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte.gz']" in message
    assert f"{folder / 'train-labels.gz'}: not a file of mnist (a misnamed file?" in message
    assert f"{folder / 'train-images-idx3-ubyte.gz'}: checksum mismatch, expected md5:f68b3c2dcbeaaa9fbdd348bbdeb94873" in message
    assert (folder / "train-images-idx3-ubyte.gz").exists()  # a hand-placed file is reported, not deleted
