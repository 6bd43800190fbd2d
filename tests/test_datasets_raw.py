"""Raw data: checksums, manual placement, the resumable downloader (on a local HTTP server),
and every error path (wrong checksum, missing file, failed download, corrupt archive) — each
checked for its message and for leaving no partial output behind."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import threading
import urllib.error
from pathlib import Path

import pytest

from agem.data.datasets import RAW_DATASETS, build_images
from agem.data.datasets.cifar import CIFAR100_RAW
from agem.data.datasets.cub import CUB_RAW
from agem.data.datasets.idx import MNIST_RAW
from agem.data.datasets.raw import (
    VERIFIED,
    ChecksumMismatch,
    RawDataError,
    download,
    file_digests,
    prepare_raw,
)
from helpers.miniature_data import (
    sha256_of,
    truncate,
    write_awa2_archive,
    write_cifar100_archive,
    write_mnist_folder,
)


def leftovers(folder: Path) -> list[str]:
    """Files an interrupted write could leave: temporaries, partial downloads, verification records."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".part")) or p.name == VERIFIED)


def with_own_checksums(dataset, folder: Path):
    """The dataset's definition with checksums of the miniature files in ``folder``."""
    return dataset.with_overrides({f.name: {"checksum": sha256_of(folder / f.name)} for f in dataset.files})


# --- a local HTTP server with Range support ---------------------------------------------------------
class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files, honouring ``Range: bytes=N-`` with 206 (or ignoring it when ``ignore_range``)."""

    ignore_range = False
    requests: list[str | None] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        requested = self.headers.get("Range")
        type(self).requests.append(requested)
        if requested and not self.ignore_range:
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def http_server(tmp_path):
    """(base URL, served folder, handler class) of a server on 127.0.0.1 only."""
    served = tmp_path / "served"
    served.mkdir()
    handler = type("Handler", (RangeHandler,), {"requests": [], "ignore_range": False})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served, handler
    server.shutdown()
    server.server_close()


# --- checksums and registry ----------------------------------------------------------------------------
def test_official_checksums_match_torchvision():
    from torchvision.datasets import CIFAR100, MNIST

    assert {f.name: f.checksum for f in MNIST_RAW.files} == {name: f"md5:{md5}" for name, md5 in MNIST.resources}
    assert CIFAR100_RAW.files[0].name == CIFAR100.filename and CIFAR100_RAW.files[0].checksum == f"md5:{CIFAR100.tgz_md5}"
    # The old vision.caltech.edu address is dead; CaltechDATA's is the default.
    assert CUB_RAW.files[0].url == "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz"
    assert RAW_DATASETS["awa2"].files[0].url == "https://cvml.ista.ac.at/AwA2/AwA2-data.zip"


def test_overrides_are_checked():
    with pytest.raises(ValueError, match=r"downloads.cub: unknown file\(s\) \['CUB.tgz'\]"):
        CUB_RAW.with_overrides({"CUB.tgz": {"url": "x"}})
    with pytest.raises(ValueError, match="must look like 'md5:<hex>' or 'sha256:<hex>'"):
        CUB_RAW.with_overrides({"CUB_200_2011.tgz": {"checksum": "crc:1234"}})


# --- manual placement ------------------------------------------------------------------------------------
def test_manual_placement_is_used_and_recorded(tmp_path):
    folder = tmp_path / "raw" / "mnist"
    write_mnist_folder(folder)
    dataset = dataclasses.replace(with_own_checksums(MNIST_RAW, folder), fetch=pytest.fail)  # must not fetch
    record = prepare_raw(dataset, folder)
    written = json.loads((folder / VERIFIED).read_text())
    assert written == record and set(record["files"]) == {f.name for f in MNIST_RAW.files}
    for name, entry in record["files"].items():
        assert entry["sha256"] == file_digests(folder / name)["sha256"] and entry["checksum"] == "sha256:" + entry["sha256"]


def test_wrong_checksum_deletes_the_file_and_names_both_checksums(tmp_path):
    folder = tmp_path / "cifar100"
    archive = write_cifar100_archive(folder, per_class_train=1, per_class_test=1)
    actual = file_digests(archive)["md5"]
    # The miniature cannot have the official md5: exactly the error a corrupt download gives.
    with pytest.raises(ChecksumMismatch) as error:
        prepare_raw(CIFAR100_RAW, folder, download_missing=False)
    message = str(error.value)
    assert str(archive) in message
    assert "expected md5:eb9058c3a382ffc7106e4002c42a8d85" in message and f"actual md5:{actual}" in message
    assert not archive.exists() and leftovers(folder) == []


def test_missing_file_without_download_says_which_files_to_put_where(tmp_path):
    folder = tmp_path / "mnist"
    paths = write_mnist_folder(folder)
    paths["test_labels"].unlink()
    with pytest.raises(RawDataError) as error:
        prepare_raw(MNIST_RAW, folder, download_missing=False)
    message = str(error.value)
    assert "missing file(s) ['t10k-labels-idx1-ubyte.gz']" in message
    assert f"into {folder.resolve()}/" in message and "t10k-labels-idx1-ubyte.gz  (md5:ec29112dd5afa0611ce80d1b7f02629c)" in message
    assert "train-images-idx3-ubyte.gz  (" not in message  # only what is missing is listed
    assert leftovers(folder) == []


def test_failed_download_says_which_files_to_put_where(tmp_path):
    def offline(folder, missing):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    folder = tmp_path / "cub"
    with pytest.raises(RawDataError) as error:
        prepare_raw(dataclasses.replace(CUB_RAW, fetch=offline), folder)
    message = str(error.value)
    assert "could not download cub (URLError" in message
    assert f"into {folder.resolve()}/" in message
    assert "CUB_200_2011.tgz  (md5:97eceeb196236b17998738112f37df78)  from https://data.caltech.edu/" in message
    assert leftovers(folder) == []


# --- the downloader ------------------------------------------------------------------------------------------
def test_download_from_url_then_verify(tmp_path, http_server):
    url, served, _ = http_server
    archive = write_awa2_archive(served, n_classes=3, per_class=2)
    folder = tmp_path / "awa2"
    dataset = RAW_DATASETS["awa2"].with_overrides({"AwA2-data.zip": {"url": f"{url}/AwA2-data.zip", "checksum": sha256_of(archive)}})
    record = prepare_raw(dataset, folder)
    assert (folder / "AwA2-data.zip").read_bytes() == archive.read_bytes()
    assert record["files"]["AwA2-data.zip"]["md5"] == file_digests(archive)["md5"]
    assert leftovers(folder) == [VERIFIED]


def test_download_resumes_with_a_range_request(tmp_path, http_server):
    url, served, handler = http_server
    data = bytes(range(256)) * 4000
    (served / "big.bin").write_bytes(data)
    dest = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(data[:300_000])  # an interrupted earlier download
    download(f"{url}/big.bin", dest)
    assert dest.read_bytes() == data and not (tmp_path / "big.bin.part").exists()
    assert handler.requests == ["bytes=300000-"]


def test_download_restarts_when_the_server_ignores_the_range(tmp_path, http_server):
    url, served, handler = http_server
    handler.ignore_range = True
    data = b"0123456789" * 1000
    (served / "f.bin").write_bytes(data)
    (tmp_path / "f.bin.part").write_bytes(b"garbage-prefix")
    download(f"{url}/f.bin", tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == data


def test_downloaded_file_with_wrong_checksum_is_deleted(tmp_path, http_server):
    url, served, _ = http_server
    (served / "CUB_200_2011.tgz").write_bytes(b"not the real archive")
    folder = tmp_path / "cub"
    dataset = CUB_RAW.with_overrides({"CUB_200_2011.tgz": {"url": f"{url}/CUB_200_2011.tgz"}})
    with pytest.raises(ChecksumMismatch, match=r"CUB_200_2011.tgz: checksum mismatch, expected md5:97ecee\w+, actual md5:\w+"):
        prepare_raw(dataset, folder)
    assert not (folder / "CUB_200_2011.tgz").exists() and leftovers(folder) == []


def test_http_error_is_a_placement_error(tmp_path, http_server):
    url, _, _ = http_server
    dataset = CUB_RAW.with_overrides({"CUB_200_2011.tgz": {"url": f"{url}/moved.tgz"}})
    with pytest.raises(RawDataError, match=r"could not download cub \(HTTPError: HTTP Error 404"):
        prepare_raw(dataset, tmp_path / "cub")


# --- corrupt archives --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source, writer, name", [
    ("cifar100", write_cifar100_archive, "cifar-100-python.tar.gz"),
    ("awa2", write_awa2_archive, "AwA2-data.zip"),
])
def test_corrupt_archive_names_the_file_and_leaves_no_image_file(tmp_path, source, writer, name):
    folder = tmp_path / "raw"
    truncate(writer(folder))
    out = tmp_path / "images" / f"{source}.h5"
    with pytest.raises(RawDataError, match=rf"{folder / name}: .*(corrupt or truncated|missing file)"):
        build_images(source, {}, out, raw_dir=folder)
    assert not out.exists() and list(out.parent.glob("*")) == []
