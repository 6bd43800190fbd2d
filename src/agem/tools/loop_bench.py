"""A real training job's cost per step against the per-step benchmark's, measured side by side.

``make bench`` (agem.tools.bench) times ``method.observe`` alone on pre-built batches. A training
job also shuffles, gathers, normalises and permutes its batches, records losses, schedules
evaluations and reads the clock. This benchmark runs, in one process and interleaved round by
round, (a) the real :func:`agem.training.loop.train_run` of VAN and A-GEM on a Permuted-MNIST-shaped
stream and (b) the bench's step of the same method on the same stream, and reports

    job step / bench step = (train seconds / steps) / (bench step averaged over the job's steps)

where the bench step for a step of task k is the method's step with k past tasks (A-GEM's first
task is a plain SGD step, timed as VAN's). Target: ≤ 1.2 (docs/speed.md).

Both sides are timed in this thread's CPU time (``time.thread_time``; one torch thread runs its
kernels in the calling thread). On a shared machine, wall time per step includes the slices other
processes take, and the bench's median of single-step samples hides them while a job's total does
not: that alone made a job look 4-7x slower than the bench at a load of 10 on 2 cores.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
from threadpoolctl import threadpool_limits

from agem.data.streams import TaskStream
from agem.tools.bench import BenchSettings, _batches, _method_case, synthetic_stream, time_cases
from agem.training.loop import Clock, train_run
from agem.training.settings import TrainSettings

NETWORK = {"type": "mlp", "hidden": [256, 256]}
HPARAMS = {"van": {"lr": 0.03}, "agem": {"lr": 0.1, "ref_batch_size": 256}}
TARGET = 1.2


@dataclass
class LoopBenchSettings:
    methods: tuple[str, ...] = ("van", "agem")
    n_tasks: int = 4
    n_train: int = 4000  # 400 steps per task: the LCA evaluations (10 per task) weigh as in a real task
    rounds: int = 3
    bench_repeats: int = 100
    threads: int = 1
    memory_per_task: int = 250
    seed: int = 0


def job_ms_per_step(stream: TaskStream, method: str, settings: LoopBenchSettings) -> float:
    """CPU milliseconds per training step of a whole :func:`train_run` (evaluation excluded)."""
    wall_timer = Clock.timer
    Clock.timer = staticmethod(time.thread_time)
    try:
        record = train_run(stream, method, HPARAMS[method], NETWORK, settings.memory_per_task, TrainSettings(), settings.seed, log=lambda _: None)
    finally:
        Clock.timer = wall_timer
    steps = sum(-(-t.n_train // 10) for t in stream.role_tasks("eval"))
    return 1e3 * record.train_seconds / steps


def bench_ms_per_step(stream: TaskStream, method: str, settings: LoopBenchSettings) -> float:
    """The bench's mean CPU milliseconds per step, weighted as the job's steps (task k: k past tasks)."""
    bench = BenchSettings(memory_per_task=settings.memory_per_task, repeats=settings.bench_repeats, warmup=5, rounds=1, seed=settings.seed)
    tasks = stream.role_tasks("eval")
    cases = []
    for k, task in enumerate(tasks):
        name = "van" if method == "agem" and k == 0 else method  # A-GEM's first task is plain SGD
        cases.append(_method_case(f"{method} t={k}", name, k, stream, bench, torch.device("cpu"), _batches(stream, task.index, bench, 64)))
    time_cases(cases, bench, torch.device("cpu"), timer=time.thread_time)
    # The mean, as a job's train seconds / steps is: a median would drop exactly the slow steps
    # (caches evicted by a neighbour, an interrupt) that the job's total has to pay.
    means = [1e3 * statistics.fmean(c.samples) for c in cases]
    return sum(m * t.n_train for m, t in zip(means, tasks)) / sum(t.n_train for t in tasks)


def run_loop_benchmark(settings: LoopBenchSettings) -> dict:
    torch.set_num_threads(settings.threads)
    stream = synthetic_stream(BenchSettings(past_tasks=[settings.n_tasks - 1], n_train=settings.n_train, seed=settings.seed), torch.device("cpu"))
    samples = {m: {"job_ms": [], "bench_ms": []} for m in settings.methods}
    with threadpool_limits(limits=settings.threads):
        for _ in range(settings.rounds):
            for method in settings.methods:
                samples[method]["bench_ms"].append(bench_ms_per_step(stream, method, settings))
                samples[method]["job_ms"].append(job_ms_per_step(stream, method, settings))
    rows = []
    for method, s in samples.items():
        ratios = [j / b for j, b in zip(s["job_ms"], s["bench_ms"])]
        rows.append({"method": method, "job_ms": statistics.median(s["job_ms"]), "bench_ms": statistics.median(s["bench_ms"]),
                     "ratio": statistics.median(ratios), "ratios": ratios})
    return {"settings": asdict(settings), "rows": rows, "target": TARGET, "passed": all(r["ratio"] <= TARGET for r in rows)}


def format_loop_report(report: dict) -> str:
    s = report["settings"]
    lines = [f"Training job vs bench step, CPU time: {s['n_tasks']} tasks x {s['n_train']} examples, batch 10, "
             f"{s['threads']} thread(s), {s['rounds']} interleaved rounds (median of the per-round ratios)",
             f"{'method':<8} {'job ms/step':>12} {'bench ms/step':>14} {'job/bench':>10}  per round", "-" * 70]
    for r in report["rows"]:
        lines.append(f"{r['method']:<8} {r['job_ms']:>12.3f} {r['bench_ms']:>14.3f} {r['ratio']:>10.2f}  " + " ".join(f"{x:.2f}" for x in r["ratios"]))
    lines.append(f"{'PASS' if report['passed'] else 'FAIL'}: job step / bench step <= {report['target']}")
    return "\n".join(lines)
