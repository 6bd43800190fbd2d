"""GPU checks: the same A-GEM and GEM computations on CUDA and on the CPU, and a timed run.

Run ``python scripts/gpu_check.py`` on a CUDA machine. It compares, on identical inputs of the
paper's Permuted MNIST shapes (MLP 784-256-256-10, 269,322 parameters):

* A-GEM's projection (Eq. 11) of a conflicting gradient — relative error < 1e-5 in float32;
* GEM's projection with 16 past tasks (the QP is solved on the host either way);
* one whole A-GEM training step (reference pass, projection, SGD update) from the same weights;
* A-GEM's projection without host synchronisation (:func:`agem_project_on_device_`, the CUDA
  step's path: violations counted on the device) against the CPU's;
* GEM's batched past-task gradients (``batched: true``, one vmap'd pass) against the loop's;
* the MLP's hand-written gradients (agem.methods.mlp_gradients) against autograd's, both on the
  device (on the CPU they are equal bit for bit);

times one step of A-GEM (t = 4) and of GEM with and without ``batched`` (t = 1, 4, 16) on the
device, and times a Permuted-MNIST-sized A-GEM run on synthetic images (17 tasks × 5,500 steps of batch
10 by default; timing only — random images carry no accuracy worth reading).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

import torch

from agem.methods import METHODS, Batch, make_hyperparameters
from agem.methods.flat import FlatParameters
from agem.methods.mlp_gradients import hand_written_gradients
from agem.methods.projection import agem_project, agem_project_on_device_, gem_project
from agem.networks.models import build_network
from agem.tools.bench import BenchSettings, synthetic_stream
from agem.training.loop import train_run
from agem.training.settings import TrainSettings

AGEM_TOLERANCE = 1e-5
GEM_BATCHED_TOLERANCE = 1e-5  # vmap's kernels sum in another order than the loop's
NETWORK = {"type": "mlp", "hidden": [256, 256]}


def relative_error(reference: torch.Tensor, other: torch.Tensor) -> float:
    reference = reference.detach().double().cpu()
    return float((other.detach().double().cpu() - reference).norm() / reference.norm())


def compare_projections(device: torch.device, seed: int = 0) -> dict[str, float]:
    generator = torch.Generator().manual_seed(seed)
    n_parameters = sum(p.numel() for p in build_network(NETWORK, (784,), 10).parameters())
    g = torch.randn(n_parameters, generator=generator)
    g_ref = -g + 0.5 * torch.randn(n_parameters, generator=generator)  # gᵀg_ref < 0: it projects
    memory_grads = torch.randn(16, n_parameters, generator=generator) - 0.1 * g
    return {
        "agem_projection": relative_error(agem_project(g, g_ref), agem_project(g.to(device), g_ref.to(device))),
        "gem_projection_16_tasks": relative_error(gem_project(g, memory_grads), gem_project(g.to(device), memory_grads.to(device))),
    }


def compare_written_gradients(device: torch.device, seed: int = 0) -> float:
    """Relative error of the MLP's written gradient against autograd's, on ``device``
    (a 256-example batch, MNIST shapes)."""
    torch.manual_seed(seed)
    model = build_network(NETWORK, (784,), 10).to(device)
    flat = FlatParameters(model, grad_rows=2)
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.rand(256, 784, generator=generator).to(device), torch.randint(0, 10, (256,), generator=generator).to(device)
    autograd_row = flat.backward_into(0, torch.nn.functional.cross_entropy(model(x), y))
    gradients = hand_written_gradients(model, flat)
    return relative_error(autograd_row, gradients.write(gradients.factors(x, y, None), 1))


def _agem_after_one_step(device: torch.device, past_tasks: int, seed: int) -> torch.Tensor:
    settings = BenchSettings(past_tasks=[past_tasks], n_train=2000, seed=seed)
    stream = synthetic_stream(settings, device)
    torch.manual_seed(seed)
    model = build_network(NETWORK, stream.input_shape, stream.n_outputs).to(device)
    method = METHODS["agem"](model, stream, make_hyperparameters("agem", {"lr": 0.1}), 250, torch.Generator().manual_seed(seed))
    for task in stream.tasks[:past_tasks]:
        method.end_task(task)  # fill the memory exactly as after training those tasks
    current = stream.tasks[past_tasks]
    method.begin_task(current)
    x, y = current.train_batch(torch.arange(10, device=device))
    method.observe(Batch(x, y, torch.full_like(y, current.index)))
    return method.flat.values


def compare_sync_free_projection(device: torch.device, seed: int = 0) -> float:
    generator = torch.Generator().manual_seed(seed)
    g = torch.randn(100_000, generator=generator)
    g_ref = -g + 0.5 * torch.randn(100_000, generator=generator)
    on_device = g.to(device)
    projected = agem_project_on_device_(on_device, g_ref.to(device))
    if not bool(projected):
        raise AssertionError("the sync-free projection did not report a conflicting gradient as projected")
    return relative_error(agem_project(g, g_ref), on_device)


def _method_after_past_tasks(name: str, hparams: dict, device: torch.device, past_tasks: int, seed: int):
    stream = synthetic_stream(BenchSettings(past_tasks=[past_tasks], n_train=500, seed=seed), device)
    torch.manual_seed(seed)
    model = build_network(NETWORK, stream.input_shape, stream.n_outputs).to(device)
    method = METHODS[name](model, stream, make_hyperparameters(name, hparams), 250, torch.Generator().manual_seed(seed))
    for task in stream.tasks[:past_tasks]:
        method.end_task(task)  # fill the memory exactly as after training those tasks
    current = stream.tasks[past_tasks]
    method.begin_task(current)
    batches = []
    for start in range(0, 200, 10):
        x, y = current.train_batch(torch.arange(start, start + 10, device=device))
        batches.append(Batch(x, y, torch.full_like(y, current.index)))
    return method, batches


def compare_gem_batched(device: torch.device, past_tasks: int = 4, seed: int = 0) -> float:
    """Relative error of the batched past-task gradients against the loop's, on ``device``."""
    rows = []
    for batched in (False, True):
        method, _ = _method_after_past_tasks("gem", {"lr": 0.1, "batched": batched}, device, past_tasks, seed)
        # Rows 1..t as a step forms them when g may conflict (a step that surely does not skips them).
        method.flat.ensure_grad_rows(1 + past_tasks)
        method._memory_gradients(method.constraint_memories())
        rows.append(method.flat.grads[1 : 1 + past_tasks])
    return relative_error(rows[0], rows[1])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(device: torch.device, steps: int = 20, seed: int = 0) -> dict[str, float]:
    """Median ms per step (device synchronised around each) of A-GEM at t = 4 and GEM at t = 1, 4, 16."""
    cases = {"agem t=4": ("agem", {"lr": 0.1, "ref_batch_size": 256}, 4)}
    for t in (1, 4, 16):
        cases[f"gem t={t}"] = ("gem", {"lr": 0.1}, t)
        cases[f"gem batched t={t}"] = ("gem", {"lr": 0.1, "batched": True}, t)
    timings = {}
    for label, (name, hparams, past) in cases.items():
        method, batches = _method_after_past_tasks(name, hparams, device, past, seed)
        samples = []
        for i in range(steps + 3):  # 3 warm-up steps
            _sync(device)
            started = time.perf_counter()
            method.observe(batches[i % len(batches)])
            _sync(device)
            samples.append(time.perf_counter() - started)
        timings[label] = 1e3 * statistics.median(samples[3:])
    return timings


def compare_agem_step(device: torch.device, seed: int = 0) -> float:
    return relative_error(_agem_after_one_step(torch.device("cpu"), 4, seed), _agem_after_one_step(device, 4, seed))


def time_agem_run(device: torch.device, n_tasks: int, n_train: int, seed: int = 0) -> dict[str, float]:
    stream = synthetic_stream(BenchSettings(past_tasks=[n_tasks - 1], n_train=n_train, seed=seed), device)
    record = train_run(stream, "agem", {"lr": 0.1, "ref_batch_size": 256}, NETWORK, 250, TrainSettings(), seed, log=lambda _: None)
    steps = n_tasks * -(-n_train // 10)
    return {"tasks": n_tasks, "steps": steps, "train_seconds": record.train_seconds, "steps_per_second": steps / record.train_seconds}


@dataclass
class GpuCheckResult:
    device: str
    errors: dict
    timing: dict | None
    step_ms: dict | None = None

    @property
    def passed(self) -> bool:
        return (all(error < AGEM_TOLERANCE for name, error in self.errors.items() if name.startswith("agem"))
                and self.errors.get("gem_batched_gradients", 0.0) < GEM_BATCHED_TOLERANCE
                and self.errors.get("written_gradients", 0.0) < GEM_BATCHED_TOLERANCE)


def run_checks(device: torch.device, n_tasks: int = 17, n_train: int = 55_000, timed: bool = True, step_repeats: int = 20) -> GpuCheckResult:
    errors = compare_projections(device)
    errors["agem_step_parameters"] = compare_agem_step(device)
    errors["agem_projection_no_sync"] = compare_sync_free_projection(device)
    errors["gem_batched_gradients"] = compare_gem_batched(device)
    errors["written_gradients"] = compare_written_gradients(device)
    step_ms = time_steps(device, step_repeats) if step_repeats > 0 else None
    started = time.perf_counter()
    timing = time_agem_run(device, n_tasks, n_train) if timed else None
    if timing is not None:
        timing["wall_seconds"] = time.perf_counter() - started
    return GpuCheckResult(str(device), errors, timing, step_ms)


def report(result: GpuCheckResult) -> str:
    lines = [f"device: {result.device}"]
    lines += [f"  relative error CPU vs device, {name}: {error:.2e}" for name, error in result.errors.items()]
    if result.timing:
        t = result.timing
        lines.append(f"  A-GEM run, {t['tasks']} tasks, {t['steps']} steps: {t['train_seconds']:.1f}s training "
                     f"({t['steps_per_second']:.0f} steps/s), {t['wall_seconds']:.1f}s with evaluation")
    if result.step_ms:
        lines += [f"  step {label}: {ms:.2f} ms" for label, ms in result.step_ms.items()]
        for t in (1, 4, 16):
            lines.append(f"  GEM t={t}: loop / batched = {result.step_ms[f'gem t={t}'] / result.step_ms[f'gem batched t={t}']:.2f}x")
    lines.append(f"{'PASS' if result.passed else 'FAIL'}: A-GEM relative errors < {AGEM_TOLERANCE:g}, "
                 f"GEM batched and written gradients < {GEM_BATCHED_TOLERANCE:g}")
    return "\n".join(lines)


def to_json(result: GpuCheckResult) -> str:
    return json.dumps({"device": result.device, "errors": result.errors, "timing": result.timing, "step_ms": result.step_ms, "passed": result.passed}, indent=2)
