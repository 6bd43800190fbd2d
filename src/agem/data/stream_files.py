"""HDF5 task streams: one file holds every task of one benchmark for one stream seed.

Format (version 1) of ``results/streams/{dataset}/seed{seed}.h5``
---------------------------------------------------------------------
A stream stores its images once, as ``uint8``, and describes each task by index arrays into
them. A permuted benchmark adds one pixel permutation per task instead of 20 permuted copies
(20 × 55,000 × 784 float32 would be 3.4 GB on MNIST; docs/benchmarks.md#storage).

file attributes
    ``format_version`` = 1; ``benchmark`` (config name); ``source`` (where the images came from)
    and ``source_sha256`` (sha256 of the raw arrays, or of the source files); ``seed`` (stream
    seed: permutations and class order); ``layout`` ("permuted" | "split"); ``n_tasks``;
    ``n_cv_tasks`` (the first tasks, used only for hyper-parameter search, paper §2);
    ``n_outputs`` (width of the output layer); ``input_shape``; ``pixel_scale`` (inputs are
    ``(x / pixel_scale - mean) / std``); ``params`` (JSON of the creation parameters);
    ``created_by`` (package version); ``spec_sha256`` (optional: :func:`spec_digest` of
    ``params``, checked by every training job against its config);
    ``balanced_accuracy`` (optional, default false: test accuracy is the mean of per-class
    accuracies, as on Split AWA); ``images_on_disk`` (optional, default false: training reads
    the images from the file batch by batch instead of loading them, for Split CUB and AWA).
``base/``
    ``train_x``, ``test_x`` uint8 [N, *input_shape], chunked by whole images; ``train_y``,
    ``test_y`` int64 [N]; optional ``mean`` float32 [*input_shape], subtracted after scaling
    (Split CIFAR's mean image, the ImageNet mean on CUB and AWA); optional ``std`` float32
    [*input_shape], divided after the mean (torchvision's ImageNet weights expect it); optional
    ``attributes`` float32 [n_classes, A], one L2-normalised attribute row per base label
    (CUB 200×312, AWA 50×85; the -JE heads, paper §5). ``train_x`` and ``test_x`` may be HDF5
    external links (relative to the stream's folder) into a shared image file, so that the
    streams of all seeds store 224×224 images once (docs/benchmarks.md#storage).
``tasks/{k:03d}/`` for k = 0 .. n_tasks-1 (CV tasks first, then evaluation tasks)
    attributes ``role`` ("cv" | "eval"), ``classes`` (output units the task uses; the others are
    masked out, paper §2 multi-head setting), ``label_offset`` (added to base labels);
    datasets ``train_index``, ``test_index`` (int64 rows of ``base``) and, for the permuted
    layout, ``permutation`` (int64 [prod(input_shape)], applied to the flattened input).

:func:`write_stream` writes atomically; :func:`load_stream` checks the version and every shape
and raises :class:`StreamFormatError` naming the problem.

All additions to version 1 are optional, so files written before them still load unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from agem import __version__
from agem.io.atomic import atomic_hdf5, atomic_output, require_free_space

STREAM_FORMAT_VERSION = 1
LAYOUTS = ("permuted", "split")
ROLES = ("cv", "eval")


class StreamFormatError(ValueError):
    """A stream file is missing, corrupt, of another format version, or inconsistent."""


# Chunks of whole images, about this many bytes each: 64 digits / MNIST / CIFAR images per chunk,
# one 224×224 image per chunk, so that a random batch of CUB or AWA reads only its own images.
CHUNK_BYTES = 256 * 1024
MAX_IMAGES_PER_CHUNK = 64


class DiskImages:
    """One base image set left in an HDF5 file and read by rows, batch by batch.

    Split CUB and AWA are 1.8 and 5.6 GB as uint8 at 224×224 (docs/benchmarks.md#storage); they stay on
    disk. ``path`` is the file to open and ``name`` the dataset in it (which may be an external
    link into a shared image file).
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, path: str | Path, name: str, shape: tuple[int, ...]):
        self.path = Path(path)
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        self._file: h5py.File | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def _dataset(self) -> h5py.Dataset:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        return self._file[self.name]

    def __getitem__(self, rows) -> np.ndarray:
        """The images at ``rows`` (any order, repeats allowed), as a uint8 array."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size == 0:
            return np.empty((0, *self.shape[1:]), dtype=np.uint8)
        unique, inverse = np.unique(rows, return_inverse=True)
        dataset = self._dataset()
        if unique[-1] - unique[0] < 2 * len(unique):
            # Nearly contiguous rows (test sets, sorted task indices): one slice read.
            block = dataset[unique[0] : unique[-1] + 1][unique - unique[0]]
        else:
            # Row by row: h5py's fancy indexing (dataset[rows]) took 53 ms for 10 rows of 224×224
            # images, single-row reads 0.14 ms in all.
            block = np.empty((len(unique), *self.shape[1:]), dtype=np.uint8)
            for i, row in enumerate(unique):
                dataset.read_direct(block, np.s_[int(row)], np.s_[i])
        return block[inverse]

    def __getstate__(self) -> dict:  # an open HDF5 handle cannot be pickled; reopen on use
        return {**self.__dict__, "_file": None}


def _rows_per_chunk(image_shape: tuple[int, ...]) -> int:
    return int(max(1, min(MAX_IMAGES_PER_CHUNK, CHUNK_BYTES // max(1, int(np.prod(image_shape))))))


def write_images(group: h5py.Group, name: str, images, target: Path) -> None:
    """Write one uint8 image set as ``group[name]``, chunked by whole images.

    ``images`` is an array, a :class:`DiskImages` (written as an external link relative to
    ``target``, the final path of the file being written), or a lazy set with ``shape`` and
    ``write_into(dataset)`` that decodes its images straight into the file (JPEG archives), so
    that no image set has to fit in memory.
    """
    if isinstance(images, DiskImages):
        group[name] = h5py.ExternalLink(os.path.relpath(images.path.resolve(), target.resolve().parent), images.name)
        return
    shape = tuple(int(s) for s in images.shape)
    rows = _rows_per_chunk(shape[1:])
    dataset = group.create_dataset(name, shape=shape, dtype=np.uint8, chunks=(max(1, min(shape[0], rows)), *shape[1:]))
    if isinstance(images, np.ndarray):
        block = rows * 64
        for start in range(0, shape[0], block):
            dataset[start : start + block] = images[start : start + block].astype(np.uint8, copy=False)
    else:
        images.write_into(dataset)


def write_base(f: h5py.File, raw: RawImages, target: Path) -> None:
    """The ``base/`` group of a stream or of a shared image file (see the module docstring)."""
    f.attrs["source"] = raw.source
    f.attrs["source_sha256"] = raw.source_sha256
    f.attrs["input_shape"] = np.asarray(raw.train_x.shape[1:], dtype=np.int64)
    f.attrs["pixel_scale"] = float(raw.pixel_scale)
    base = f.create_group("base")
    for name in ("train_x", "test_x"):
        write_images(base, name, getattr(raw, name), target)
    base.create_dataset("train_y", data=np.asarray(raw.train_y, dtype=np.int64))
    base.create_dataset("test_y", data=np.asarray(raw.test_y, dtype=np.int64))
    for name in ("mean", "std", "attributes"):
        value = getattr(raw, name)
        if value is not None:
            base.create_dataset(name, data=np.asarray(value, dtype=np.float32))


@dataclass
class TaskSpec:
    """One task as stored in a stream: rows of the base set, its classes, its permutation."""

    role: str
    classes: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    permutation: np.ndarray | None = None
    label_offset: int = 0


@dataclass
class RawImages:
    """A benchmark's source images before they are cut into tasks."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    pixel_scale: float
    source: str
    source_sha256: str
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    attributes: np.ndarray | None = None


@dataclass
class StreamHeader:
    benchmark: str
    seed: int
    layout: str
    n_outputs: int
    params: dict = field(default_factory=dict)
    balanced_accuracy: bool = False
    images_on_disk: bool = False


def write_stream(path: str | Path, header: StreamHeader, raw: RawImages, tasks: Sequence[TaskSpec]) -> None:
    """Write a stream file atomically (temporary file + rename)."""
    if header.layout not in LAYOUTS:
        raise StreamFormatError(f"layout must be one of {LAYOUTS}, got {header.layout!r}")
    # Built in memory: a full disk is then a Python OSError, not a failure inside HDF5's clean-up.
    with atomic_hdf5(path) as f:
        f.attrs["format_version"] = STREAM_FORMAT_VERSION
        f.attrs["benchmark"] = header.benchmark
        f.attrs["seed"] = int(header.seed)
        f.attrs["layout"] = header.layout
        f.attrs["n_tasks"] = len(tasks)
        f.attrs["n_cv_tasks"] = sum(task.role == "cv" for task in tasks)
        f.attrs["n_outputs"] = int(header.n_outputs)
        f.attrs["params"] = json.dumps(header.params, sort_keys=True)
        f.attrs["spec_sha256"] = spec_digest(header.params)
        f.attrs["balanced_accuracy"] = bool(header.balanced_accuracy)
        f.attrs["images_on_disk"] = bool(header.images_on_disk)
        f.attrs["created_by"] = f"agem-repro {__version__}"
        write_base(f, raw, Path(path))
        group = f.create_group("tasks")
        for k, task in enumerate(tasks):
            g = group.create_group(f"{k:03d}")
            g.attrs["role"] = task.role
            g.attrs["classes"] = np.asarray(task.classes, dtype=np.int64)
            g.attrs["label_offset"] = int(task.label_offset)
            # Compressed: a permuted task's index is 0..N-1 (Fashion-MNIST: 12 MB of 20 tasks → 0.2 MB).
            for name in ("train_index", "test_index"):
                g.create_dataset(name, data=np.asarray(getattr(task, name), dtype=np.int64), compression="gzip", shuffle=True)
            if task.permutation is not None:
                g.create_dataset("permutation", data=np.asarray(task.permutation, dtype=np.int64))


def write_image_file(path: str | Path, raw: RawImages) -> None:
    """Write a benchmark's decoded images once, for the streams of every seed to link to.

    The file holds the ``base/`` group of the stream format (images, labels, mean, std,
    attributes) and its attributes ``source``, ``source_sha256``, ``input_shape`` and
    ``pixel_scale``; written atomically.
    """
    # Too large to build in memory (AwA2: 5.6 GB): check the space it needs first.
    require_free_space(path, sum(int(np.prod(x.shape)) for x in (raw.train_x, raw.test_x)))
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["created_by"] = f"agem-repro {__version__}"
        write_base(f, raw, Path(path))


def read_image_file(path: str | Path) -> RawImages:
    """A shared image file's contents: labels and statistics in memory, images as :class:`DiskImages`."""
    path = Path(path)
    with _open_for_reading(path, "image file", "build_images") as f:
        missing = [f"base/{n}" for n in ("train_x", "test_x", "train_y", "test_y") if f"base/{n}" not in f]
        missing += [a for a in ("source", "source_sha256", "pixel_scale") if a not in f.attrs]
        if missing:
            raise StreamFormatError(f"image file {path} lacks {missing}; delete it and rebuild it")
        optional = {name: f[f"base/{name}"][()] if f"base/{name}" in f else None for name in ("mean", "std", "attributes")}
        return RawImages(
            DiskImages(path, "base/train_x", f["base/train_x"].shape), f["base/train_y"][()],
            DiskImages(path, "base/test_x", f["base/test_x"].shape), f["base/test_y"][()],
            float(f.attrs["pixel_scale"]), str(f.attrs["source"]), str(f.attrs["source_sha256"]), **optional,
        )


def _open_for_reading(path: Path, what: str, rule: str) -> h5py.File:
    """Open a stream or image file, or raise :class:`StreamFormatError` saying how to recreate it."""
    if not path.is_file():
        raise StreamFormatError(f"{what} {path} does not exist; build it with the '{rule}' rule")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise StreamFormatError(
            f"{what} {path}: not a readable HDF5 file ({exc}); delete the file and rebuild it with the '{rule}' rule"
        ) from exc


def spec_digest(spec: dict) -> str:
    """sha256 of a benchmark's stream spec (the config entry a stream is built from), canonical JSON."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class StreamMismatchError(StreamFormatError):
    """A valid stream file that is not the stream a job asked for (another benchmark, seed or spec)."""


def check_stream_identity(path: str | Path, benchmark: str, seed: int, spec_sha256: str | None) -> None:
    """Raise :class:`StreamMismatchError` unless the stream at ``path`` was built for ``benchmark``,
    ``seed`` and (if given) the spec with digest ``spec_sha256``: a stream copied or moved over
    another must not train silently under the wrong name."""
    path = Path(path)
    fix = f"delete {path} and rerun snakemake to rebuild it (rule build_stream)"
    with _open_for_reading(path, "task stream", "build_stream") as f:
        built_for = str(f.attrs.get("benchmark", ""))
        built_seed = int(f.attrs.get("seed", -1))
        built_spec = str(f.attrs["spec_sha256"]) if "spec_sha256" in f.attrs else spec_digest(json.loads(f.attrs.get("params", "{}")))
    if built_for != benchmark:
        raise StreamMismatchError(f"{path} is the stream of benchmark {built_for!r}, but this job trains {benchmark!r}; {fix}")
    if built_seed != seed:
        raise StreamMismatchError(f"{path} was built with seed {built_seed}, but this job trains seed {seed}; {fix}")
    if spec_sha256 is not None and built_spec != spec_sha256:
        raise StreamMismatchError(
            f"{path} was built from another benchmarks.{benchmark} spec than the config's "
            f"(stream {built_spec[:12]}, config {spec_sha256[:12]}); {fix}"
        )


def _fail(path: Path, problem: str) -> StreamFormatError:
    return StreamFormatError(f"task stream {path}: {problem}; delete the file and rebuild it with the 'build_stream' rule")


def _read_tasks(f: h5py.File, path: Path, n_train: int, n_test: int, dim: int, n_outputs: int, layout: str) -> list[TaskSpec]:
    n_tasks = int(f.attrs["n_tasks"])
    if "tasks" not in f or len(f["tasks"]) != n_tasks:
        raise _fail(path, f"expected {n_tasks} task groups under 'tasks/'")
    tasks = []
    for k in range(n_tasks):
        g = f["tasks"].get(f"{k:03d}")
        if g is None:
            raise _fail(path, f"task group 'tasks/{k:03d}' is missing")
        role = str(g.attrs.get("role", ""))
        if role not in ROLES:
            raise _fail(path, f"task {k} has role {role!r}, expected one of {ROLES}")
        classes = np.asarray(g.attrs["classes"], dtype=np.int64)
        if classes.size == 0 or classes.min() < 0 or classes.max() >= n_outputs:
            raise _fail(path, f"task {k} classes {classes.tolist()} are not within the {n_outputs} outputs")
        indices = {}
        for split, size in (("train_index", n_train), ("test_index", n_test)):
            if split not in g:
                raise _fail(path, f"task {k} lacks dataset '{split}'")
            index = g[split][()]
            if index.ndim != 1 or index.size == 0 or index.min() < 0 or index.max() >= size:
                raise _fail(path, f"task {k} '{split}' must be a non-empty 1-D index into {size} base rows")
            indices[split] = index
        permutation = None
        if layout == "permuted":
            if "permutation" not in g:
                raise _fail(path, f"task {k} of a permuted stream lacks its 'permutation'")
            permutation = g["permutation"][()]
            if permutation.shape != (dim,) or not np.array_equal(np.sort(permutation), np.arange(dim)):
                raise _fail(path, f"task {k} 'permutation' is not a permutation of {dim} inputs")
        tasks.append(
            TaskSpec(role, classes, indices["train_index"], indices["test_index"], permutation, int(g.attrs.get("label_offset", 0)))
        )
    if [t.role for t in tasks] != sorted((t.role for t in tasks), key=ROLES.index):
        raise _fail(path, "CV tasks must come before evaluation tasks")
    return tasks


@dataclass
class StreamFile:
    """A stream file's contents, validated, as NumPy arrays."""

    path: Path
    attrs: dict
    raw: RawImages
    tasks: list[TaskSpec]

    @property
    def n_outputs(self) -> int:
        return int(self.attrs["n_outputs"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.attrs["input_shape"])


def _image_set(f: h5py.File, path: Path, name: str, in_memory: bool):
    """``base/{name}`` read into memory, or left on disk as :class:`DiskImages`."""
    key = f"base/{name}"
    if "base" not in f or name not in f["base"]:
        raise _fail(path, f"missing dataset '{key}'")
    try:
        dataset = f[key]
    except KeyError as exc:  # an external link whose image file is gone
        link = f.get(key, getlink=True)
        target = getattr(link, "filename", "?")
        raise _fail(path, f"'{key}' links to {target} ({(path.parent / target).resolve()}), which does not exist or cannot be read") from exc
    return dataset[()] if in_memory else DiskImages(path, key, dataset.shape)


def read_stream(path: str | Path, images_on_disk: bool | None = None) -> StreamFile:
    """Read and validate a stream file.

    Images are loaded into memory unless ``images_on_disk`` (default: the file's
    ``images_on_disk`` attribute) leaves them in the file as :class:`DiskImages`.
    """
    path = Path(path)
    with _open_for_reading(path, "task stream", "build_stream") as f:
        version = f.attrs.get("format_version")
        if isinstance(version, np.generic):  # show 2, not np.int64(2), in the message
            version = version.item()
        if version != STREAM_FORMAT_VERSION:
            raise _fail(path, f"format version {version!r}, but this code reads version {STREAM_FORMAT_VERSION}")
        attrs = {key: f.attrs[key] for key in f.attrs}
        required = ("benchmark", "layout", "n_tasks", "n_cv_tasks", "n_outputs", "input_shape", "pixel_scale", "seed")
        missing = [key for key in required if key not in attrs]
        if missing:
            raise _fail(path, f"missing attribute(s) {missing}")
        layout = str(attrs["layout"])
        if layout not in LAYOUTS:
            raise _fail(path, f"layout {layout!r} is not one of {LAYOUTS}")
        on_disk = bool(attrs.get("images_on_disk", False)) if images_on_disk is None else images_on_disk
        arrays = {}
        for name in ("train_x", "test_x"):
            arrays[name] = _image_set(f, path, name, in_memory=not on_disk)
        for name in ("train_y", "test_y"):
            if f"base/{name}" not in f:
                raise _fail(path, f"missing dataset 'base/{name}'")
            arrays[name] = f[f"base/{name}"][()]
        input_shape = tuple(int(s) for s in attrs["input_shape"])
        for split in ("train", "test"):
            x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
            if x.shape[1:] != input_shape or x.dtype != np.uint8:
                raise _fail(path, f"'base/{split}_x' has shape {x.shape} {x.dtype}, expected [N, {input_shape}] uint8")
            if y.shape != (x.shape[0],):
                raise _fail(path, f"'base/{split}_y' has shape {y.shape}, expected ({x.shape[0]},) to match '{split}_x'")
        optional = {name: f[f"base/{name}"][()] if f"base/{name}" in f else None for name in ("mean", "std", "attributes")}
        for name in ("mean", "std"):
            if optional[name] is not None and optional[name].shape != input_shape:
                raise _fail(path, f"'base/{name}' has shape {optional[name].shape}, expected {input_shape}")
        raw = RawImages(
            arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"],
            float(attrs["pixel_scale"]), str(attrs.get("source", "")), str(attrs.get("source_sha256", "")), **optional,
        )
        n_outputs = int(attrs["n_outputs"])
        for split in ("train", "test"):
            labels = arrays[f"{split}_y"]
            if labels.size and (labels.min() < 0 or labels.max() >= n_outputs):
                raise _fail(path, f"'base/{split}_y' has labels outside 0..{n_outputs - 1}")
        attributes = optional["attributes"]
        n_labels = max(int(arrays[f"{s}_y"].max(initial=-1)) for s in ("train", "test")) + 1
        if attributes is not None and (attributes.ndim != 2 or attributes.shape[0] < n_labels):
            raise _fail(path, f"'base/attributes' has shape {attributes.shape}, expected one row per label ({n_labels}, A)")
        tasks = _read_tasks(f, path, len(raw.train_y), len(raw.test_y), int(np.prod(input_shape)), n_outputs, layout)
        if int(attrs["n_cv_tasks"]) != sum(t.role == "cv" for t in tasks):
            raise _fail(path, "attribute n_cv_tasks does not match the tasks' roles")
        return StreamFile(path, attrs, raw, tasks)
