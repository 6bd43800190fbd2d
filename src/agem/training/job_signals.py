"""A training job stopped by SIGTERM or SIGINT says so in its log and exits with 128 + signal.

Snakemake, SLURM and Ctrl-C stop a job with a signal. Without a handler Python dies silently
(SIGTERM) or with a KeyboardInterrupt traceback (SIGINT); with it, the job's log ends in a line
naming the signal, the last finished task and whether the checkpoint resumes the run.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class JobKilled(BaseException):
    """Raised in the main thread by the signal handler. A BaseException, so that no ``except
    Exception`` on the way (a checkpoint's reader, a writer's clean-up) swallows it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.tasks_done: int | None = None  # filled in by the training loop on its way out

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention for a process killed by a signal


@contextmanager
def signals_raise_job_killed(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    def handler(signum, frame):
        raise JobKilled(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def killed_message(exc: JobKilled, checkpoint: str | None) -> str:
    done = "before finishing its first task" if not exc.tasks_done else f"after task {exc.tasks_done}"
    if checkpoint is None:
        resume = "no checkpoint is kept (training.checkpoint: false), so a rerun starts from the first task"
    elif not exc.tasks_done:
        resume = "a rerun starts from the first task"
    else:
        resume = f"the checkpoint {checkpoint} resumes it after task {exc.tasks_done} when snakemake is run again"
    return f"killed by signal {signal.Signals(exc.signum).name} {done}; {resume}"
