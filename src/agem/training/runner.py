"""One training job end to end: threads, device, stream, training, provenance, run file."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import h5py
import numpy as np
import scipy
import torch
from threadpoolctl import threadpool_limits

from agem import __version__
from agem.data.stream_files import check_stream_identity
from agem.data.streams import load_stream
from agem.io.provenance import git_commit
from agem.methods import METHODS, RehearsalMethod
from agem.methods.memory import memory_shortfalls
from agem.methods.plugins import import_method_module
from agem.runs.identity import RunIdentity
from agem.runs.runfile import write_run
from agem.training.cv import read_selected_hparams
from agem.training.devices import resolve_device
from agem.training.job_signals import JobKilled
from agem.training.loop import train_run
from agem.training.settings import TrainSettings


def versions(device: torch.device) -> dict:
    return {
        "agem_repro": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "h5py": h5py.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "git_commit": git_commit(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID", ""),  # empty outside SLURM
        "host": platform.node(),
    }


def run_job(stream_path: str, seed: int, settings: dict, threads: int, out: str, checkpoint: str | None = None, hparams_file: str | None = None) -> None:
    recorded = dict(settings)  # the run's identity (agem.runs.identity), as the workflow asked for it
    if hparams_file is not None:  # chosen by cross-validation (agem.training.cv) instead of the config's values
        selected = read_selected_hparams(hparams_file)
        settings = {**settings, "hparams": selected}
        recorded.update(hparams_selected=selected, hparams_file=str(hparams_file))
    # The configured thread count, not the one Snakemake may have capped to --cores: the numbers
    # depend on it (A-GEM's A_T moved by 0.9 points between 1 and 2 threads).
    threads = settings.get("train_threads", threads)
    import_method_module(settings.get("method_module"))  # a method from the user's own module or package
    identity = None
    if "stream_spec_sha256" in settings:  # a workflow job: its identity, checked once (agem.runs.identity)
        identity = RunIdentity.from_settings(settings, seed)
    if "dataset" in settings:  # the stream must be the one its wildcards name
        check_stream_identity(stream_path, settings["dataset"], seed, settings.get("stream_spec_sha256"))
    torch.set_num_threads(threads)
    device = resolve_device(settings.get("device", "auto"))
    # Idle BLAS threads left spinning after a NumPy/SciPy call slowed torch 2.5× in a GEM
    # measurement (docs/reproduction.md#threads): pin BLAS to the job's thread budget.
    with threadpool_limits(limits=threads):
        stream = load_stream(stream_path, device)
        if issubclass(METHODS[settings["method"]], RehearsalMethod):
            for line in memory_shortfalls(stream.role_tasks(settings.get("training", {}).get("tasks", "eval")), settings["memory_per_task"]):
                print(line, flush=True)
        record = train_run(
            stream,
            settings["method"],
            settings["hparams"],
            settings["network"],
            settings["memory_per_task"],
            TrainSettings(**settings.get("training", {})),
            seed,
            log=lambda line: print(line, file=sys.stdout, flush=True),
            checkpoint=checkpoint,
            identity_digest=None if identity is None else identity.digest,
        )
    record.dataset = settings.get("dataset", record.dataset)
    record.config = {**recorded, "seed": seed, "stream": str(stream_path), "threads": threads}
    record.versions = versions(device)
    record.identity = "" if identity is None else identity.to_json()
    try:
        write_run(out, record)
    except JobKilled as exc:  # every task trained; the run file (atomic) was not written
        exc.tasks_done = record.acc_final.shape[0]
        raise
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)  # the run file now holds everything
    print(f"wrote {out}: train {record.train_seconds:.1f}s, memory {record.memory_bytes:,} bytes" + (", DIVERGED" if record.diverged else ""))
