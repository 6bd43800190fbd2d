"""HDF5 task streams: one file holds every task of one benchmark for one stream seed.

Format (version 1) of ``results/streams/{dataset}/seed{seed}.h5``
---------------------------------------------------------------------
A stream stores its images once, as ``uint8``, and describes each task by index arrays into
them. A permuted benchmark adds one pixel permutation per task instead of 20 permuted copies
(20 × 55,000 × 784 float32 would be 3.4 GB on MNIST; agem-paper.md §10).

file attributes
    ``format_version`` = 1; ``benchmark`` (config name); ``source`` (where the images came from)
    and ``source_sha256`` (checksum of the raw arrays); ``seed`` (stream seed: permutations and
    class order); ``layout`` ("permuted" | "split"); ``n_tasks``; ``n_cv_tasks`` (the first
    tasks, used only for hyper-parameter search, paper §2); ``n_outputs`` (width of the output
    layer); ``input_shape``; ``pixel_scale`` (inputs are ``x / pixel_scale - mean``);
    ``params`` (JSON of the creation parameters); ``created_by`` (package version);
    ``balanced_accuracy`` (optional, default false: test accuracy is the mean of per-class
    accuracies, as on Split AWA).
``base/``
    ``train_x``, ``test_x`` uint8 [N, *input_shape]; ``train_y``, ``test_y`` int64 [N];
    optional ``mean`` float32 [*input_shape], subtracted after scaling (Split CIFAR's mean image).
``tasks/{k:03d}/`` for k = 0 .. n_tasks-1 (CV tasks first, then evaluation tasks)
    attributes ``role`` ("cv" | "eval"), ``classes`` (output units the task uses; the others are
    masked out, paper §2 multi-head setting), ``label_offset`` (added to base labels);
    datasets ``train_index``, ``test_index`` (int64 rows of ``base``) and, for the permuted
    layout, ``permutation`` (int64 [prod(input_shape)], applied to the flattened input).

:func:`write_stream` writes atomically; :func:`load_stream` checks the version and every shape
and raises :class:`StreamFormatError` naming the problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from agem import __version__
from agem.atomic import atomic_output

STREAM_FORMAT_VERSION = 1
LAYOUTS = ("permuted", "split")
ROLES = ("cv", "eval")


class StreamFormatError(ValueError):
    """A stream file is missing, corrupt, of another format version, or inconsistent."""


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


@dataclass
class StreamHeader:
    benchmark: str
    seed: int
    layout: str
    n_outputs: int
    params: dict = field(default_factory=dict)
    balanced_accuracy: bool = False


def write_stream(path: str | Path, header: StreamHeader, raw: RawImages, tasks: Sequence[TaskSpec]) -> None:
    """Write a stream file atomically (temporary file + rename)."""
    if header.layout not in LAYOUTS:
        raise StreamFormatError(f"layout must be one of {LAYOUTS}, got {header.layout!r}")
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format_version"] = STREAM_FORMAT_VERSION
            f.attrs["benchmark"] = header.benchmark
            f.attrs["source"] = raw.source
            f.attrs["source_sha256"] = raw.source_sha256
            f.attrs["seed"] = int(header.seed)
            f.attrs["layout"] = header.layout
            f.attrs["n_tasks"] = len(tasks)
            f.attrs["n_cv_tasks"] = sum(task.role == "cv" for task in tasks)
            f.attrs["n_outputs"] = int(header.n_outputs)
            f.attrs["input_shape"] = np.asarray(raw.train_x.shape[1:], dtype=np.int64)
            f.attrs["pixel_scale"] = float(raw.pixel_scale)
            f.attrs["params"] = json.dumps(header.params, sort_keys=True)
            f.attrs["balanced_accuracy"] = bool(header.balanced_accuracy)
            f.attrs["created_by"] = f"agem-repro {__version__}"
            base = f.create_group("base")
            for name in ("train_x", "test_x"):
                images = getattr(raw, name)
                # Chunks of whole images let large benchmarks be read batch by batch later.
                base.create_dataset(name, data=images.astype(np.uint8), chunks=(min(len(images), 64), *images.shape[1:]))
            base.create_dataset("train_y", data=raw.train_y.astype(np.int64))
            base.create_dataset("test_y", data=raw.test_y.astype(np.int64))
            if raw.mean is not None:
                base.create_dataset("mean", data=raw.mean.astype(np.float32))
            group = f.create_group("tasks")
            for k, task in enumerate(tasks):
                g = group.create_group(f"{k:03d}")
                g.attrs["role"] = task.role
                g.attrs["classes"] = np.asarray(task.classes, dtype=np.int64)
                g.attrs["label_offset"] = int(task.label_offset)
                g.create_dataset("train_index", data=np.asarray(task.train_index, dtype=np.int64))
                g.create_dataset("test_index", data=np.asarray(task.test_index, dtype=np.int64))
                if task.permutation is not None:
                    g.create_dataset("permutation", data=np.asarray(task.permutation, dtype=np.int64))


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


def read_stream(path: str | Path) -> StreamFile:
    path = Path(path)
    if not path.is_file():
        raise StreamFormatError(f"task stream {path} does not exist; build it with the 'build_stream' rule")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _fail(path, f"not a readable HDF5 file ({exc})") from exc
    with f:
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
        arrays = {}
        for name in ("train_x", "train_y", "test_x", "test_y"):
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
        mean = f["base/mean"][()] if "base/mean" in f else None
        if mean is not None and mean.shape != input_shape:
            raise _fail(path, f"'base/mean' has shape {mean.shape}, expected {input_shape}")
        raw = RawImages(
            arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"],
            float(attrs["pixel_scale"]), str(attrs.get("source", "")), str(attrs.get("source_sha256", "")), mean,
        )
        n_outputs = int(attrs["n_outputs"])
        for split in ("train", "test"):
            labels = arrays[f"{split}_y"]
            if labels.size and (labels.min() < 0 or labels.max() >= n_outputs):
                raise _fail(path, f"'base/{split}_y' has labels outside 0..{n_outputs - 1}")
        tasks = _read_tasks(f, path, len(raw.train_y), len(raw.test_y), int(np.prod(input_shape)), n_outputs, layout)
        if int(attrs["n_cv_tasks"]) != sum(t.role == "cv" for t in tasks):
            raise _fail(path, "attribute n_cv_tasks does not match the tasks' roles")
        return StreamFile(path, attrs, raw, tasks)


class Task:
    """One task of a loaded stream, its inputs normalised and permuted on the fly, on ``device``."""

    def __init__(self, stream: "TaskStream", index: int, spec: TaskSpec):
        self.stream = stream
        self.index = index
        self.role = spec.role
        device = stream.device
        self.classes = torch.as_tensor(spec.classes, device=device)
        self.label_offset = spec.label_offset
        self.train_index = torch.as_tensor(spec.train_index, device=device)
        self.test_index = torch.as_tensor(spec.test_index, device=device)
        self.permutation = None if spec.permutation is None else torch.as_tensor(spec.permutation, device=device)

    @property
    def n_train(self) -> int:
        return len(self.train_index)

    @property
    def n_test(self) -> int:
        return len(self.test_index)

    def _gather(self, split: str, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = (self.train_index if split == "train" else self.test_index)[positions]
        x = self.stream.normalise(self.stream.base_x[split][rows])
        if self.permutation is not None:
            x = x.flatten(1)[:, self.permutation].view_as(x)
        return x, self.stream.base_y[split][rows] + self.label_offset

    def train_batch(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and labels of the training examples at ``positions`` (0 .. n_train-1)."""
        return self._gather("train", positions)

    def test_batches(self, batch_size: int = 2048) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, self.n_test, batch_size):
            positions = torch.arange(start, min(start + batch_size, self.n_test), device=self.stream.device)
            yield self._gather("test", positions)

    def train_labels(self) -> torch.Tensor:
        return self.stream.base_y["train"][self.train_index] + self.label_offset


class TaskStream:
    """A validated stream held on ``device``: base images as uint8, tasks as index arrays."""

    def __init__(self, stream_file: StreamFile, device: torch.device | str = "cpu"):
        self.file = stream_file
        self.device = torch.device(device)
        raw = stream_file.raw
        self.benchmark = str(stream_file.attrs["benchmark"])
        self.n_outputs = stream_file.n_outputs
        self.input_shape = stream_file.input_shape
        self.base_x = {"train": torch.as_tensor(raw.train_x, device=self.device), "test": torch.as_tensor(raw.test_x, device=self.device)}
        self.base_y = {"train": torch.as_tensor(raw.train_y, device=self.device), "test": torch.as_tensor(raw.test_y, device=self.device)}
        self.pixel_scale = raw.pixel_scale
        self.balanced_accuracy = bool(stream_file.attrs.get("balanced_accuracy", False))
        self.mean = None if raw.mean is None else torch.as_tensor(raw.mean, device=self.device)
        self.tasks = [Task(self, k, spec) for k, spec in enumerate(stream_file.tasks)]
        self.output_masks = self._output_masks()

    def _output_masks(self) -> torch.Tensor | None:
        """[n_tasks, n_outputs] booleans, or None when every task uses every output (shared head)."""
        masks = torch.zeros(len(self.tasks), self.n_outputs, dtype=torch.bool, device=self.device)
        for k, task in enumerate(self.tasks):
            masks[k, task.classes] = True
        return None if bool(masks.all()) else masks

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / self.pixel_scale
        return x if self.mean is None else x - self.mean

    def role_tasks(self, role: str) -> list[Task]:
        return [task for task in self.tasks if task.role == role]


def load_stream(path: str | Path, device: torch.device | str = "cpu") -> TaskStream:
    """Read and validate a stream file and place it on ``device``."""
    return TaskStream(read_stream(path), device)
