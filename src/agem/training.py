"""The training loop: one pass over a task stream with one method (paper Alg. 1, §2).

Single epoch per task by default, batch size 10, plain SGD. What gets evaluated is exactly what
the metrics need (paper §3): a_{k,b,k} for b = 0..lca_batches (LCA) and a_{k,B_k,j} for every
j ≤ k after each task (A_T, F_T), plus an optional denser schedule for curves. Time spent in
evaluation is excluded from ``train_seconds``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from agem.methods import METHODS, Batch, ContinualMethod, make_hyperparameters
from agem.models import build_network, hidden_units
from agem.atomic import atomic_output
from agem.runfile import RunRecord
from agem.streams import Task, TaskStream


@dataclass
class TrainSettings:
    batch_size: int = 10
    epochs: int = 1
    lca_batches: int = 10
    curve_every: int = 0
    evaluate_future_tasks: bool = False
    tasks: str = "eval"
    eval_batch_size: int = 2048
    progress_seconds: float = 30.0
    checkpoint: bool = True  # read by the workflow: save the run's state at every task boundary


@torch.no_grad()
def accuracy_of(method: ContinualMethod, batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> float:
    """Accuracy of the method's predictions on (x, y, task_ids) batches.

    On streams marked ``balanced_accuracy`` (Split AWA) it is the mean of per-class accuracies.
    """
    model, stream = method.model, method.stream
    was_training = model.training
    model.eval()
    hits = torch.zeros(stream.n_outputs, dtype=torch.long, device=stream.device)
    counts = torch.zeros_like(hits)
    for x, y, task_ids in batches:
        predicted = method.predict(x, task_ids).argmax(1)
        hits += torch.bincount(y[predicted == y], minlength=stream.n_outputs)
        counts += torch.bincount(y, minlength=stream.n_outputs)
    model.train(was_training)
    if stream.balanced_accuracy:
        present = counts > 0
        return float((hits[present].double() / counts[present]).mean())
    return hits.sum().item() / max(counts.sum().item(), 1)


def accuracy(method: ContinualMethod, task: Task, batch_size: int) -> float:
    """Test accuracy on ``task``, predictions restricted to the task's classes (multi-head)."""
    return accuracy_of(method, ((x, y, torch.full_like(y, task.index)) for x, y in task.test_batches(batch_size)))


class Clock:
    """Wall time of training alone: evaluation runs between ``pause`` and ``resume``."""

    def __init__(self, device: torch.device):
        self.device = device
        self.total = 0.0
        self._started: float | None = None

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

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
        self.losses = torch.zeros(window, device=device)
        self.filled = 0
        self.first_step = 0

    def record(self, loss: torch.Tensor, step: int) -> None:
        if self.filled == len(self.losses):
            self.check()
        if self.filled == 0:
            self.first_step = step
        self.losses[self.filled] = loss
        self.filled += 1

    def check(self) -> float:
        """Raise :class:`Diverged` if a recorded loss is not finite; return their mean."""
        recent = self.losses[: self.filled]
        self.filled = 0
        if recent.numel() == 0:
            return math.nan
        finite = torch.isfinite(recent)
        if not bool(finite.all()):
            raise Diverged(self.first_step + int((~finite).nonzero()[0]))
        return float(recent.mean())


def _task_batches(task: Task, batch_size: int, epochs: int, generator: torch.Generator) -> Iterator[Batch]:
    for _ in range(epochs):
        order = torch.randperm(task.n_train, generator=generator).to(task.stream.device)
        for positions in order.split(batch_size):
            x, y = task.train_batch(positions)
            yield Batch(x, y, torch.full_like(y, task.index))


def _joint_batches(tasks: list[Task], batch_size: int, epochs: int, generator: torch.Generator) -> Iterator[Batch]:
    """Batches of one shuffled pass over the union of all tasks' training sets (MULTI-TASK)."""
    owner = torch.cat([torch.full((t.n_train,), i) for i, t in enumerate(tasks)])
    position = torch.cat([torch.arange(t.n_train) for t in tasks])
    for _ in range(epochs):
        order = torch.randperm(len(owner), generator=generator)
        for chosen in order.split(batch_size):
            parts = [(tasks[i], position[chosen][owner[chosen] == i]) for i in owner[chosen].unique().tolist()]
            pieces = [task.train_batch(pos.to(task.stream.device)) for task, pos in parts]
            y = torch.cat([p[1] for p in pieces])
            ids = torch.cat([torch.full_like(p[1], task.index) for (task, _), p in zip(parts, pieces)])
            yield Batch(torch.cat([p[0] for p in pieces]), y, ids)


@dataclass
class RunState:
    """What a run has produced so far; with the method, all it needs to go on after a task."""

    acc_final: np.ndarray
    acc_lca: np.ndarray
    acc_memory: np.ndarray
    curve: list = field(default_factory=list)
    curve_step: list = field(default_factory=list)
    step: int = 0
    next_phase: int = 0
    train_seconds: float = 0.0


CHECKPOINT_FORMAT = 1


def run_fingerprint(stream: TaskStream, method_name: str, hparams: dict, network: dict, memory_per_task: int, settings: TrainSettings, seed: int) -> str:
    """Identifies a run's inputs, so that a checkpoint is only resumed by the same run."""
    relevant = {k: v for k, v in asdict(settings).items() if k not in ("progress_seconds", "eval_batch_size")}
    attrs = stream.file.attrs
    identity = [method_name, hparams, network, memory_per_task, relevant, seed,
                str(attrs.get("source_sha256", "")), int(attrs["seed"]), str(attrs.get("params", ""))]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def save_checkpoint(path: Path, fingerprint: str, state: RunState, method: ContinualMethod, shuffle_generator: torch.Generator) -> None:
    with atomic_output(path) as tmp:
        torch.save(
            {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "state": state, "method": method,
             "shuffle_generator": shuffle_generator.get_state()},
            tmp,
        )


def load_checkpoint(path: Path, fingerprint: str, stream: TaskStream, log: Callable[[str], None]) -> tuple[RunState, ContinualMethod, torch.Tensor] | None:
    """The checkpoint's (state, method, shuffle-generator state), or None to start afresh."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location=stream.device, weights_only=False)
    except Exception as exc:  # a checkpoint cut short by a kill is only a lost shortcut
        log(f"ignoring unreadable checkpoint {path} ({exc}); starting from the first task")
        return None
    if saved.get("format") != CHECKPOINT_FORMAT or saved.get("fingerprint") != fingerprint:
        log(f"ignoring checkpoint {path}: it belongs to another configuration; starting from the first task")
        return None
    method = saved["method"]
    method.attach(stream)
    return saved["state"], method, saved["shuffle_generator"]


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
) -> RunRecord:
    """Train ``method_name`` on the stream's ``settings.tasks`` tasks and return the raw results.

    With ``checkpoint``, the run's whole state is saved there at every task boundary, and a run
    that finds a checkpoint of the same inputs resumes after its last finished task, giving
    the same results as an uninterrupted run (a preempted or requeued cluster job loses at most
    one task of work).
    """
    if method_name not in METHODS:
        raise ValueError(f"unknown method {method_name!r}; registered methods: {sorted(METHODS)}")
    method_cls = METHODS[method_name]
    tasks = stream.role_tasks(settings.tasks)
    if not tasks:
        raise ValueError(f"stream {stream.benchmark!r} has no {settings.tasks!r} tasks")
    n_tasks = len(tasks)
    device = stream.device
    init_seed, shuffle_seed, method_seed = np.random.SeedSequence(seed).generate_state(3)
    # The network is initialised on the CPU so that CPU and CUDA runs start from the same weights.
    torch.manual_seed(int(init_seed))
    model = build_network(network, stream.input_shape, stream.n_outputs, stream.class_attributes).to(device)
    model.train()
    n_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_hidden = hidden_units(model, stream.input_shape)
    shuffle_generator = torch.Generator().manual_seed(int(shuffle_seed))
    method: ContinualMethod = method_cls(
        model, stream, make_hyperparameters(method_name, hparams), memory_per_task, torch.Generator().manual_seed(int(method_seed))
    )

    state = RunState(
        acc_final=np.full((n_tasks, n_tasks), np.nan),
        acc_lca=np.full((n_tasks, settings.lca_batches + 1), np.nan),
        acc_memory=np.full((n_tasks, n_tasks), np.nan),
    )
    label = f"[{stream.benchmark}/{method_name}/seed{seed}]"
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    fingerprint = run_fingerprint(stream, method_name, hparams, network, memory_per_task, settings, seed)
    resumed = load_checkpoint(checkpoint, fingerprint, stream, log) if checkpoint is not None else None
    if resumed is not None:
        state, method, generator_state = resumed
        shuffle_generator.set_state(generator_state)
    acc_final, acc_lca, acc_memory = state.acc_final, state.acc_lca, state.acc_memory
    clock = Clock(device)
    clock.total = state.train_seconds
    watch = LossWatch(device)
    diverged_step = -1

    def evaluate(task: Task) -> float:
        return accuracy(method, task, settings.eval_batch_size)

    def evaluate_row(k: int) -> np.ndarray:
        upto = n_tasks if settings.evaluate_future_tasks else k + 1
        return np.array([evaluate(t) for t in tasks[:upto]] + [np.nan] * (n_tasks - upto))

    if method_cls.joint_training:
        phases = [(n_tasks - 1, tasks, _joint_batches(tasks, settings.batch_size, settings.epochs, shuffle_generator))]
    else:
        phases = [(k, [t], _task_batches(t, settings.batch_size, settings.epochs, shuffle_generator)) for k, t in enumerate(tasks)]
    track_lca = not method_cls.joint_training

    log(f"{label} training {n_tasks} tasks on {device}, {n_parameters:,} parameters")
    if resumed is not None:
        log(f"{label} resuming from checkpoint {checkpoint}: {state.next_phase} of {len(phases)} training phases done")
    try:
        for phase_index in range(state.next_phase, len(phases)):
            k, phase_tasks, batches = phases[phase_index]
            current = phase_tasks[-1]
            for task in phase_tasks:
                method.begin_task(task)
            if track_lca:
                acc_lca[k, 0] = evaluate(current)
            task_steps, task_clock_start, last_report = 0, clock.total, time.monotonic()
            clock.resume()
            for batch in batches:
                watch.record(method.observe(batch), state.step)
                state.step += 1
                task_steps += 1
                lca_due = track_lca and task_steps <= settings.lca_batches
                curve_due = settings.curve_every > 0 and task_steps % settings.curve_every == 0
                if lca_due or curve_due:
                    clock.pause()
                    watch.check()
                    if lca_due:
                        acc_lca[k, task_steps] = evaluate(current)
                    if curve_due:
                        state.curve.append(evaluate_row(k))
                        state.curve_step.append((k, task_steps))
                    clock.resume()
                if time.monotonic() - last_report > settings.progress_seconds:
                    clock.pause()
                    loss = watch.check()
                    seconds = clock.total - task_clock_start
                    log(f"{label} task {k + 1}/{n_tasks}: step {task_steps}, {task_steps / max(seconds, 1e-9):.0f} steps/s, loss {loss:.3f}")
                    last_report = time.monotonic()
                    clock.resume()
            clock.pause()
            loss = watch.check()
            for task in phase_tasks:
                method.end_task(task)
            acc_final[k] = evaluate_row(k)
            memory = getattr(method, "memory", None)
            if memory is not None:
                # Accuracy on each stored task's episodic memory (paper Table 2: GEM vs A-GEM).
                for j, stored in enumerate(memory.per_task()):
                    acc_memory[k, j] = accuracy_of(method, [stored])
            if checkpoint is not None:
                state.next_phase, state.train_seconds = phase_index + 1, clock.total
                save_checkpoint(checkpoint, fingerprint, state, method, shuffle_generator)
            seconds = clock.total - task_clock_start
            log(
                f"{label} task {k + 1}/{n_tasks} done: {task_steps} steps in {seconds:.1f}s "
                f"({task_steps / max(seconds, 1e-9):.0f} steps/s), loss {loss:.3f}, "
                f"acc on this task {acc_final[k, k]:.3f}, A_{k + 1} {np.nanmean(acc_final[k, : k + 1]):.3f}"
            )
    except Diverged as exc:
        clock.pause()
        diverged_step = exc.step
        log(f"{label} DIVERGED: {exc}; recording the run as diverged")

    # The method's model, not the one built here: a method may grow it (PROG-NN's columns).
    buffers = sum(b.numel() * b.element_size() for b in method.model.buffers())
    return RunRecord(
        dataset=stream.benchmark,
        method=method_name,
        seed=seed,
        acc_final=acc_final,
        acc_lca=acc_lca,
        violations=np.array([method.violations.get(t.index, 0) for t in tasks], dtype=np.int64),
        train_seconds=clock.total,
        memory_bytes=method.state_bytes() + buffers,
        diverged=diverged_step >= 0,
        diverged_step=diverged_step,
        acc_curve=np.array(state.curve) if state.curve else None,
        curve_step=np.array(state.curve_step) if state.curve else None,
        acc_memory=acc_memory if not np.all(np.isnan(acc_memory)) else None,
        n_parameters=n_parameters,
        hidden_units=n_hidden,
    )
