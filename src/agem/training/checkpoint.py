"""Checkpoints at task boundaries: a run's state and its method's, saved so that a rerun resumes exactly.

A checkpoint holds no code. The file is

    MAGIC (16 bytes) | header length (4 bytes, big-endian) | header (JSON) | payload

The header is ``{"format", "fingerprint", "payload_bytes", "tag_kind", "tag"}``; the payload is a
``torch.save`` of tensors and plain data only (the run's accuracy matrices and counters, the
shuffle generator's state, and the method's state from
:meth:`~agem.methods.ContinualMethod.checkpoint_state`), read back with
``torch.load(weights_only=True)``. Resuming builds the method afresh from the run's
configuration, exactly as a new run does, and loads that state into it.

What a run does with a file at its checkpoint path, in this order, refusing it (a message naming
the file and the reason, then a fresh start) at the first step that fails:

1. the magic and the header are read, and nothing else: a file without them (an older
   checkpoint, a pickle, junk) is refused;
2. the header's fingerprint (:func:`run_fingerprint`: method, hyper-parameters, network, memory,
   settings, seed and stream) must be the run's own; another configuration's checkpoint is
   refused without reading its payload;
3. the payload must have the header's length (a file cut short by a kill is refused) and its tag;
4. only then is it deserialised (``weights_only``: tensors and plain data, never code) and
   validated: array shapes against the stream's task count, accuracies in [0, 1] or NaN, finite
   non-negative seconds, step and phase counts in range, a method state that fits the method.

Threat model. The tag is an HMAC-SHA256 of the header's fingerprint and the payload, keyed by a
random per-user key created on first use (:func:`key_path`, mode 0600). A file planted at a
checkpoint path or edited by someone who cannot read that key is refused; so is one written by
another user, or on a machine with another home directory (a lost shortcut: the run starts
afresh). Whoever can read the key (the user's home, a backup of it) can forge a checkpoint that
is resumed; even so it is never unpickled into code, and its numbers must pass the validation
above. Where the key cannot be created (a read-only home), the tag falls back to a plain SHA-256,
which catches damage but not deliberate edits; such a checkpoint is only resumed where the key is
missing too.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from agem.data.streams import TaskStream
from agem.io.atomic import write_bytes
from agem.io.user_cache import user_cache
from agem.methods import ContinualMethod
from agem.methods.saved_state import CheckpointStateError
from agem.training.settings import TrainSettings


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


CHECKPOINT_FORMAT = 2
MAGIC = b"AGEM-CHECKPOINT\n"
MAX_HEADER_BYTES = 4096
KEY_BYTES = 32
HMAC_TAG, SHA256_TAG = "hmac-sha256", "sha256"
ACCURACY_ARRAYS = ("acc_final", "acc_lca", "acc_memory")
RUN_FIELDS = {*ACCURACY_ARRAYS, "curve", "curve_step", "step", "next_phase", "train_seconds"}
MAX_STEPS = 2**53  # steps are counted in Python ints; anything beyond a float's integers is not a count


class CheckpointRefused(Exception):
    """A checkpoint this run must not resume; the message says why."""


def run_fingerprint(stream: TaskStream, method_name: str, hparams: dict, network: dict, memory_per_task: int, settings: TrainSettings, seed: int,
                    identity_digest: str | None = None) -> str:
    """Identifies a run's inputs, so that a checkpoint is only resumed by the same run: a workflow
    job's identity (agem.runs.identity: ``identity_digest``) with the stream's data, else the
    arguments themselves (a run started from Python)."""
    attrs = stream.file.attrs
    if identity_digest is not None:
        data = [identity_digest, str(attrs.get("source_sha256", "")), int(attrs["seed"])]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()
    relevant = {k: v for k, v in asdict(settings).items() if k not in ("progress_seconds", "eval_batch_size")}
    identity = [method_name, hparams, network, memory_per_task, relevant, seed,
                str(attrs.get("source_sha256", "")), int(attrs["seed"]), str(attrs.get("params", ""))]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


# --- the integrity key and tag -------------------------------------------------------------------
def key_path() -> Path:
    """The per-user checkpoint key: ``$XDG_CACHE_HOME/agem-repro/checkpoint.key`` (``~/.cache`` by default)."""
    return user_cache() / "checkpoint.key"


def _create_key(path: Path) -> None:
    """Write a random key to ``path`` unless one is there: written whole to a private temporary
    file, then hard-linked into place, so that concurrent jobs agree on one complete key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another job created it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)


def checkpoint_key() -> bytes | None:
    """This user's checkpoint key, created on first use; None where it cannot be read or created
    (then tags fall back to a plain SHA-256: damage is caught, deliberate edits are not)."""
    path = key_path()
    try:
        if not path.exists():
            _create_key(path)
        key = path.read_bytes()
    except OSError:
        return None
    return key if len(key) == KEY_BYTES else None


def _tag(kind: str, key: bytes | None, fingerprint: str, payload: bytes) -> str:
    # The fingerprint is tagged with the payload: a payload moved under another run's header fails.
    message = MAGIC + fingerprint.encode() + b"\0" + payload
    if kind == HMAC_TAG:
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


# --- writing -------------------------------------------------------------------------------------
def _run_payload(state: RunState) -> dict:
    n = state.acc_final.shape[0]
    return {
        **{name: torch.from_numpy(np.array(getattr(state, name), dtype=np.float64)) for name in ACCURACY_ARRAYS},
        "curve": torch.from_numpy(np.array(state.curve, dtype=np.float64).reshape(-1, n)),
        "curve_step": torch.from_numpy(np.array(state.curve_step, dtype=np.int64).reshape(-1, 2)),
        "step": int(state.step),
        "next_phase": int(state.next_phase),
        "train_seconds": float(state.train_seconds),
    }


def save_checkpoint(path: Path, fingerprint: str, state: RunState, method: ContinualMethod, shuffle_generator: torch.Generator) -> None:
    # Serialised in memory, then written: a full disk is a plain OSError naming the file
    # (torch.save onto a full disk failed with "enforce fail at inline_container.cc").
    buffer = io.BytesIO()
    torch.save({"run": _run_payload(state), "method": method.checkpoint_state(), "shuffle_generator": shuffle_generator.get_state()}, buffer)
    write_bytes(path, seal(fingerprint, buffer.getvalue()))


def seal(fingerprint: str, payload: bytes) -> bytes:
    """The checkpoint file's bytes: magic, header (with this user's tag) and ``payload``."""
    key = checkpoint_key()
    kind = HMAC_TAG if key is not None else SHA256_TAG
    header = json.dumps({"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "payload_bytes": len(payload),
                         "tag_kind": kind, "tag": _tag(kind, key, fingerprint, payload)}).encode()
    return MAGIC + len(header).to_bytes(4, "big") + header + payload


# --- reading -------------------------------------------------------------------------------------
def read_header(handle) -> dict:
    """The header of an open checkpoint file, reading nothing beyond it."""
    if handle.read(len(MAGIC)) != MAGIC:
        raise CheckpointRefused("it is not a checkpoint of this version (no checkpoint header: an older checkpoint, a pickle, or another file)")
    length = int.from_bytes(handle.read(4).rjust(4, b"\0"), "big")
    if not 0 < length <= MAX_HEADER_BYTES:
        raise CheckpointRefused(f"its header length {length} is not between 1 and {MAX_HEADER_BYTES} bytes")
    raw = handle.read(length)
    try:
        header = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointRefused("its header is cut short or is not JSON") from None
    expected = {"format": int, "fingerprint": str, "payload_bytes": int, "tag_kind": str, "tag": str}
    if not isinstance(header, dict) or set(header) != set(expected) or not all(type(header[k]) is t for k, t in expected.items()):
        raise CheckpointRefused(f"its header does not have exactly the fields {sorted(expected)} with their types")
    return header


def _read_sealed(path: Path, fingerprint: str) -> bytes:
    """The payload of ``path`` if it is this run's own, untouched checkpoint (steps 1–3 of the module docstring)."""
    with path.open("rb") as handle:
        header = read_header(handle)
        if header["format"] != CHECKPOINT_FORMAT:
            raise CheckpointRefused(f"it has format {header['format']}, this version reads format {CHECKPOINT_FORMAT}")
        if header["fingerprint"] != fingerprint:
            raise CheckpointRefused("it belongs to another configuration (its fingerprint is not this run's)")
        payload = handle.read(header["payload_bytes"])
        if len(payload) != header["payload_bytes"]:
            raise CheckpointRefused(f"it is truncated ({len(payload)} of {header['payload_bytes']} payload bytes)")
        if handle.read(1):
            raise CheckpointRefused("it has bytes beyond its payload")
    key = checkpoint_key()
    expected = HMAC_TAG if key is not None else SHA256_TAG
    if header["tag_kind"] != expected:
        raise CheckpointRefused(f"it is tagged with {header['tag_kind']!r} where this user's checkpoints carry {expected!r} (key {key_path()})")
    if not hmac.compare_digest(header["tag"], _tag(expected, key, fingerprint, payload)):
        raise CheckpointRefused(f"its integrity tag does not match: edited, damaged, or written with another key than {key_path()}")
    return payload


def _accuracies(saved: torch.Tensor, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(saved, torch.Tensor) or saved.dtype != torch.float64 or tuple(saved.shape) != shape:
        raise CheckpointRefused(f"its {name} is not a float64 array of shape {shape}")
    values = saved.numpy()
    if not np.all(np.isnan(values) | ((values >= 0) & (values <= 1))):
        raise CheckpointRefused(f"its {name} holds accuracies outside [0, 1]")
    return values.copy()


def _count(saved, name: str, low: int, high: int) -> int:
    if type(saved) is not int or not low <= saved <= high:
        raise CheckpointRefused(f"its {name} {saved!r} is not an integer between {low} and {high}")
    return saved


def _run_state(saved, fresh: RunState, n_phases: int) -> RunState:
    """The saved run state, checked against the shapes of the run's ``fresh`` state."""
    if not isinstance(saved, dict) or set(saved) != RUN_FIELDS:
        raise CheckpointRefused(f"its run state does not have exactly the fields {sorted(RUN_FIELDS)}")
    arrays = {name: _accuracies(saved[name], name, getattr(fresh, name).shape) for name in ACCURACY_ARRAYS}
    n = fresh.acc_final.shape[0]
    curve_step = saved["curve_step"]
    if not isinstance(curve_step, torch.Tensor) or curve_step.dtype != torch.int64 or curve_step.ndim != 2 or curve_step.shape[1] != 2:
        raise CheckpointRefused("its curve_step is not an int64 array of (task, step) pairs")
    curve = _accuracies(saved["curve"], "curve", (len(curve_step), n))
    pairs = curve_step.numpy()
    if len(pairs) and not (np.all((pairs[:, 0] >= 0) & (pairs[:, 0] < n)) and np.all(pairs[:, 1] >= 1)):
        raise CheckpointRefused(f"its curve_step names a task outside 0..{n - 1} or a step below 1")
    seconds = saved["train_seconds"]
    if type(seconds) is not float or not math.isfinite(seconds) or seconds < 0:
        raise CheckpointRefused(f"its train_seconds {seconds!r} is not a finite non-negative number")
    return RunState(**arrays, curve=list(curve), curve_step=[tuple(int(v) for v in pair) for pair in pairs],
                    step=_count(saved["step"], "step", 0, MAX_STEPS), next_phase=_count(saved["next_phase"], "next_phase", 1, n_phases),
                    train_seconds=seconds)


def _shuffle_state(saved) -> torch.Tensor:
    expected = torch.Generator().get_state()
    if not isinstance(saved, torch.Tensor) or saved.dtype != expected.dtype or saved.shape != expected.shape:
        raise CheckpointRefused("its shuffle generator state is not a generator's state")
    return saved


def load_checkpoint(path: Path, fingerprint: str, fresh: RunState, build_method: Callable[[], ContinualMethod],
                    log: Callable[[str], None]) -> tuple[RunState, ContinualMethod, torch.Tensor] | None:
    """The checkpoint's (state, method, shuffle-generator state), or None to start afresh.

    ``fresh`` is the run's state before its first task (it gives the shapes to check against);
    ``build_method`` builds the method as a new run does, to load the saved state into. A refused
    checkpoint is logged with the reason and leaves nothing behind.
    """
    if not path.is_file():
        return None
    try:
        payload = _read_sealed(path, fingerprint)
        try:
            saved = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 (whatever the unpickler says, the file is refused)
            # Not torch's own text: it suggests weights_only=False, which is what must never happen here.
            raise CheckpointRefused(f"its payload is not plain tensors and data (torch.load with weights_only refused it: {type(exc).__name__})") from None
        if not isinstance(saved, dict) or set(saved) != {"run", "method", "shuffle_generator"}:
            raise CheckpointRefused("its payload does not hold exactly a run state, a method state and a generator state")
        method = build_method()
        n_phases = 1 if method.joint_training else fresh.acc_final.shape[0]
        state = _run_state(saved["run"], fresh, n_phases)
        generator_state = _shuffle_state(saved["shuffle_generator"])
        try:
            method.restore_checkpoint_state(saved["method"])
        except CheckpointStateError as exc:
            raise CheckpointRefused(f"its method state does not fit: {exc}") from None
    except CheckpointRefused as exc:
        log(f"ignoring checkpoint {path}: {exc}; starting from the first task")
        return None
    except OSError as exc:
        log(f"ignoring checkpoint {path}: it cannot be read ({exc}); starting from the first task")
        return None
    return state, method, generator_state
