"""MNPOs map extraction: ours (``mnpo.cams.mnpo.mnpos_maps``) against a re-creation of the
reference approach, on the same model and batch, in one run.

The reference (METHOD.md §3) runs a full forward pass with parameter gradients enabled, keeps the
chosen layer's activation with a tensor hook, and calls ``backward`` four times (class score of
each branch, then the custom soft-max cross-entropy of each branch), zeroing the parameters'
``.grad`` between calls. Ours starts the graph at the layer (``detach_at``), takes one
``torch.autograd.grad`` per quantity, and never forms a parameter gradient.

    .venv/bin/python benchmarks/bench_mnpos.py [--backbone vgg16] [--size 224] [--batch 32]
        [--classes 1000] [--layer conv5_2] [--repeats 5] [--device cpu|cuda]

Prints both times per batch, images/s, the speed-up ratio and the largest difference between the
two maps (they must agree).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from mnpo.cams.cam import postprocess_weights
from mnpo.cams.mnpo import TARGET_WEIGHT, mnpos_maps
from mnpo.models import WSOLNet


def reference_mnpos(
    model: WSOLNet, images: Tensor, classes: Tensor, layer: str, a: float, b: float
) -> Tensor:
    """The reference's way: hooks, four backward passes, parameter gradients filled."""
    captured: list[Tensor] = []
    output = model(images, taps=(layer,))
    s = output.taps[layer]
    s.register_hook(captured.append)
    onehot = F.one_hot(classes, output.logits.shape[1]).to(output.logits.dtype)
    grads = []
    for z in (output.logits, output.branch_logits):
        model.zero_grad()
        z.gather(1, classes[:, None]).sum().backward(retain_graph=True)
        grads.append(captured.pop())
    logit_grad = grads[0] + grads[1]
    for z in (output.logits, output.branch_logits):
        model.zero_grad()
        z.backward(z.detach().softmax(1) - TARGET_WEIGHT * onehot, retain_graph=True)
        grads.append(captured.pop())
    loss_grad = grads[2] + grads[3]
    model.zero_grad()
    s = s.detach()
    alpha = postprocess_weights(logit_grad.sum(dim=(2, 3)), a, b)

    def unit(x: Tensor) -> Tensor:
        return x / x.flatten(1).norm(dim=1).view(-1, 1, 1, 1)

    return torch.einsum("bc,bchw->bhw", alpha, unit(s) - unit(loss_grad)).float() / s.shape[1]


def timed(fn: Callable[[], Tensor], repeats: int, device: torch.device) -> tuple[float, Tensor]:
    """Best wall time of ``repeats`` calls (after one warm-up) and the last result."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - tic)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--layer", default="conv5_2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = WSOLNet(args.backbone, args.classes, "mnpo").to(device).eval()
    images = torch.randn(args.batch, 3, args.size, args.size, device=device)
    classes = torch.randint(0, args.classes, (args.batch,), device=device)
    ref_time, ref = timed(
        lambda: reference_mnpos(model, images, classes, args.layer, 10.0, 5.0), args.repeats, device
    )
    our_time, ours = timed(
        lambda: mnpos_maps(model, images, classes, args.layer, a=10.0, b=5.0), args.repeats, device
    )
    scale = ref.abs().max().item()
    diff = (ours - ref).abs().max().item() / scale
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"{args.backbone}-mnpo, layer {args.layer}, {args.batch} x {args.size}^2, "
        f"{args.classes} classes, {name} ({torch.get_num_threads()} threads)"
    )
    print(f"reference (4 backward, hooks, param grads): {ref_time * 1e3:8.1f} ms/batch "
          f"{args.batch / ref_time:8.1f} img/s")  # fmt: skip
    print(f"ours (2 autograd.grad from the layer):       {our_time * 1e3:8.1f} ms/batch "
          f"{args.batch / our_time:8.1f} img/s")  # fmt: skip
    print(f"speed-up {ref_time / our_time:.2f}x; max |ours - ref| / max |ref| = {diff:.2e}")
    if diff > 1e-3:
        raise SystemExit("the two maps differ")


if __name__ == "__main__":
    main()
