"""VAN: plain fine-tuning with SGD, task after task; the lower bound of the paper's tables."""

from agem.methods.base import ContinualMethod, register


@register("van")
class Vanilla(ContinualMethod):
    """The base class's step is exactly plain SGD on the current batch."""
