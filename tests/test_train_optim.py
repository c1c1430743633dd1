"""Learning-rate schedule and parameter groups (METHOD.md §4, §10.2)."""

import pytest
import torch

from mnpo.train.optim import (
    Schedule,
    lr_at_epoch,
    make_optimizer,
    model_schedule,
    set_epoch_lr,
)


def test_ilsvrc_schedule_decays_at_epochs_4_and_8() -> None:
    lrs = [lr_at_epoch(1.0, e, (4, 8), 0.1) for e in range(1, 11)]
    assert lrs[:3] == [1.0] * 3
    assert lrs[3:7] == pytest.approx([0.1] * 4)
    assert lrs[7:] == pytest.approx([0.01] * 3)


def test_groups_pretrained_at_lr_new_at_ratio_and_scratch_all_new() -> None:
    old, new = [torch.nn.Parameter(torch.zeros(2))], [torch.nn.Parameter(torch.zeros(3))]
    schedule = Schedule(epochs=3, batch_size=4, lr=0.01, lr_new_ratio=15, lr_decay_epochs=(2,))
    opt = make_optimizer(old, new, schedule, from_scratch=False)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.15])
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    set_epoch_lr(opt, 2, schedule)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.001, 0.015])
    scratch = make_optimizer(old, new, schedule, from_scratch=True)
    assert [g["lr"] for g in scratch.param_groups] == pytest.approx([0.01, 0.01])


def test_schedule_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown training keys \\['epoch'\\]"):
        Schedule.from_dict({"epoch": 3, "batch_size": 2, "lr": 0.1})


def test_model_overrides_take_precedence_over_the_dataset_schedule() -> None:
    dataset = {"epochs": 6, "batch_size": 32, "lr": 0.01, "lr_decay_epochs": [5]}
    schedule = model_schedule(dataset, {"lr": 0.05})
    assert (schedule.lr, schedule.epochs, schedule.lr_decay_epochs) == (0.05, 6, (5,))
    assert model_schedule(dataset, None) == Schedule.from_dict(dataset)
    with pytest.raises(ValueError, match="lrr"):
        model_schedule(dataset, {"lrr": 0.05})
