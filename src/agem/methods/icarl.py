"""iCaRL (Rebuffi et al. 2017), the Split CIFAR row of the paper's Table 4.

The official A-GEM code has no iCaRL, so this follows the iCaRL paper, fitted to the A-GEM
protocol (single pass, batch 10, plain SGD, the same memory budget as A-GEM):

* **Exemplars** — at each task's end, every class of the task gets the same slots as A-GEM's
  memory (``memory_per_task`` split evenly over the task's classes, agem.methods.memory), filled by
  *herding* (iCaRL Alg. 4) on the L2-normalised penultimate features φ(x): the k-th exemplar is
  the example, not yet chosen, whose addition brings the mean of the chosen features closest to
  the class mean μ = mean φ(x). Exemplar sets are never reduced (A-GEM's budget grows per task).
* **Training** — each step trains on the current batch plus ``replay_batch_size`` exemplars drawn
  without replacement from the memory, with iCaRL's sigmoid binary cross-entropy summed over the
  output units of the classes seen so far and averaged over examples: targets are the one-hot
  label on the current task's units and, *distillation*, the sigmoid outputs of the network as
  it was at the end of the previous task (frozen, in evaluation mode) on the units of earlier
  tasks' classes that are not the current task's. **Choice**: the iCaRL paper's sigmoid BCE
  distillation (the A-GEM code has no variant of its own). With one shared head (permuted
  benchmarks) every class is a current class, so the distillation term is empty and iCaRL
  reduces to replay with BCE plus the classifier below.
* **Classification** — nearest mean of exemplars: scores −‖φ(x) − μ_y‖ with μ_y the normalised
  mean of the normalised features of class y's exemplars, recomputed with the current network
  (cached until the next step), restricted to the example's task's classes on multi-head
  benchmarks (agem.methods.base.mask_logits). An example of a task whose classes do not all
  have exemplars yet (the current task, before its end) is classified by the network's outputs.

The penultimate features are the last hidden ReLU output of the MLP and ``model.features(x)``
(the pooled features) of the ResNets.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from agem.data.streams import Task
from agem.methods.base import (
    MASKED_LOGIT,
    Batch,
    Hyperparameters,
    RehearsalMethod,
    mask_logits,
    register,
)
from agem.methods.hparam_checks import hparam
from agem.networks.models import MLP

FEATURE_BATCH_SIZE = 1024  # examples per forward pass when computing features (any value gives the same)


@dataclass
class ICaRLHyperparameters(Hyperparameters):
    lr: float = 0.03
    replay_batch_size: int = hparam(10, ge=1)  # exemplars added to every batch of the current task


def feature_extractor_and_head(model: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], nn.Module]:
    """(x ↦ penultimate features, the layer mapping them to logits) of a network."""
    if isinstance(model, MLP):
        body = model.layers[:-1]
        return (lambda x: body(x.flatten(1))), model.layers[-1]
    if hasattr(model, "features") and hasattr(model, "head"):
        return model.features, model.head
    raise TypeError(f"iCaRL needs penultimate features; {type(model).__name__} is neither an MLP nor has features()/head")


def herding_selection(features: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of ``count`` rows of ``features`` chosen by iCaRL's herding, in the order chosen.

    Step k picks the row p_k, among those not yet chosen, minimising
    ‖μ − (φ(p_k) + Σ_{j<k} φ(p_j)) / k‖ with μ the mean of all rows.
    """
    count = min(count, len(features))
    mean = features.mean(0)
    chosen_sum = torch.zeros_like(mean)
    available = torch.ones(len(features), dtype=torch.bool, device=features.device)
    chosen = []
    for k in range(1, count + 1):
        distance = (mean - (chosen_sum + features) / k).norm(dim=1)
        distance[~available] = torch.inf
        best = int(distance.argmin())
        chosen.append(best)
        available[best] = False
        chosen_sum += features[best]
    return torch.tensor(chosen, dtype=torch.long)


@register("icarl")
class ICaRL(RehearsalMethod):
    Hyperparameters = ICaRLHyperparameters

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n_outputs, device = self.stream.n_outputs, self.stream.device
        self.seen_outputs = torch.zeros(n_outputs, dtype=torch.bool, device=device)
        self.current_outputs = torch.zeros_like(self.seen_outputs)
        self.previous_model: nn.Module | None = None
        self._class_means: tuple[torch.Tensor, torch.Tensor] | None = None  # (means, has_exemplars)

    # --- features and class means ------------------------------------------------------------
    def normalised_features(self, x: torch.Tensor) -> torch.Tensor:
        features, _ = feature_extractor_and_head(self.model)
        return F.normalize(features(x), dim=1)

    @torch.no_grad()
    def _features_in_eval_mode(self, x: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            return torch.cat([self.normalised_features(part) for part in x.split(FEATURE_BATCH_SIZE)])
        finally:
            self.model.train(was_training)

    def class_means(self) -> tuple[torch.Tensor, torch.Tensor]:
        """([n_outputs, d] normalised exemplar means, [n_outputs] whether a class has exemplars)."""
        if self._class_means is None:
            features = self._features_in_eval_mode(self.memory.x)
            n_outputs = self.stream.n_outputs
            sums = torch.zeros(n_outputs, features.shape[1], device=features.device).index_add_(0, self.memory.y, features)
            counts = torch.bincount(self.memory.y, minlength=n_outputs)
            self._class_means = F.normalize(sums, dim=1), counts > 0
        return self._class_means

    # --- the training loop's interface ---------------------------------------------------------
    def begin_task(self, task: Task) -> None:
        super().begin_task(task)
        self.current_outputs.zero_()
        self.current_outputs[task.classes] = True
        self.seen_outputs |= self.current_outputs

    def observe(self, batch: Batch) -> torch.Tensor:
        self._class_means = None
        x, y = batch.x, batch.y
        if len(self.memory) > 0 and self.hparams.replay_batch_size > 0:
            x_memory, y_memory, _ = self.memory.sample(self.hparams.replay_batch_size)
            x, y = torch.cat([x, x_memory]), torch.cat([y, y_memory])
        targets = F.one_hot(y, self.stream.n_outputs).to(x.dtype)
        distilled = self.seen_outputs & ~self.current_outputs
        if self.previous_model is not None and bool(distilled.any()):
            with torch.no_grad():
                targets[:, distilled] = torch.sigmoid(self.previous_model(x)[:, distilled])
        logits = self.model(x)[:, self.seen_outputs]
        loss = F.binary_cross_entropy_with_logits(logits, targets[:, self.seen_outputs], reduction="sum") / len(x)
        self.flat.backward_into(0, loss)
        self.flat.sgd_step(self.hparams.lr)
        return loss.detach()

    def end_task(self, task: Task) -> None:
        self._class_means = None
        positions = torch.arange(task.n_train, device=self.stream.device)
        features = self._features_in_eval_mode(task.train_batch(positions)[0])
        chosen = [of_class[herding_selection(features[of_class.to(features.device)], quota)] for of_class, quota in self.memory.class_quotas(task)]
        self.memory.store(task, torch.cat(chosen))
        self.previous_model = copy.deepcopy(self.model).eval().requires_grad_(False)

    def restore_checkpoint_state(self, saved: dict) -> None:
        if isinstance(saved, dict) and saved.get("previous_model") is not None:
            # A fresh method has no previous network yet: build one of the same shape to load into.
            self.previous_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        super().restore_checkpoint_state(saved)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        masks = self.stream.output_masks
        features, head = feature_extractor_and_head(self.model)
        hidden = features(x)
        network_scores = mask_logits(head(hidden), masks, task_ids)
        if len(self.memory) == 0:
            return network_scores
        means, has_exemplars = self.class_means()
        nearest_mean_scores = -torch.cdist(F.normalize(hidden, dim=1), means)
        nearest_mean_scores[:, ~has_exemplars] = MASKED_LOGIT
        nearest_mean_scores = mask_logits(nearest_mean_scores, masks, task_ids)
        task_outputs = torch.ones_like(network_scores, dtype=torch.bool) if masks is None else masks[task_ids]
        covered = (has_exemplars | ~task_outputs).all(dim=1, keepdim=True)
        return torch.where(covered, nearest_mean_scores, network_scores)

    def state_bytes(self) -> int:
        total = super().state_bytes()
        if self.previous_model is not None:
            total += sum(t.numel() * t.element_size() for t in [*self.previous_model.parameters(), *self.previous_model.buffers()])
        return total
