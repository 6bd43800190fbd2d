"""Each hyper-parameter's valid values, declared once on its dataclass field and checked for all.

A field declared with :func:`hparam` carries its range in its metadata; a subclass that only
overrides the default (``lr: float = 0.1``) keeps the range of the field it overrides, because
:func:`field_range` looks the name up through the class's bases. The type comes from the
annotation. :meth:`agem.methods.base.Hyperparameters.__post_init__` checks both, so the config
check (before any job) and every construction of a method's hyper-parameters reject the same
values, and a new method's fields are checked without code of its own.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """An interval; ``None`` ends are open to infinity."""

    low: float | None = None
    low_inclusive: bool = True
    high: float | None = None
    high_inclusive: bool = True

    def admits(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive)))

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.low_inclusive else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<=' if self.high_inclusive else '<'} {self.high:g}")
        return " and ".join(parts)


def hparam(default, *, gt: float | None = None, ge: float | None = None, lt: float | None = None, le: float | None = None,
           choices: tuple | None = None):
    """A hyper-parameter field with its valid range, e.g. ``lr: float = hparam(0.03, gt=0)``, or
    its valid values, e.g. ``hparam("uniform", choices=("uniform", "task_balanced"))``."""
    if choices is not None:
        return dataclasses.field(default=default, metadata={"choices": tuple(choices)})
    valid = Range(
        low=gt if gt is not None else ge, low_inclusive=gt is None,
        high=lt if lt is not None else le, high_inclusive=lt is None,
    )
    return dataclasses.field(default=default, metadata={"range": valid})


def _declared(cls: type, name: str, key: str):
    """Metadata ``key`` of field ``name`` on ``cls`` or, if a subclass only overrides the default,
    on the nearest base that declares it; None if none does."""
    for klass in cls.__mro__:
        declared = getattr(klass, "__dataclass_fields__", {}).get(name)
        if declared is not None and key in declared.metadata:
            return declared.metadata[key]
    return None


def field_choices(cls: type, name: str) -> tuple | None:
    """The values declared for field ``name`` on ``cls`` or a base, None if any value of its type goes."""
    return _declared(cls, name, "choices")


def field_range(cls: type, name: str) -> Range | None:
    """The range declared for field ``name`` on ``cls`` or, if it only overrides it, on a base."""
    return _declared(cls, name, "range")


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}


def _is_kind(value, kind) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is str:
        return isinstance(value, str)
    return True  # a type this check does not know: the method checks it itself


def check_values(instance) -> None:
    """Raise ValueError naming the first field of ``instance`` whose value has the wrong type or range."""
    cls = type(instance)
    hints = typing.get_type_hints(cls)
    for declared in dataclasses.fields(cls):
        value, kind = getattr(instance, declared.name), hints.get(declared.name)
        valid, choices = field_range(cls, declared.name), field_choices(cls, declared.name)
        if choices is not None and value not in choices:
            raise ValueError(f"{declared.name} must be one of {list(choices)}, got {value!r}")
        if _is_kind(value, kind) and (valid is None or valid.admits(value)):
            continue
        rule = " ".join(part for part in (_TYPE_NAMES.get(kind, ""), valid.describe() if valid else "") if part)
        raise ValueError(f"{declared.name} must be {rule}, got {value!r}")
