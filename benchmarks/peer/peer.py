#!/usr/bin/env python
"""Side by side with Avalanche 0.6.0: VAN, A-GEM and GEM on the same stream, network, weights.

Runs in the peer venv (benchmarks/peer/README.md: avalanche-lib==0.6.0 + h5py, this package on
PYTHONPATH). For every seed and method it trains, one after the other in this process with one
thread each:

* this pipeline: :func:`agem.training.loop.train_run` on the stream file's evaluation tasks;
* Avalanche: ``Naive`` / ``AGEM`` / ``GEM`` on exactly the same task tensors (gathered from the
  stream with the pipeline's own :meth:`Task.train_batch`), from the same initial weights (the
  network the pipeline builds from the seed), with the same learning rate, batch size 10, one
  epoch, 250 memories per task, A-GEM's reference batch of 256 and GEM's margin 0.5.

Both are evaluated the same way after every task (test accuracy on every task so far, one head),
giving A_T and F_T (paper §3). Time is the training alone (evaluation excluded) in wall seconds and
in this thread's CPU seconds: on a shared machine the CPU ratio is the one to trust.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from agem.data.streams import Task, TaskStream, load_stream
from agem.networks.models import build_network
from agem.runs.metrics import average_accuracy_per_task, forgetting_per_task
from agem.training import loop
from agem.training.loop import train_run
from agem.training.settings import TrainSettings

NETWORK = {"type": "mlp", "hidden": [256, 256]}
HPARAMS = {"van": {"lr": 0.03}, "agem": {"lr": 0.1, "ref_batch_size": 256}, "gem": {"lr": 0.1, "margin": 0.5, "eps": 1e-3}}
MEMORY_PER_TASK = 250
BATCH_SIZE = 10


class DualClock(loop.Clock):
    """The loop's training clock, keeping this thread's CPU time next to the wall time."""

    def __init__(self, device):
        super().__init__(device)
        self.cpu_total, self._cpu_started = 0.0, None

    def resume(self) -> None:
        super().resume()
        self._cpu_started = time.thread_time()

    def pause(self) -> None:
        if self._cpu_started is not None:
            self.cpu_total += time.thread_time() - self._cpu_started
            self._cpu_started = None
        super().pause()


def initial_network(stream: TaskStream, seed: int) -> torch.nn.Module:
    """The network train_run starts from for ``seed`` (same seed derivation as the loop's set-up)."""
    init_seed = np.random.SeedSequence(seed).generate_state(3)[0]
    torch.manual_seed(int(init_seed))
    return build_network(NETWORK, stream.input_shape, stream.n_outputs)


def task_tensors(task: Task) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x_train, y_train = task.train_batch(torch.arange(task.n_train))
    x_test, y_test = (torch.cat(parts) for parts in zip(*task.test_batches()))
    return x_train, y_train, x_test, y_test


def summary(acc: np.ndarray, train_wall: float, train_cpu: float) -> dict:
    return {"A_T": float(average_accuracy_per_task(acc)[-1]), "F_T": float(np.nanmean(forgetting_per_task(acc)[-1:])),
            "train_wall_s": train_wall, "train_cpu_s": train_cpu, "acc": acc.tolist()}


def run_ours(stream: TaskStream, method: str, seed: int, hparams: dict) -> dict:
    clocks = []

    class Recording(DualClock):
        def __init__(self, device):
            super().__init__(device)
            clocks.append(self)

    loop.Clock = Recording
    try:
        record = train_run(stream, method, hparams, NETWORK, MEMORY_PER_TASK, TrainSettings(), seed, log=lambda _: None)
    finally:
        loop.Clock = DualClock.__mro__[1]
    return summary(record.acc_final, record.train_seconds, clocks[0].cpu_total)


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        hits = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(2048), y.split(2048)))
    model.train()
    return hits / len(y)


def run_avalanche(stream: TaskStream, tensors: list, method: str, seed: int, hparams: dict) -> dict:
    from avalanche.benchmarks import tensors_benchmark
    from avalanche.training import AGEM, GEM, Naive
    from avalanche.training.plugins import EvaluationPlugin

    model = initial_network(stream, seed)
    torch.manual_seed(seed)  # Avalanche's shuffles and memory draws use the global generators
    random.seed(seed)
    np.random.seed(seed)
    bench = tensors_benchmark(train_tensors=[[x, y] for x, y, _, _ in tensors], test_tensors=[[x, y] for _, _, x, y in tensors],
                              task_labels=[0] * len(tensors))
    common = {"model": model, "optimizer": torch.optim.SGD(model.parameters(), lr=hparams["lr"]), "criterion": torch.nn.CrossEntropyLoss(),
              "train_mb_size": BATCH_SIZE, "train_epochs": 1, "eval_mb_size": 2048, "evaluator": EvaluationPlugin(loggers=[]), "eval_every": -1}
    if method == "van":
        strategy = Naive(**common)
    elif method == "agem":
        strategy = AGEM(patterns_per_exp=MEMORY_PER_TASK, sample_size=hparams["ref_batch_size"], **common)
    else:
        strategy = GEM(patterns_per_exp=MEMORY_PER_TASK, memory_strength=hparams["margin"], **common)
    n = len(tensors)
    acc = np.full((n, n), np.nan)
    wall = cpu = 0.0
    for k, experience in enumerate(bench.train_stream):
        wall_start, cpu_start = time.perf_counter(), time.thread_time()
        strategy.train(experience)
        wall, cpu = wall + time.perf_counter() - wall_start, cpu + time.thread_time() - cpu_start
        acc[k, : k + 1] = [_accuracy(model, x, y) for _, _, x, y in tensors[: k + 1]]
    return summary(acc, wall, cpu)


def compare(stream_path: str, methods: list[str], seeds: list[int], sides: list[str], hparams: dict) -> list[dict]:
    stream = load_stream(stream_path)
    tensors = [task_tensors(t) for t in stream.role_tasks("eval")]
    rows = []
    for method in methods:
        for seed in seeds:
            row = {"method": method, "seed": seed}
            for side in sides:
                run = run_ours if side == "ours" else (lambda s, m, sd, hp: run_avalanche(s, tensors, m, sd, hp))
                row[side] = run(stream, method, seed, hparams[method])
                print(f"{method} seed {seed} {side}: A_T {row[side]['A_T']:.4f} F_T {row[side]['F_T']:.4f} "
                      f"train {row[side]['train_wall_s']:.1f}s wall / {row[side]['train_cpu_s']:.1f}s CPU", flush=True)
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| method | A_T ours | A_T Avalanche | F_T ours | F_T Avalanche | train CPU s ours | train CPU s Avalanche | speed-up (CPU) | speed-up (wall) |",
             "|---|---|---|---|---|---|---|---|---|"]

    def ms(values):
        return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{100 * values[0]:.1f}"

    for method in dict.fromkeys(r["method"] for r in rows):
        of = [r for r in rows if r["method"] == method and "ours" in r and "avalanche" in r]
        if not of:
            continue
        ours = {key: [r["ours"][key] for r in of] for key in of[0]["ours"]}
        peer = {key: [r["avalanche"][key] for r in of] for key in of[0]["avalanche"]}
        cpu_ratio = statistics.mean(peer["train_cpu_s"]) / statistics.mean(ours["train_cpu_s"])
        wall_ratio = statistics.mean(peer["train_wall_s"]) / statistics.mean(ours["train_wall_s"])
        lines.append(f"| {method} | {ms(ours['A_T'])} | {ms(peer['A_T'])} | {ms(ours['F_T'])} | {ms(peer['F_T'])} "
                     f"| {statistics.mean(ours['train_cpu_s']):.1f} | {statistics.mean(peer['train_cpu_s']):.1f} "
                     f"| {cpu_ratio:.2f}× | {wall_ratio:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stream", required=True, help="a permuted stream file (prepare_mlxtend_stream.py, or any built by the pipeline)")
    parser.add_argument("--methods", nargs="+", default=["van", "agem", "gem"], choices=sorted(HPARAMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 1235, 1236])
    parser.add_argument("--sides", nargs="+", default=["ours", "avalanche"], choices=["ours", "avalanche"])
    parser.add_argument("--hparams", default="{}", help='JSON overrides per method, e.g. \'{"agem": {"memory_fill": "uniform"}}\'')
    parser.add_argument("--json", type=Path, help="also write every run's numbers here")
    args = parser.parse_args()
    hparams = copy.deepcopy(HPARAMS)
    for method, values in json.loads(args.hparams).items():
        hparams[method].update(values)
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        rows = compare(args.stream, args.methods, args.seeds, args.sides, hparams)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
