"""Speed settings (config ``performance``), the fused optimiser and the training loader's
independence from the number of processes and loader workers."""

from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from mnpo.models import WSOLNet
from mnpo.train.distributed import World
from mnpo.train.loop import train_one_epoch
from mnpo.train.optim import Schedule, load_optimizer_state, make_optimizer
from mnpo.train.performance import Performance, loader_workers
from mnpo.train.sampling import per_rank_batch, train_loader

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_settings_are_fp32_and_unfused_on_cpu_bf16_and_fused_on_cuda() -> None:
    auto = Performance.from_dict(None)
    assert (auto.autocast_dtype(CPU), auto.fused(CPU)) == (None, False)
    assert (auto.autocast_dtype(CUDA), auto.fused(CUDA)) == (torch.bfloat16, True)
    assert auto.memory_format == torch.channels_last
    forced = Performance.from_dict({"precision": "bf16", "fused_optimizer": True})
    assert (forced.autocast_dtype(CPU), forced.fused(CPU)) == (torch.bfloat16, True)
    assert Performance(channels_last=False).memory_format == torch.contiguous_format
    assert auto.describe(CUDA, 2) == "cuda x2, bf16 autocast, channels_last, fused SGD"
    with pytest.raises(ValueError, match="unknown performance keys \\['speed'\\]"):
        Performance.from_dict({"speed": True})
    with pytest.raises(ValueError, match="precision"):
        Performance(precision="fp16")


def test_loader_workers_default_to_zero_on_cpu_and_the_threads_on_cuda() -> None:
    assert loader_workers(None, CPU, threads=8, ranks=1) == 0
    assert loader_workers(None, CUDA, threads=8, ranks=2) == 3
    assert loader_workers(None, CUDA, threads=1, ranks=1) == 1
    assert loader_workers(5, CUDA, threads=8, ranks=2) == 5


def _params() -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    return [torch.nn.Parameter(torch.ones(3))], [torch.nn.Parameter(torch.ones(2))]


def test_fused_sgd_when_asked_and_supported_else_the_default_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schedule = Schedule(epochs=1, batch_size=2, lr=0.1)
    fused = make_optimizer(*_params(), schedule, from_scratch=False, fused=True)
    default = make_optimizer(*_params(), schedule, from_scratch=False)
    assert [g["fused"] for g in fused.param_groups] == [True, True]
    assert [g["fused"] for g in default.param_groups] == [None, None]  # torch's for-each step
    complex_param = [torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))]
    with caplog.at_level("INFO"):
        fallback = make_optimizer([], complex_param, schedule, from_scratch=False, fused=True)
    assert fallback.param_groups[0]["fused"] is None
    assert "fused SGD unavailable" in caplog.text


def test_resuming_keeps_this_optimisers_implementation() -> None:
    schedule = Schedule(epochs=1, batch_size=2, lr=0.1)
    fused = make_optimizer(*_params(), schedule, from_scratch=False, fused=True)
    for group in fused.param_groups:
        for p in group["params"]:
            p.grad = torch.ones_like(p)
    fused.step()
    default = make_optimizer(*_params(), schedule, from_scratch=False)
    load_optimizer_state(default, fused.state_dict())
    assert [g["fused"] for g in default.param_groups] == [None, None]
    saved = fused.state[fused.param_groups[0]["params"][0]]["momentum_buffer"]
    loaded = default.state[default.param_groups[0]["params"][0]]["momentum_buffer"]
    assert torch.equal(loaded, saved)


class RandomViews(Dataset):
    """Index i -> (two draws of torch's global RNG, i % 3, i): stands for an augmentation."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        return torch.rand(2), index % 3, index


def _by_index(images: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) -> Any:
    order = index.argsort()
    return images[order], labels[order], index[order]


def test_two_ranks_and_loader_workers_see_the_one_process_batches() -> None:
    one = list(train_loader(RandomViews(), 4, seed=7))
    rank0 = list(train_loader(RandomViews(), 4, seed=7, rank=0, ranks=2))
    rank1 = list(train_loader(RandomViews(), 4, seed=7, rank=1, ranks=2, workers=2))
    assert [len(b[2]) for b in one] == [4, 4, 2] and [len(b[2]) for b in rank0] == [2, 2, 1]
    for whole, a, b in zip(one, rank0, rank1, strict=True):
        joined = _by_index(*(torch.cat(pair) for pair in zip(a, b, strict=True)))
        for x, y in zip(_by_index(*whole), joined, strict=True):
            assert torch.equal(x, y)
    other_epoch = list(train_loader(RandomViews(), 4, seed=8))
    assert not torch.equal(other_epoch[0][2], one[0][2])
    with pytest.raises(ValueError, match="batch size 5 cannot be split over 2 processes"):
        per_rank_batch(5, 2)


def _one_step(settings: Performance) -> tuple[float, torch.Tensor]:
    torch.manual_seed(0)
    model = WSOLNet("resnet18", 3, "cam").to(memory_format=settings.memory_format)
    optimizer = make_optimizer(
        *model.parameter_groups(),
        Schedule(epochs=1, batch_size=2, lr=0.01),
        from_scratch=True,
        fused=settings.fused(CPU),
    )
    batch = [(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)),
              torch.tensor([0, 2]), torch.arange(2))]  # fmt: skip
    loss, _ = train_one_epoch(model, batch, optimizer, CPU, "t", settings=settings, world=World())
    return loss, model.fc.weight.detach().clone()


def test_default_cpu_step_is_reproducible_and_bf16_autocast_agrees() -> None:
    loss, weights = _one_step(Performance())
    again = _one_step(Performance())
    assert loss == again[0] and torch.equal(weights, again[1])
    bf16_loss, _ = _one_step(Performance(precision="bf16", fused_optimizer=True))
    assert bf16_loss == pytest.approx(loss, rel=2e-2)  # bf16 keeps about 3 significant digits
