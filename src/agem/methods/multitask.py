"""MULTI-TASK: one shuffled pass over all tasks' training data together (the paper's upper bound).

Each example keeps its own task's output mask, so on multi-head benchmarks the loss is the
same as the one the sequential methods see for that task.
"""

from agem.methods.base import ContinualMethod, register


@register("multitask")
class MultiTask(ContinualMethod):
    joint_training = True
