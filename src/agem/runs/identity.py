"""A run's identity: everything its numbers depend on, as one typed, validated value.

Two runs with the same identity give the same accuracy matrix on one machine; two runs that
differ in any field may not. The identity therefore decides where a run file lives::

    results/runs/{dataset}/{method}/{variant}/seed{seed}.h5

where ``variant`` is a readable rendering of the hyper-parameters followed by a digest of every
field but the dataset, method and seed (``lr0.1_ref_batch_size256-3f9c21ab07``). Two
configurations that ask for the same run share its file (nothing trains twice, across result
sets, locally and on SLURM); two that differ in anything never do. The run file records the
identity (attribute ``identity``), the checkpoint's fingerprint is its digest, and the tables,
figures and bundles read a run only where the recorded identity is the one the configuration
asks for (:func:`identity_mismatch`). docs/file-formats.md#run-identity describes it for users.

The identity is parsed once from the job settings that the workflow hands to a training job
(:func:`agem.pipeline.config.job_settings`, a JSON object) and shared from there on.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from agem.pipeline.paths import RESULTS

IDENTITY_VERSION = 1
# Readable part of the variant: at most this many characters, then the digest decides.
LABEL_CHARACTERS = 60
DIGEST_CHARACTERS = 10
VARIANT_PATTERN = r"[A-Za-z0-9_.+-]+"
SEED_LIMIT = 2**32 - 1  # NumPy's and torch's seeds


class IdentityError(ValueError):
    """Settings or a recorded identity that do not describe a run; the message names the field."""


@dataclass(frozen=True)
class RunIdentity:
    """Everything a run's numbers depend on (module docstring)."""

    dataset: str
    method: str
    seed: int
    hparams: dict  # the method's resolved hyper-parameters as the config gives them
    network: dict
    memory_per_task: int
    training: dict  # agem.training.settings.TrainSettings' fields that change results
    device: str
    stream_spec_sha256: str  # the benchmark's stream (agem.pipeline.config.stream_spec)
    train_threads: int
    method_module: str | None = None  # a method from outside this package (agem.methods.plugins)
    # With cross-validation the hyper-parameters are chosen by a job: the identity holds the grid.
    hparams_selection: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_fields(self)

    # ---- Names ----------------------------------------------------------------------------

    def variant_fields(self) -> dict:
        """The fields a variant's digest covers: all but the dataset, method and seed."""
        return {k: v for k, v in asdict(self).items() if k not in ("dataset", "method", "seed")}

    @property
    def variant(self) -> str:
        """``{readable hyper-parameters}-{digest}``: the run file's folder below its method."""
        digest = hashlib.sha256(canonical_json(self.variant_fields()).encode()).hexdigest()[:DIGEST_CHARACTERS]
        return f"{hparams_label(self.hparams)}-{digest}"

    @property
    def digest(self) -> str:
        """sha256 of the whole identity, seed included: a checkpoint's fingerprint."""
        return hashlib.sha256(canonical_json(asdict(self)).encode()).hexdigest()

    def run_path(self, results: str = RESULTS) -> str:
        return f"{results}/runs/{self.dataset}/{self.method}/{self.variant}/seed{self.seed}.h5"

    # ---- Conversions ----------------------------------------------------------------------

    def to_json(self) -> str:
        return canonical_json({"identity_version": IDENTITY_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> RunIdentity:
        """An identity recorded in a run file; IdentityError for anything but a valid one."""
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise IdentityError(f"the identity is not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise IdentityError("the identity is not a JSON object")
        version = data.pop("identity_version", None)
        if version != IDENTITY_VERSION:
            raise IdentityError(f"identity_version is {version!r}, this code reads {IDENTITY_VERSION}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise IdentityError(f"unknown identity field(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise IdentityError(f"incomplete identity ({exc})") from exc

    @classmethod
    def from_settings(cls, settings: dict, seed: int) -> RunIdentity:
        """The identity of the job that ``settings`` (agem.pipeline.config.job_settings) and
        ``seed`` describe; also reads the ``config`` attribute of run files made before the
        identity was recorded (their settings plus seed, stream, threads)."""
        try:
            return cls(
                dataset=settings["dataset"],
                method=settings["method"],
                seed=seed,
                hparams=settings["hparams"],
                network=settings["network"],
                memory_per_task=settings["memory_per_task"],
                training=settings.get("training", {}),
                device=settings.get("device", "auto"),
                stream_spec_sha256=settings["stream_spec_sha256"],
                train_threads=settings.get("train_threads", 1),
                method_module=settings.get("method_module"),
                hparams_selection=settings.get("hparams_selection", {}),
            )
        except KeyError as exc:
            raise IdentityError(f"the settings lack {exc.args[0]!r}") from exc


def _check_fields(identity: RunIdentity) -> None:
    """Types and ranges: a recorded identity may come from someone else's file."""
    checks: dict[str, tuple[type | tuple[type, ...], ...]] = {
        "dataset": (str,), "method": (str,), "seed": (int,), "hparams": (dict,), "network": (dict,),
        "memory_per_task": (int,), "training": (dict,), "device": (str,), "stream_spec_sha256": (str,),
        "train_threads": (int,), "method_module": (str, type(None)), "hparams_selection": (dict,),
    }
    for name, types in checks.items():
        value = getattr(identity, name)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise IdentityError(f"{name} is {value!r}, not of type {' or '.join(t.__name__ for t in types)}")
    for name in ("dataset", "method"):
        if not re.fullmatch(r"[A-Za-z0-9_]+", getattr(identity, name)):
            raise IdentityError(f"{name} {getattr(identity, name)!r} is not a plain name (letters, digits, '_')")
    if not 0 <= identity.seed <= SEED_LIMIT:
        raise IdentityError(f"seed {identity.seed} is outside 0..{SEED_LIMIT}")
    if identity.memory_per_task < 0 or identity.train_threads < 1:
        raise IdentityError(f"memory_per_task {identity.memory_per_task} or train_threads {identity.train_threads} out of range")
    if not re.fullmatch(r"[0-9a-f]{64}", identity.stream_spec_sha256):
        raise IdentityError(f"stream_spec_sha256 {identity.stream_spec_sha256!r} is not a sha256 digest")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def hparams_label(hparams: dict) -> str:
    """``{lr: 0.1, ref_batch_size: 256}`` → ``lr0.1_ref_batch_size256``, cut to LABEL_CHARACTERS."""
    parts = []
    for key in sorted(hparams):
        value = hparams[key]
        text = json.dumps(value) if not isinstance(value, str) else value
        parts.append(f"{key}{text}")
    label = re.sub(r"[^A-Za-z0-9_.+-]", "", "_".join(parts))[:LABEL_CHARACTERS].strip("._-")
    return label or "default"


def identity_mismatch(expected: RunIdentity, recorded: RunIdentity) -> str | None:
    """Which fields differ, with both values (None if the identities are the same)."""
    ours, theirs = asdict(expected), asdict(recorded)
    differences = [f"{name}: asked {ours[name]!r}, file has {theirs[name]!r}" for name in ours if ours[name] != theirs[name]]
    return "; ".join(differences) or None


def legacy_run_path(identity: RunIdentity, results: str = RESULTS) -> Path:
    """Where the layout before identities kept this run: one file per benchmark, method and seed."""
    return Path(results) / "runs" / identity.dataset / identity.method / f"seed{identity.seed}.h5"
