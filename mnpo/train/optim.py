"""Optimiser and learning-rate schedule (METHOD.md §4, §10.2).

SGD with Nesterov momentum; pretrained backbone layers at ``lr``, newly added layers (conv6, FC,
branches) at ``lr * lr_new_ratio``. A backbone trained from scratch has no pretrained layers to
protect, and the x ratio rate made ResNet50 from scratch diverge on the embedded data (val loss
1e7 at lr 0.1, batch 32), so every parameter then trains at ``lr``.
The rate is decayed by ``lr_decay_factor`` at each milestone epoch: for 1-based epoch ``e``,
``lr(e) = lr * factor ** #{m in milestones : m <= e}`` (upstream calls its decay rule before
each epoch; ILSVRC's "every 4 epochs" over 10 epochs is milestones [4, 8]).
The step runs the fused single-kernel SGD when asked and the parameters' device and dtype
support it (probed once), else torch's default implementation (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mnpo.configs import checked_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Training hyper-parameters of one dataset (config ``datasets.<name>.train``)."""

    epochs: int
    batch_size: int
    lr: float
    lr_new_ratio: float = 10.0
    lr_decay_epochs: tuple[int, ...] = ()
    lr_decay_factor: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    workers: int | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Schedule:
        """Build from a config mapping; unknown keys are an error."""
        data = checked_keys(cls, values, "training")
        if "lr_decay_epochs" in data:
            data["lr_decay_epochs"] = tuple(int(e) for e in data["lr_decay_epochs"])
        return cls(**data)


def model_schedule(dataset_train: dict[str, Any], model_train: dict[str, Any] | None) -> Schedule:
    """The dataset's schedule with one model's overrides applied (config ``models.<m>.train``).

    Example: dataset ``{epochs: 6, lr: 0.01}`` + model ``{lr: 0.05}`` -> epochs 6, lr 0.05.
    """
    return Schedule.from_dict({**dataset_train, **(model_train or {})})


def lr_at_epoch(base_lr: float, epoch: int, milestones: Sequence[int], factor: float) -> float:
    """Learning rate of 1-based ``epoch``: ``base_lr * factor ** #{m <= epoch}``."""
    return base_lr * factor ** sum(1 for m in milestones if m <= epoch)


def fused_sgd_available(params: Sequence[nn.Parameter]) -> bool:
    """Whether ``torch.optim.SGD(fused=True)`` can step parameters of these devices and dtypes.

    Torch checks only at the first step, so one step on a 1-element probe per (device, dtype)
    decides; a failure is logged with torch's reason.
    """
    for device, dtype in {(p.device, p.dtype) for p in params}:
        probe = nn.Parameter(torch.zeros(1, device=device, dtype=dtype))
        probe.grad = torch.zeros_like(probe)
        try:
            torch.optim.SGD([probe], lr=0.0, momentum=0.9, nesterov=True, fused=True).step()
        except RuntimeError as err:
            log.info("fused SGD unavailable for %s %s (%s): default step", device, dtype, err)
            return False
    return True


def make_optimizer(
    pretrained: list[nn.Parameter],
    new: list[nn.Parameter],
    schedule: Schedule,
    *,
    from_scratch: bool,
    fused: bool = False,
) -> torch.optim.SGD:
    """SGD over two groups; group 0 = pretrained (``lr``), group 1 = new (``lr * ratio``).

    With ``from_scratch`` every parameter trains at ``lr``. ``fused`` asks for the fused kernel
    (granted when :func:`fused_sgd_available`).
    """
    new_lr = schedule.lr if from_scratch else schedule.lr * schedule.lr_new_ratio
    base_lr = schedule.lr
    groups = [
        {"params": pretrained, "lr": base_lr, "base_lr": base_lr},
        {"params": new, "lr": new_lr, "base_lr": new_lr},
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]],
        lr=schedule.lr,
        momentum=schedule.momentum,
        nesterov=schedule.nesterov,
        weight_decay=schedule.weight_decay,
        # None, not False: an explicit False would also turn off torch's default for-each step
        fused=True if fused and fused_sgd_available([*pretrained, *new]) else None,
    )


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load a saved state (momentum buffers, rates) but keep this optimiser's implementation:
    torch would restore the saved ``fused`` / ``foreach`` flags, which may not suit this device."""
    implementation = [{k: g[k] for k in ("fused", "foreach")} for g in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, flags in zip(optimizer.param_groups, implementation, strict=True):
        group.update(flags)


def set_epoch_lr(optimizer: torch.optim.Optimizer, epoch: int, schedule: Schedule) -> float:
    """Apply the decay of 1-based ``epoch`` to every group; returns the first group's lr."""
    for group in optimizer.param_groups:
        group["lr"] = lr_at_epoch(
            group["base_lr"], epoch, schedule.lr_decay_epochs, schedule.lr_decay_factor
        )
    return optimizer.param_groups[0]["lr"]
