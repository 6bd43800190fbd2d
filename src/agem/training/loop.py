"""The training loop: one pass over a task stream with one method (paper Alg. 1, §2).

Single epoch per task by default, batch size 10, plain SGD. What gets evaluated is exactly what
the metrics need (paper §3): a_{k,b,k} for b = 0..lca_batches (LCA) and a_{k,B_k,j} for every
j ≤ k after each task (A_T, F_T), plus an optional denser schedule for curves. Time spent in
evaluation is excluded from ``train_seconds``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agem.data.streams import Task, TaskStream
from agem.methods import METHODS, Batch, ContinualMethod, make_hyperparameters
from agem.networks.models import build_network, hidden_units
from agem.runs.runfile import RunRecord
from agem.training.batches import joint_batches, task_batches
from agem.training.checkpoint import (
    RunState,
    load_checkpoint,
    run_fingerprint,
    save_checkpoint,
)
from agem.training.evaluation import accuracy, accuracy_of
from agem.training.job_signals import JobKilled
from agem.training.settings import TrainSettings


class Clock:
    """Wall time of training alone: evaluation runs between ``pause`` and ``resume``.

    ``timer`` is the class's clock, wall time; a speed benchmark on a shared machine may read the
    thread's CPU time instead (agem.tools.loop_bench), which other processes do not inflate.
    """

    timer = staticmethod(time.perf_counter)

    def __init__(self, device: torch.device):
        self.device = device
        self.total = 0.0
        self._started: float | None = None

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return self.timer()

    def resume(self) -> None:
        self._started = self._now()

    def pause(self) -> None:
        if self._started is not None:
            self.total += self._now() - self._started
            self._started = None


class Diverged(Exception):
    def __init__(self, step: int):
        super().__init__(f"non-finite loss at step {step}")
        self.step = step


class LossWatch:
    """Keeps recent losses on the device and checks them for NaN/inf in one sync now and then.

    A diverged run (the paper's PI on MNIST, "fails to train") is a result, not a crash: the
    loop stops and records the step where the loss first stopped being finite.
    """

    def __init__(self, device: torch.device, window: int = 100):
        # A list of the step's detached loss tensors: appending costs nothing, while writing
        # each into a preallocated tensor was an indexing call per step (~10 µs on the CPU).
        self.losses: list[torch.Tensor] = []
        self.window = window
        self.first_step = 0

    def record(self, loss: torch.Tensor, step: int) -> None:
        if len(self.losses) == self.window:
            self.check()
        if not self.losses:
            self.first_step = step
        self.losses.append(loss)

    def check(self) -> float:
        """Raise :class:`Diverged` if a recorded loss is not finite; return their mean."""
        if not self.losses:
            return math.nan
        recent = torch.stack(self.losses).float()
        self.losses = []
        finite = torch.isfinite(recent)
        if not bool(finite.all()):
            raise Diverged(self.first_step + int((~finite).nonzero()[0]))
        return float(recent.mean())
















@dataclass
class _Run:
    """One training run in progress: its inputs, its method, what it has produced so far."""

    stream: TaskStream
    method_name: str
    tasks: list[Task]
    settings: TrainSettings
    method: ContinualMethod
    state: RunState
    shuffle_generator: torch.Generator
    clock: Clock
    watch: LossWatch
    log: Callable[[str], None]
    label: str
    checkpoint: Path | None
    fingerprint: str
    n_parameters: int
    n_hidden: int

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def evaluate(self, task: Task) -> float:
        return accuracy(self.method, task, self.settings.eval_batch_size)

    def evaluate_row(self, k: int) -> np.ndarray:
        """Accuracy on tasks 0..k (every task with ``evaluate_future_tasks``), NaN after."""
        upto = self.n_tasks if self.settings.evaluate_future_tasks else k + 1
        return np.array([self.evaluate(t) for t in self.tasks[:upto]] + [np.nan] * (self.n_tasks - upto))


def _set_up(stream: TaskStream, method_name: str, hparams: dict, network: dict, memory_per_task: int,
            settings: TrainSettings, seed: int, log: Callable[[str], None], checkpoint: Path | None,
            identity_digest: str | None = None) -> tuple[_Run, bool]:
    """Build the network and the method from the seed, or resume them from the checkpoint.

    Returns the run and whether it resumed. Three independent seeds come from ``seed``: the
    initialisation, the shuffle of the training examples and the method's own sampling.
    """
    if method_name not in METHODS:
        raise ValueError(f"unknown method {method_name!r}; registered methods: {sorted(METHODS)}")
    tasks = stream.role_tasks(settings.tasks)
    if not tasks:
        raise ValueError(f"stream {stream.benchmark!r} has no {settings.tasks!r} tasks")
    init_seed, shuffle_seed, method_seed = np.random.SeedSequence(seed).generate_state(3)

    def build_model() -> torch.nn.Module:
        # The network is initialised on the CPU so that CPU and CUDA runs start from the same weights.
        torch.manual_seed(int(init_seed))
        model = build_network(network, stream.input_shape, stream.n_outputs, stream.class_attributes).to(stream.device)
        return model.train()

    def build_method(model: torch.nn.Module) -> ContinualMethod:
        return METHODS[method_name](model, stream, make_hyperparameters(method_name, hparams), memory_per_task,
                                    torch.Generator().manual_seed(int(method_seed)))

    model = build_model()
    method = build_method(model)
    n_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_hidden = hidden_units(model, stream.input_shape)
    shuffle_generator = torch.Generator().manual_seed(int(shuffle_seed))
    n = len(tasks)
    state = RunState(acc_final=np.full((n, n), np.nan), acc_lca=np.full((n, settings.lca_batches + 1), np.nan),
                     acc_memory=np.full((n, n), np.nan))
    fingerprint = run_fingerprint(stream, method_name, hparams, network, memory_per_task, settings, seed, identity_digest)
    resumed = None
    if checkpoint is not None:
        method.checkpoint_state()  # a method whose state cannot be saved fails here, before any training
        resumed = load_checkpoint(checkpoint, fingerprint, state, lambda: build_method(build_model()), log)
    if resumed is not None:
        state, method, generator_state = resumed
        shuffle_generator.set_state(generator_state)
    clock = Clock(stream.device)
    clock.total = state.train_seconds
    run = _Run(stream, method_name, tasks, settings, method, state, shuffle_generator, clock, LossWatch(stream.device),
               log, f"[{stream.benchmark}/{method_name}/seed{seed}]", checkpoint, fingerprint, n_parameters, n_hidden)
    return run, resumed is not None


def _phases(run: _Run) -> list[tuple[int, list[Task], Iterator[Batch]]]:
    """(row k of the accuracy matrix it ends, its tasks, its batches) per training phase: one per
    task, or a single joint phase ending at the last row for MULTI-TASK."""
    settings, tasks = run.settings, run.tasks
    if run.method.joint_training:
        return [(run.n_tasks - 1, tasks, joint_batches(tasks, settings.batch_size, settings.epochs, run.shuffle_generator))]
    return [(k, [t], task_batches(t, settings.batch_size, settings.epochs, run.shuffle_generator)) for k, t in enumerate(tasks)]


def _train_phase(run: _Run, k: int, current: Task, batches: Iterator[Batch]) -> tuple[int, float]:
    """Every step of one phase, with the LCA and curve evaluations due on the way (paper §3).

    ``acc_lca[k, b]`` is the accuracy on the current task after exactly b steps, b = 0..lca_batches.
    Returns the phase's steps and its mean recent loss.
    """
    settings, state, clock, watch = run.settings, run.state, run.clock, run.watch
    track_lca = not run.method.joint_training
    if track_lca:
        state.acc_lca[k, 0] = run.evaluate(current)
    task_steps, task_clock_start, last_report = 0, clock.total, time.monotonic()
    clock.resume()
    for batch in batches:
        watch.record(run.method.observe(batch), state.step)
        state.step += 1
        task_steps += 1
        lca_due = track_lca and task_steps <= settings.lca_batches
        curve_due = settings.curve_every > 0 and task_steps % settings.curve_every == 0
        if lca_due or curve_due:
            clock.pause()
            watch.check()
            if lca_due:
                state.acc_lca[k, task_steps] = run.evaluate(current)
            if curve_due:
                state.curve.append(run.evaluate_row(k))
                state.curve_step.append((k, task_steps))
            clock.resume()
        if time.monotonic() - last_report > settings.progress_seconds:
            clock.pause()
            loss = watch.check()
            seconds = clock.total - task_clock_start
            run.log(f"{run.label} task {k + 1}/{run.n_tasks}: step {task_steps}, "
                    f"{task_steps / max(seconds, 1e-9):.0f} steps/s, loss {loss:.3f}")
            last_report = time.monotonic()
            clock.resume()
    clock.pause()
    return task_steps, watch.check()


def _end_of_phase(run: _Run, k: int, phase_index: int) -> None:
    """Row k of the accuracy matrix, accuracy on the episodic memory, the checkpoint."""
    state = run.state
    state.acc_final[k] = run.evaluate_row(k)
    # Accuracy on each stored task's episodic memory (paper Table 2: GEM vs A-GEM).
    for j, stored in enumerate(run.method.memory_batches()):
        state.acc_memory[k, j] = accuracy_of(run.method, [stored])
    if run.checkpoint is not None:
        state.next_phase, state.train_seconds = phase_index + 1, run.clock.total
        save_checkpoint(run.checkpoint, run.fingerprint, state, run.method, run.shuffle_generator)


def _record(run: _Run, seed: int, diverged_step: int) -> RunRecord:
    state, method = run.state, run.method
    method.flush_counters()  # a run that diverged mid-task still counts that task's violations
    # The method's model, not the one built at set-up: a method may grow it (PROG-NN's columns).
    buffers = sum(b.numel() * b.element_size() for b in method.model.buffers())
    return RunRecord(
        dataset=run.stream.benchmark,
        method=run.method_name,
        seed=seed,
        acc_final=state.acc_final,
        acc_lca=state.acc_lca,
        violations=np.array([method.violations.get(t.index, 0) for t in run.tasks], dtype=np.int64),
        train_seconds=run.clock.total,
        memory_bytes=method.state_bytes() + buffers,
        diverged=diverged_step >= 0,
        diverged_step=diverged_step,
        acc_curve=np.array(state.curve) if state.curve else None,
        curve_step=np.array(state.curve_step) if state.curve else None,
        acc_memory=state.acc_memory if not np.all(np.isnan(state.acc_memory)) else None,
        n_parameters=run.n_parameters,
        hidden_units=run.n_hidden,
    )


def train_run(
    stream: TaskStream,
    method_name: str,
    hparams: dict,
    network: dict,
    memory_per_task: int,
    settings: TrainSettings,
    seed: int,
    log: Callable[[str], None] = print,
    checkpoint: str | Path | None = None,
    identity_digest: str | None = None,
) -> RunRecord:
    """Train ``method_name`` on the stream's ``settings.tasks`` tasks and return the raw results.

    With ``checkpoint``, the run's whole state is saved there at every task boundary, and a run
    that finds a checkpoint of the same inputs resumes after its last finished task, giving
    the same results as an uninterrupted run (a preempted or requeued cluster job loses at most
    one task of work). ``identity_digest``: the run's identity (agem.runs.identity) for a
    workflow job, so that the checkpoint's fingerprint is that identity (and the stream's data).
    """
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    run, resumed = _set_up(stream, method_name, hparams, network, memory_per_task, settings, seed, log, checkpoint, identity_digest)
    phases = _phases(run)
    log(f"{run.label} training {run.n_tasks} tasks on {stream.device}, {run.n_parameters:,} parameters")
    if resumed:
        log(f"{run.label} resuming from checkpoint {checkpoint}: {run.state.next_phase} of {len(phases)} training phases done")
    diverged_step = -1
    phases_done = run.state.next_phase  # finished and checkpointed, for the message of a kill
    try:
        for phase_index in range(run.state.next_phase, len(phases)):
            k, phase_tasks, batches = phases[phase_index]
            for task in phase_tasks:
                run.method.begin_task(task)
            task_clock_start = run.clock.total
            task_steps, loss = _train_phase(run, k, phase_tasks[-1], batches)
            for task in phase_tasks:
                run.method.end_task(task)
            _end_of_phase(run, k, phase_index)
            phases_done = phase_index + 1
            seconds = run.clock.total - task_clock_start
            acc = run.state.acc_final
            log(f"{run.label} task {k + 1}/{run.n_tasks} done: {task_steps} steps in {seconds:.1f}s "
                f"({task_steps / max(seconds, 1e-9):.0f} steps/s), loss {loss:.3f}, "
                f"acc on this task {acc[k, k]:.3f}, A_{k + 1} {np.nanmean(acc[k, : k + 1]):.3f}")
    except Diverged as exc:
        run.clock.pause()
        diverged_step = exc.step
        log(f"{run.label} DIVERGED: {exc}; recording the run as diverged")
    except JobKilled as exc:  # the runner logs it; it needs the last finished task's number
        exc.tasks_done = phases[phases_done - 1][0] + 1 if phases_done > 0 else 0
        raise
    try:
        return _record(run, seed, diverged_step)
    except JobKilled as exc:
        exc.tasks_done = run.n_tasks
        raise
