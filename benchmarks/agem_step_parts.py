#!/usr/bin/env python
"""Time each part of an A-GEM step on the MLP with hand-written gradients (docs/speed.md).

A speed benchmark, not a test: random Permuted-MNIST-shaped inputs, 784-256-256-10, batch 10,
reference batch 256 drawn from a memory of 16 tasks × 250 examples; each part is run --repeats
times after a warm-up, in CPU time of this thread, one thread. Prints microseconds per call.
"""

import argparse
import time

import torch

from agem.methods.flat import FlatParameters
from agem.methods.mlp_gradients import hand_written_gradients, inner_product
from agem.methods.projection import agem_project_
from agem.networks.models import MLP


def per_call_us(fn, repeats: int) -> float:
    for _ in range(max(1, repeats // 10)):
        fn()
    start = time.thread_time()
    for _ in range(repeats):
        fn()
    return (time.thread_time() - start) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--memory", type=int, default=16 * 250, help="examples in the episodic memory")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = MLP(784, [256, 256], 10)
    flat = FlatParameters(model, grad_rows=2)
    gradients = hand_written_gradients(model, flat)
    memory_x, memory_y = torch.rand(args.memory, 784), torch.randint(0, 10, (args.memory,))
    x, y = torch.rand(10, 784), torch.randint(0, 10, (10,))
    generator = torch.Generator().manual_seed(0)

    def draw():
        chosen = torch.randperm(args.memory, generator=generator)[:256]
        return memory_x.index_select(0, chosen), memory_y.index_select(0, chosen)

    x_ref, y_ref = draw()
    reference, current = gradients.factors(x_ref, y_ref, None), gradients.factors(x, y, None)
    parts = {
        "draw the 256 reference examples": draw,
        "reference batch: forward and output derivatives": lambda: gradients.factors(x_ref, y_ref, None),
        "current batch: forward and output derivatives": lambda: gradients.factors(x, y, None),
        "current batch: write its gradient": lambda: gradients.write(current, 0),
        "g.g_ref from the factors, with its bound": lambda: inner_product(current, reference),
        "SGD step": lambda: flat.sgd_step(1e-9, 0),
        "only when it may project: write g_ref": lambda: gradients.write(reference, 1),
        "only when it may project: the projection": lambda: agem_project_(flat.grads[0], flat.grads[1]),
    }
    for name, fn in parts.items():
        print(f"{name:<52} {per_call_us(fn, args.repeats):9.1f} us")


if __name__ == "__main__":
    main()
