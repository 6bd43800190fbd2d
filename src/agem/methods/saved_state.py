"""A method's state as tensors and plain data, so that a checkpoint holds no code.

:func:`encode` turns an attribute of a method into a tree that ``torch.load(weights_only=True)``
reads back without running anything:

- tensors as they are (views keep sharing storage, so the flat parameters and the network's
  weights are stored once), marked when they lived on the run's device (a GPU), so that they
  return there;
- a network (``nn.Module``) as its ``state_dict``; a ``torch.Generator`` as its state; a task of
  the stream as its index; a NumPy array as a tensor;
- ``None``, booleans, numbers and strings as they are; lists, tuples, dicts (with such keys) and
  slices element by element;
- any other object with attributes (the episodic memory, the flat parameters, the online Fisher)
  attribute by attribute (those its ``__getstate__`` gives, when its class defines one).

Every container is a dict with a ``"kind"`` entry. Anything else (a function, a file handle, an
object of C type) is a :class:`CheckpointStateError` that names the attribute.

:func:`restore` walks a saved tree against a method freshly built from the run's configuration.
Nothing is ever constructed from a name found in the file: a saved tensor is copied into the fresh
tensor of the same shape and dtype (so views into it, such as parameters into the flat vector,
stay views) or else replaces it; a network loads its ``state_dict`` into the fresh network; a
generator gets its state; an object's attributes are restored into the fresh object of the same
class. What the fresh method lacks (a network where it holds None, an object of another class) is
an error: a method whose state changes shape that way overrides
``checkpoint_state``/``restore_checkpoint_state`` (PROG-NN's columns, iCaRL's previous network).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from agem.data.streams import Task, TaskStream

KIND = "kind"
PRIMITIVES = (type(None), bool, int, float, str)
FIX = ("keep a method's state in tensors, networks, torch.Generators, numbers, strings and lists, tuples or dicts of them, "
       "or override checkpoint_state() and restore_checkpoint_state() (src/agem/methods/README.md#checkpoints)")


class CheckpointStateError(ValueError):
    """A method's state cannot be saved as plain data, or a saved state does not fit the method."""


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _attributes(value: Any) -> dict:
    """The attributes an object would pickle: its ``__getstate__`` if its class defines one."""
    if type(value).__getstate__ is not object.__getstate__:
        state = value.__getstate__()
    else:
        state = vars(value)
    if not isinstance(state, dict) or not all(isinstance(name, str) for name in state):
        raise CheckpointStateError(f"{_type_name(value)}.__getstate__ gives no attribute dict; {FIX}")
    return state


def encode(value: Any, where: str, _active: frozenset[int] = frozenset()) -> Any:
    """``value`` as tensors and plain data (see the module docstring); ``where`` names it in errors."""
    if isinstance(value, PRIMITIVES):
        return value
    if isinstance(value, torch.Tensor):
        # The file is read onto the CPU; a tensor that lived on the run's device goes back there.
        tensor = value.detach()
        return tensor if tensor.device.type == "cpu" else {KIND: "device_tensor", "data": tensor}
    if isinstance(value, nn.Module):
        return {KIND: "module", "state": value.state_dict()}
    if isinstance(value, torch.Generator):
        return {KIND: "generator", "state": value.get_state()}
    if isinstance(value, Task):
        return {KIND: "task", "index": value.index}
    if isinstance(value, slice):
        return {KIND: "slice", "bounds": [encode(b, where) for b in (value.start, value.stop, value.step)]}
    if isinstance(value, np.ndarray):
        try:
            return {KIND: "ndarray", "data": torch.from_numpy(np.ascontiguousarray(value)).clone()}
        except TypeError as exc:
            raise CheckpointStateError(f"{where}: a NumPy array of dtype {value.dtype} cannot be saved ({exc}); {FIX}") from None
    if id(value) in _active:
        raise CheckpointStateError(f"{where}: refers back to an object that contains it; {FIX}")
    active = _active | {id(value)}
    if type(value) in (list, tuple):
        return {KIND: type(value).__name__, "items": [encode(item, f"{where}[{i}]", active) for i, item in enumerate(value)]}
    if type(value) is dict:
        bad = [key for key in value if not isinstance(key, PRIMITIVES)]
        if bad:
            raise CheckpointStateError(f"{where}: a dict key of type {type(bad[0]).__name__} cannot be saved; {FIX}")
        return {KIND: "dict", "items": [[key, encode(item, f"{where}[{key!r}]", active)] for key, item in value.items()]}
    if callable(value) or not hasattr(value, "__dict__"):
        raise CheckpointStateError(f"{where}: a {_type_name(value)} cannot be saved in a checkpoint; {FIX}")
    attributes = _attributes(value)
    return {KIND: "object", "type": _type_name(value),
            "attrs": {name: encode(item, f"{where}.{name}", active) for name, item in attributes.items()}}


def restore(current: Any, saved: Any, where: str, stream: TaskStream) -> Any:
    """The value to hold after restoring ``saved`` (from :func:`encode`) over ``current``, the
    freshly built method's value; restores in place where it can."""
    if isinstance(saved, PRIMITIVES):
        return saved
    if isinstance(saved, torch.Tensor):
        return _restore_tensor(current, saved, torch.device("cpu"))
    if not isinstance(saved, dict) or not isinstance(saved.get(KIND), str):
        raise CheckpointStateError(f"{where}: a saved entry of type {type(saved).__name__} is not one this version writes")
    kind = saved[KIND]
    restorer = _RESTORERS.get(kind)
    if restorer is None:
        raise CheckpointStateError(f"{where}: a saved entry of kind {kind!r} is not one this version writes")
    try:
        return restorer(current, saved, where, stream)
    except CheckpointStateError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise CheckpointStateError(f"{where}: the saved {kind} does not fit the freshly built method ({type(exc).__name__}: {exc})") from None


def _restore_tensor(current: Any, saved: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Into the fresh tensor when it has the same shape and dtype; else ``saved`` on the fresh
    tensor's device, or on ``device`` where the fresh method has no tensor there."""
    if isinstance(current, torch.Tensor):
        if current.shape == saved.shape and current.dtype == saved.dtype:
            with torch.no_grad():
                current.copy_(saved)
            return current
        return saved.to(current.device)
    return saved.to(device)


def _restore_device_tensor(current, saved, where, stream):
    if not isinstance(saved["data"], torch.Tensor):
        raise CheckpointStateError(f"{where}: a saved device tensor holds no tensor")
    return _restore_tensor(current, saved["data"], stream.device)


def _restore_module(current, saved, where, stream):
    if not isinstance(current, nn.Module):
        raise CheckpointStateError(f"{where}: the checkpoint holds a network where the freshly built method holds a "
                                   f"{type(current).__name__}; the method must build it in restore_checkpoint_state() first")
    current.load_state_dict(saved["state"])
    return current


def _restore_generator(current, saved, where, stream):
    if not isinstance(current, torch.Generator):
        raise CheckpointStateError(f"{where}: the checkpoint holds a generator where the freshly built method holds a {type(current).__name__}")
    current.set_state(saved["state"].cpu())
    return current


def _restore_task(current, saved, where, stream):
    index = saved["index"]
    if type(index) is not int or not 0 <= index < len(stream.tasks):
        raise CheckpointStateError(f"{where}: task index {index!r} is not one of the stream's {len(stream.tasks)} tasks")
    return stream.tasks[index]


def _restore_slice(current, saved, where, stream):
    bounds = saved["bounds"]
    if len(bounds) != 3 or not all(b is None or type(b) is int for b in bounds):
        raise CheckpointStateError(f"{where}: a saved slice needs three integer or empty bounds")
    return slice(*bounds)


def _restore_ndarray(current, saved, where, stream):
    return saved["data"].cpu().numpy()


def _restore_sequence(current, saved, where, stream):
    items = saved["items"]
    kind = list if saved[KIND] == "list" else tuple
    fresh = list(current) if isinstance(current, (list, tuple)) and len(current) == len(items) else [None] * len(items)
    return kind(restore(now, item, f"{where}[{i}]", stream) for i, (now, item) in enumerate(zip(fresh, items)))


def _restore_dict(current, saved, where, stream):
    fresh = current if isinstance(current, dict) else {}
    restored = {}
    for key, item in saved["items"]:
        if not isinstance(key, PRIMITIVES):
            raise CheckpointStateError(f"{where}: a saved dict key of type {type(key).__name__} is not one this version writes")
        restored[key] = restore(fresh.get(key), item, f"{where}[{key!r}]", stream)
    return restored


def _restore_object(current, saved, where, stream):
    if _type_name(current) != saved["type"]:
        raise CheckpointStateError(f"{where}: the checkpoint holds a {saved['type']} where the freshly built method holds a "
                                   f"{_type_name(current)}; the method must build it in restore_checkpoint_state() first")
    for name, item in saved["attrs"].items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise CheckpointStateError(f"{where}: {name!r} is not an attribute name this version writes")
        setattr(current, name, restore(getattr(current, name, None), item, f"{where}.{name}", stream))
    return current


_RESTORERS = {"device_tensor": _restore_device_tensor, "module": _restore_module, "generator": _restore_generator,
              "task": _restore_task, "slice": _restore_slice, "ndarray": _restore_ndarray, "list": _restore_sequence,
              "tuple": _restore_sequence, "dict": _restore_dict, "object": _restore_object}
