"""GPU selection for jobs that share a machine (agem.training.devices), tested with lock files only."""

import subprocess
import sys

import pytest
import torch

from agem.training import devices


@pytest.fixture
def lock_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(devices.LOCK_DIR_VARIABLE, str(tmp_path))
    yield tmp_path
    for handle in devices._held_locks:  # release what the test claimed
        handle.close()
    devices._held_locks.clear()


def test_jobs_get_distinct_gpus_and_a_released_gpu_is_reused(lock_folder):
    assert [devices.claim_free_gpu(3) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(RuntimeError, match="all 3 GPUs stayed claimed"):
        devices.claim_free_gpu(3, timeout_seconds=0, poll_seconds=0)
    devices._held_locks.pop(1).close()  # the job on GPU 1 ends
    assert devices.claim_free_gpu(3) == 1


def test_a_gpu_held_by_another_process_is_skipped(lock_folder):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom agem.training import devices\ndevices.try_claim_gpu(0)\nprint('held', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert devices.claim_free_gpu(2) == 1
    finally:
        holder.kill()
        holder.wait()
    # A killed job's lock dies with it: GPU 0 is free again.
    assert devices.try_claim_gpu(0)


def test_auto_picks_a_free_gpu_when_cuda_is_there(lock_folder, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert devices.resolve_device("auto") == torch.device("cuda", 0)
    assert devices.resolve_device("cuda") == torch.device("cuda", 1)
    assert devices.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert devices.resolve_device("cpu") == torch.device("cpu")


def test_cpu_only_machines_ignore_gpus(lock_folder, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available; use device: auto or cpu"):
        devices.resolve_device("cuda")
    assert not any(lock_folder.iterdir())
