#!/usr/bin/env python3
"""Speed of ``caffefill.forward`` on GoogLeNet (batch 1, TEST) against plain PyTorch.

The baseline is the same net written as plain PyTorch modules (``nn.Conv2d``,
``nn.MaxPool2d(ceil_mode=True)``, ``nn.LocalResponseNorm``, ``nn.Linear``, ...),
one per Caffe layer, run in the same order over a dict of blobs, holding the
same weights.  In the same run it times, each as the best of ``--repeat``:

* ``CaffeNet.forward`` (Caffe's semantics: its pooling windows and blob table)
  against the plain forward: the overhead of Caffe's semantics;
* the whole ``caffefill.forward`` call (read the prototxt, draw the weights,
  draw the input, forward) against the plain forward.

Both forwards are checked to agree before anything is timed.

    python3 tools/bench_forward.py [--repeat R] [--threads T]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import caffefill
from caffefill._proto import caffefill_pb2 as pb
from caffefill.torch import CaffeNet
from caffefill.torch.run import fill_inputs

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT / "tests" / "data" / "forward" / "nets" / "googlenet_deploy.prototxt"


def plain_module(net: CaffeNet) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """GoogLeNet's layers as ordinary PyTorch modules, sharing ``net``'s weights."""
    steps: list[tuple[Callable[..., torch.Tensor], list[str], str]] = []
    holder = nn.ModuleList()
    for _, layer in net.layers():
        p = layer.layer.param
        if layer.caffe_type == "Input":
            continue
        if layer.caffe_type == "Convolution":
            c = p.convolution_param
            w = layer.blobs()[0]
            conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2],
                             stride=c.stride[0] if c.stride else 1,
                             padding=c.pad[0] if c.pad else 0)
            conv.weight, conv.bias = layer.blobs()  # type: ignore[assignment]
            fn: Callable[..., torch.Tensor] = conv
        elif layer.caffe_type == "ReLU":
            fn = nn.ReLU()
        elif layer.caffe_type == "Pooling":
            q = p.pooling_param
            if q.pool == pb.PoolingParameter.MAX:
                fn = nn.MaxPool2d(q.kernel_size, q.stride, q.pad, ceil_mode=True)
            else:
                fn = nn.AvgPool2d(q.kernel_size, q.stride, q.pad, ceil_mode=True)
        elif layer.caffe_type == "LRN":
            r = p.lrn_param
            fn = nn.LocalResponseNorm(r.local_size, r.alpha, r.beta, r.k)
        elif layer.caffe_type == "Concat":
            def fn(*xs: torch.Tensor) -> torch.Tensor:
                return torch.cat(xs, dim=1)
        elif layer.caffe_type == "InnerProduct":
            w, b = layer.blobs()
            linear = nn.Linear(w.shape[1], w.shape[0])
            linear.weight, linear.bias = w, b  # type: ignore[assignment]

            def fn(x: torch.Tensor, _linear: nn.Linear = linear) -> torch.Tensor:
                return _linear(x.flatten(1))
        elif layer.caffe_type == "Dropout":
            fn = nn.Identity()
        elif layer.caffe_type == "Softmax":
            fn = nn.Softmax(dim=1)
        elif layer.caffe_type == "Split":
            def fn(x: torch.Tensor) -> torch.Tensor:
                return x
        else:
            raise SystemExit(f"no plain module for {layer.caffe_type}")
        if isinstance(fn, nn.Module):
            holder.append(fn)
        steps.append((fn, list(layer.bottoms), layer.tops[0] if layer.tops else ""))
    split_tops = {m.tops[0]: list(m.tops) for _, m in net.layers() if m.caffe_type == "Split"}

    def run(x: torch.Tensor) -> dict[str, torch.Tensor]:
        blobs = {"data": x}
        for fn, bottoms, top in steps:
            y = fn(*(blobs[b] for b in bottoms))
            for name in split_tops.get(top, [top]):
                blobs[name] = y
        return blobs
    return run


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        prototxt = Path(tmp) / "googlenet_b1.prototxt"
        # batch 1: the deploy file declares 10
        prototxt.write_text(NET.read_text().replace("dim: 10", "dim: 1", 1))
        net = CaffeNet(prototxt, phase="TEST", seed=1701)
        x = torch.from_numpy(fill_inputs(net)["data"])
        plain = plain_module(net)
        with torch.no_grad():
            want = net(data=x)["prob"]
            got = plain(x)["prob"]
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
            plain(x)
            t_plain = best(args.repeat, lambda: plain(x))
            t_net = best(args.repeat, lambda: net(data=x))
        t_whole = best(args.repeat,
                       lambda: caffefill.forward(prototxt, phase="TEST", seed=1701))
    print(f"GoogLeNet, batch 1, TEST, {torch.get_num_threads()} torch thread(s), "
          f"best of {args.repeat}")
    print(f"plain PyTorch forward          {t_plain * 1e3:8.1f} ms   1.00x")
    print(f"CaffeNet.forward               {t_net * 1e3:8.1f} ms   {t_net / t_plain:.2f}x")
    print(f"caffefill.forward (whole call) {t_whole * 1e3:8.1f} ms   {t_whole / t_plain:.2f}x"
          f"   (reads the prototxt, draws 7M weights and the input)")


if __name__ == "__main__":
    main()
