"""Per-step speed of every method, and of VAN, A-GEM and GEM next to the passes they cannot avoid.

A speed benchmark, not a test: it builds a synthetic Permuted-MNIST-shaped stream in memory
(random ``uint8`` images of 784 pixels, 10 classes, one pixel permutation per task), the paper's
MLP 784-256-256-10, batch 10, A-GEM's reference batch of 256 and 250 memories per task, fills the
real :class:`agem.methods.memory.EpisodicMemory` with ``t`` past tasks and times ``method.observe`` on
pre-built batches. Next to every method it times its *floor*, the bare passes it must run:

* VAN: one forward/backward on the batch of 10;
* A-GEM: the same plus one forward/backward on a 256-example reference batch;
* GEM with ``t`` past tasks: the same plus ``t`` forward/backward passes on 250 examples.

The ratios it reports (the project's targets, docs/reproduction.md#cost):

* ``(A-GEM − VAN) / fwd/bwd(256)`` ≤ 1.1: A-GEM's extra cost is essentially one reference pass;
* ``GEM / GEM floor`` ≤ 1.15: the QP, the flattening and the copies add under 15 %.

Every other registered method (EWC, PI, MAS, RWALK, PROG-NN, S-GEM, iCaRL, MULTI-TASK) is timed
the same way, with its default hyper-parameters, after ``t`` past tasks went through its
``begin_task``/``end_task`` (no training steps: importances, columns, exemplars are built, their
values do not change a step's cost), and every method's step is reported relative to VAN's.

All cases are timed in interleaved rounds so that slow drifts of the machine (frequency,
neighbours) spread over every case alike; each sample is one step, and the reported figure is
the median over the samples after warm-up. Building the stream, the memory and the batches
happens before any timing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from agem.data.datasets.tasks import permuted_tasks
from agem.data.stream_files import RawImages, StreamFile
from agem.data.streams import TaskStream
from agem.methods import METHODS, Batch, ContinualMethod, make_hyperparameters
from agem.methods.memory import EpisodicMemory
from agem.networks.models import build_network
from agem.report.labels import method_label
from agem.training.devices import resolve_device

N_INPUTS, N_CLASSES = 784, 10
NETWORK = {"type": "mlp", "hidden": [256, 256]}
AGEM_TARGET = 1.1  # (A-GEM step − VAN step) / one fwd/bwd on the reference batch
GEM_TARGET = 1.15  # GEM step / (fwd/bwd on the batch + t fwd/bwd on 250 memories)
REF_POOL = 32  # distinct pre-gathered reference batches the floors cycle through
# Methods whose cases (with their floors) build_cases sets up by name; every other registered
# method gets a plain "step" case per number of past tasks.
FLOORED_METHODS = ("van", "agem", "gem")
AUTOGRAD = "{} (autograd)"  # the same step on autograd's gradients


@dataclass
class BenchSettings:
    past_tasks: list[int] = field(default_factory=lambda: [1, 4, 16])
    batch_size: int = 10
    ref_batch_size: int = 256
    memory_per_task: int = 250
    n_train: int = 2000  # synthetic training images per task (shared by all tasks, as in MNIST)
    repeats: int = 100  # timed steps per case
    warmup: int = 10  # untimed steps per case before the first timed one
    rounds: int = 5  # timed steps are split over this many interleaved rounds
    threads: int = 1
    device: str = "auto"
    seed: int = 0


@dataclass
class CaseResult:
    name: str
    kind: str  # "method" or "floor"
    past_tasks: int
    median_ms: float
    iqr_ms: float
    samples: int
    violations: int | None = None  # steps that projected (methods with memory only)


def synthetic_stream(settings: BenchSettings, device: torch.device) -> TaskStream:
    """An in-memory Permuted-MNIST-shaped stream with ``max(past_tasks) + 1`` tasks."""
    rng = np.random.default_rng(settings.seed)
    n_tasks = max(settings.past_tasks) + 1
    n_test = 100
    raw = RawImages(
        train_x=rng.integers(0, 256, (settings.n_train, N_INPUTS), dtype=np.uint8),
        train_y=rng.integers(0, N_CLASSES, settings.n_train, dtype=np.int64),
        test_x=rng.integers(0, 256, (n_test, N_INPUTS), dtype=np.uint8),
        test_y=rng.integers(0, N_CLASSES, n_test, dtype=np.int64),
        pixel_scale=255.0,
        source="synthetic (agem.tools.bench)",
        source_sha256="",
    )
    tasks = permuted_tasks(settings.n_train, n_test, N_INPUTS, N_CLASSES, n_tasks, 0, settings.seed)
    attrs = {
        "benchmark": "bench_permuted",
        "layout": "permuted",
        "n_tasks": n_tasks,
        "n_cv_tasks": 0,
        "n_outputs": N_CLASSES,
        "input_shape": np.array([N_INPUTS]),
        "pixel_scale": raw.pixel_scale,
        "seed": settings.seed,
    }
    return TaskStream(StreamFile(Path("<synthetic>"), attrs, raw, tasks), device)


def _model(settings: BenchSettings, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(settings.seed)
    model = build_network(NETWORK, (N_INPUTS,), N_CLASSES).to(device)
    model.train()
    return model


def _batches(stream: TaskStream, task_index: int, settings: BenchSettings, count: int) -> list[Batch]:
    task = stream.tasks[task_index]
    generator = torch.Generator().manual_seed(settings.seed + 1)
    batches = []
    while len(batches) < count:
        order = torch.randperm(task.n_train, generator=generator).to(stream.device)
        for positions in order.split(settings.batch_size):
            if len(positions) == settings.batch_size and len(batches) < count:
                x, y = task.train_batch(positions)
                batches.append(Batch(x, y, torch.full_like(y, task.index)))
    return batches


class Case:
    """One timed thing: ``step(i)`` runs its i-th step; ``samples`` collects seconds per step."""

    def __init__(self, name: str, kind: str, past_tasks: int, step: Callable[[int], object], method: ContinualMethod | None = None):
        self.name, self.kind, self.past_tasks, self.step, self.method = name, kind, past_tasks, step, method
        self.calls = 0
        self.samples: list[float] = []
        self.violations_before = 0

    def violations(self) -> int | None:
        if self.method is None or self.past_tasks == 0:
            return None
        self.method.flush_counters()
        return sum(self.method.violations.values()) - self.violations_before

    def result(self) -> CaseResult:
        ms = sorted(s * 1e3 for s in self.samples)
        q = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
        return CaseResult(self.name, self.kind, self.past_tasks, statistics.median(ms), q[2] - q[0], len(ms), self.violations())


def _method_case(name: str, method_name: str, past: int, stream: TaskStream, settings: BenchSettings, device: torch.device,
                 batches: list[Batch], autograd: bool = False) -> Case:
    """``autograd``: the method's step with autograd's gradients, as before the MLP's were written
    out (agem.methods.mlp_gradients), for the written / autograd ratio."""
    hparams = {"ref_batch_size": settings.ref_batch_size} if method_name == "agem" else {}
    method = METHODS[method_name](
        _model(settings, device), stream, make_hyperparameters(method_name, hparams), settings.memory_per_task,
        torch.Generator().manual_seed(settings.seed + 2),
    )
    if autograd:
        method.gradients = None
    for k in range(past):  # what the training loop does at the end of each past task
        method.begin_task(stream.tasks[k])
        method.end_task(stream.tasks[k])
    method.begin_task(stream.tasks[past])

    def step(i: int):
        return method.observe(batches[i % len(batches)])

    return Case(name, "method", past, step, method)


def _floor_case(name: str, past: int, model: torch.nn.Module, batches: list[Batch] | None, memories: list[Batch], refs: list[Batch] | None = None) -> Case:
    """Bare passes: ``model.zero_grad``, then forward, cross-entropy and backward on the step's
    batch of 10 (``batches``), on every batch of ``memories`` and on the step's reference batch
    (``refs``, one per step in turn); no flat buffers, no projection, no update."""

    def step(i: int):
        model.zero_grad(set_to_none=True)
        inputs = list(memories)  # in the methods' order: memories, reference batch, current batch
        if refs is not None:
            inputs.append(refs[i % len(refs)])
        if batches is not None:
            inputs.append(batches[i % len(batches)])
        for batch in inputs:
            F.cross_entropy(model(batch.x), batch.y).backward()

    return Case(name, "floor", past, step)


def build_cases(settings: BenchSettings, device: torch.device) -> list[Case]:
    stream = synthetic_stream(settings, device)
    past_list = sorted(set(settings.past_tasks))
    max_past = max(past_list)
    pool = max(64, settings.warmup + settings.repeats)
    batches = {t: _batches(stream, t, settings, pool) for t in [0, *past_list]}
    # Memories for the floors: the same examples GEM/A-GEM would store, drawn by the real memory.
    memory = EpisodicMemory(settings.memory_per_task, torch.Generator().manual_seed(settings.seed + 2))
    for k in range(max_past):
        memory.add_task(stream.tasks[k])
    per_task = [Batch(x, y, ids) for x, y, ids in memory.per_task()]
    # A fresh reference batch every step, as A-GEM gets: the same batch each time would stay in
    # the CPU caches and make the floor ≈ 40 µs too cheap. Gathered here, outside the timing.
    ref_generator = torch.Generator().manual_seed(settings.seed + 3)
    refs = []
    for _ in range(REF_POOL):
        rows = torch.randperm(len(memory), generator=ref_generator)[: settings.ref_batch_size].to(device)
        refs.append(Batch(memory.x.index_select(0, rows), memory.y.index_select(0, rows), memory.task_ids.index_select(0, rows)))

    floor_model = _model(settings, device)
    cases = [
        _floor_case("fwd/bwd batch 10", 0, floor_model, batches[0], []),
        _floor_case(f"fwd/bwd ref {settings.ref_batch_size}", 0, floor_model, None, [], refs),
        _floor_case(f"A-GEM floor (10 + {settings.ref_batch_size})", 0, floor_model, batches[0], [], refs),
        _method_case(step_case_name("van", 0), "van", 0, stream, settings, device, batches[0]),
        _method_case(AUTOGRAD.format(step_case_name("van", 0)), "van", 0, stream, settings, device, batches[0], autograd=True),
    ]
    for t in past_list:
        cases.append(_method_case(step_case_name("agem", t), "agem", t, stream, settings, device, batches[t]))
        cases.append(_method_case(AUTOGRAD.format(step_case_name("agem", t)), "agem", t, stream, settings, device, batches[t], autograd=True))
    for t in past_list:
        cases.append(_floor_case(f"GEM floor, t={t} (10 + {t}x{settings.memory_per_task})", t, floor_model, batches[t], per_task[:t]))
        cases.append(_method_case(step_case_name("gem", t), "gem", t, stream, settings, device, batches[t]))
        cases.append(_method_case(AUTOGRAD.format(step_case_name("gem", t)), "gem", t, stream, settings, device, batches[t], autograd=True))
    for name in sorted(set(METHODS) - set(FLOORED_METHODS)):
        for t in past_list:
            cases.append(_method_case(step_case_name(name, t), name, t, stream, settings, device, batches[t]))
    return cases


def step_case_name(method: str, past_tasks: int) -> str:
    if method == "van":
        return "VAN step"
    return f"{method_label(method)} step, t={past_tasks}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_cases(cases: list[Case], settings: BenchSettings, device: torch.device, timer: Callable[[], float] = time.perf_counter) -> None:
    """Time every case's steps, interleaved round by round, with ``timer`` (wall time by default;
    ``time.thread_time`` counts only this thread's CPU time, robust to a shared machine)."""
    for case in cases:  # warm-up, untimed
        for _ in range(settings.warmup):
            case.step(case.calls)
            case.calls += 1
        if case.method is not None:
            case.method.flush_counters()
            case.violations_before = sum(case.method.violations.values())
    _sync(device)
    per_round = [settings.repeats // settings.rounds + (r < settings.repeats % settings.rounds) for r in range(settings.rounds)]
    for n in per_round:
        for case in cases:
            for _ in range(n):
                _sync(device)
                start = timer()
                case.step(case.calls)
                _sync(device)
                case.samples.append(timer() - start)
                case.calls += 1


def summarise(results: list[CaseResult], settings: BenchSettings) -> dict:
    by_name = {r.name: r.median_ms for r in results}
    van = by_name[step_case_name("van", 0)]
    ref = by_name[f"fwd/bwd ref {settings.ref_batch_size}"]
    agem_floor = by_name[f"A-GEM floor (10 + {settings.ref_batch_size})"]
    rows = []
    for t in sorted(set(settings.past_tasks)):
        agem = by_name[step_case_name("agem", t)]
        gem = by_name[step_case_name("gem", t)]
        gem_floor = by_name[f"GEM floor, t={t} (10 + {t}x{settings.memory_per_task})"]
        rows.append(
            {
                "past_tasks": t,
                "agem_extra_over_ref_pass": (agem - van) / ref,
                "agem_over_floor": agem / agem_floor,
                "gem_over_floor": gem / gem_floor,
                "agem_over_van": agem / van,
                "gem_over_agem": gem / agem,
            }
        )
    past_list = sorted(set(settings.past_tasks))
    over_van = {
        method: {t: by_name[step_case_name(method, t)] / van for t in past_list}
        for method in sorted(METHODS)
        if all(step_case_name(method, t) in by_name for t in past_list)
    }
    written = {
        method: {t: by_name[AUTOGRAD.format(step_case_name(method, t))] / by_name[step_case_name(method, t)] for t in past_list}
        for method in FLOORED_METHODS
    }
    return {
        "ratios": rows,
        "step_over_van": over_van,
        "autograd_over_written": written,
        "agem_pass": all(r["agem_extra_over_ref_pass"] <= AGEM_TARGET for r in rows),
        "gem_pass": all(r["gem_over_floor"] <= GEM_TARGET for r in rows),
    }


def run_benchmark(settings: BenchSettings) -> dict:
    device = resolve_device(settings.device)
    torch.set_num_threads(settings.threads)
    # Idle BLAS threads spinning after a NumPy/SciPy call once slowed torch 2.5× (§10).
    with threadpool_limits(limits=settings.threads):
        cases = build_cases(settings, device)
        time_cases(cases, settings, device)
    results = [c.result() for c in cases]
    return {
        "settings": asdict(settings),
        "device": str(device),
        "torch": torch.__version__,
        "targets": {"agem_extra_over_ref_pass": AGEM_TARGET, "gem_over_floor": GEM_TARGET},
        "cases": [asdict(r) for r in results],
        **summarise(results, settings),
    }


def format_report(report: dict) -> str:
    s = report["settings"]
    lines = [
        f"Per-step cost of every method on Permuted MNIST shapes (MLP 784-256-256-10, batch {s['batch_size']}, "
        f"ref batch {s['ref_batch_size']}, {s['memory_per_task']} memories/task)",
        f"device {report['device']}, threads {s['threads']}, torch {report['torch']}, "
        f"median of {s['repeats']} steps after {s['warmup']} warm-up steps, {s['rounds']} interleaved rounds",
        "",
        f"{'case':<36} {'ms/step':>9} {'IQR ms':>8} {'projected':>10}",
        "-" * 66,
    ]
    for c in report["cases"]:
        projected = "" if c["violations"] is None else f"{c['violations']}/{c['samples']}"
        lines.append(f"{c['name']:<36} {c['median_ms']:>9.3f} {c['iqr_ms']:>8.3f} {projected:>10}")
    lines += [
        "",
        f"{'t':>3} {'(AGEM-VAN)/ref':>15} {'AGEM/floor':>11} {'GEM/floor':>10} {'AGEM/VAN':>9} {'GEM/AGEM':>9}",
        "-" * 62,
    ]
    for r in report["ratios"]:
        lines.append(
            f"{r['past_tasks']:>3} {r['agem_extra_over_ref_pass']:>15.3f} {r['agem_over_floor']:>11.3f} "
            f"{r['gem_over_floor']:>10.3f} {r['agem_over_van']:>9.2f} {r['gem_over_agem']:>9.2f}"
        )
    lines.append("")
    past = sorted(set(s["past_tasks"]))
    lines += ["step cost / VAN step, by past tasks t", f"{'method':<12}" + "".join(f"{f't={t}':>9}" for t in past), "-" * (12 + 9 * len(past))]
    for method, ratios in report["step_over_van"].items():
        lines.append(f"{method_label(method):<12}" + "".join(f"{ratios[t]:>9.2f}" for t in past))
    lines += ["", "autograd step / step with the MLP's gradients written out (speed-up), by past tasks t",
              f"{'method':<12}" + "".join(f"{f't={t}':>9}" for t in past), "-" * (12 + 9 * len(past))]
    for method, ratios in report["autograd_over_written"].items():
        lines.append(f"{method_label(method):<12}" + "".join(f"{ratios[t]:>9.2f}" for t in past))
    lines.append("")
    agem = max(r["agem_extra_over_ref_pass"] for r in report["ratios"])
    gem = max(r["gem_over_floor"] for r in report["ratios"])
    t = report["targets"]
    lines.append(f"{'PASS' if report['agem_pass'] else 'FAIL'}: A-GEM extra cost / one ref-batch fwd/bwd, "
                 f"worst {agem:.3f} (target <= {t['agem_extra_over_ref_pass']})")
    lines.append(f"{'PASS' if report['gem_pass'] else 'FAIL'}: GEM step / GEM floor, worst {gem:.3f} (target <= {t['gem_over_floor']})")
    return "\n".join(lines)
