"""Training throughput of ShakeLab's engine against the common reference way, side by side in one run.

    python bench/engine.py                    # the papers' models on a GPU; small stand-ins on a CPU
    python bench/engine.py --models ss26-2x96d,pyramidnet272 --steps 50 --compile

Each measurement runs in its own subprocess, so its peak memory is its own. Per model and batch size:

- ours: `worker.engine.train` (the function) itself, on synthetic CIFAR-sized data (the dataset resident on the device,
  augmentation as batched tensor ops, bf16 autocast and channels_last on CUDA, fp32 on the CPU), images/s
  of its second epoch (the first pays for warm-up and compilation);
- reference: what public code commonly does: eager fp32, each regularizer an autograd.Function that
  draws its random values on the host or reads them back to it (owruby's `gate.item()`), and a
  torchvision DataLoader with PIL transforms (RandomCrop(32, 4), RandomHorizontalFlip, ToTensor, Normalize).

Reported: images/s of each, the ratio, peak memory, and on a GPU the model-FLOPs utilisation (training
FLOPs = 3 x forward FLOPs, counted by torch's FlopCounterMode) against the GPU's dense bf16 peak and the
GPU-hours of a 1800-epoch CIFAR run at the measured rate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CIFAR_TRAIN_IMAGES = 50_000

# name -> (model, regularization): the papers' models, and small stand-ins for a CPU.
MODELS = {
    "ss26-2x32d": ({"arch": "shake_resnet", "depth": 26, "width": 32}, {"method": "shake_shake"}),
    "ss26-2x96d": ({"arch": "shake_resnet", "depth": 26, "width": 96}, {"method": "shake_shake"}),
    "pyramidnet110": ({"arch": "pyramidnet", "depth": 110, "alpha": 270, "bottleneck": False},
                      {"method": "shakedrop"}),
    "pyramidnet272": ({"arch": "pyramidnet", "depth": 272, "alpha": 200, "bottleneck": True},
                      {"method": "shakedrop"}),
    "nasnet-6@768": ({"arch": "nasnet", "cells": 6, "filters": 32}, {"method": "scheduled_drop_path"}),
    "ss8-2x16d": ({"arch": "shake_resnet", "depth": 8, "width": 16}, {"method": "shake_shake"}),
    "pyramidnet20": ({"arch": "pyramidnet", "depth": 20, "alpha": 48, "bottleneck": True},
                     {"method": "shakedrop"}),
}
GPU_DEFAULT = "ss26-2x32d,ss26-2x96d,pyramidnet110,pyramidnet272,nasnet-6@768"
CPU_DEFAULT = "ss8-2x16d,pyramidnet20"

# Dense bf16 tensor-core peaks (TFLOP/s), from the vendors' data sheets.
BF16_PEAK_TFLOPS = {"H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 989.0,
                    "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


def spec_for(name: str, batch_size: int, steps: int):
    from worker.engine.spec import parse_spec
    model, regularization = MODELS[name]
    return parse_spec({
        "dataset": {"name": "synthetic", "train_size": batch_size * steps, "test_size": 256},
        "model": model, "regularization": regularization,
        "optim": {"epochs": 2, "batch_size": batch_size},
    })


def forward_flops_per_image(spec) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from worker.engine.models import build_model
    model = build_model(spec).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    return float(counter.get_total_flops())


def _peak_memory_mb(device) -> float:
    import resource

    import torch
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_ours(name: str, batch_size: int, steps: int, compile: bool) -> dict:
    import torch

    from worker.engine.training import resolve_device, train
    device = resolve_device("auto")
    spec = spec_for(name, batch_size, steps)
    with tempfile.TemporaryDirectory() as out:
        history = train(spec, out, device=str(device), compile=compile)
    return {"images_per_second": history[-1]["images_per_second"], "peak_mb": _peak_memory_mb(device),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}


def measure_reference(name: str, batch_size: int, steps: int, warmup: int) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from reference_regularizers import use_reference_regularizers
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from worker.engine.models import build_model
    from worker.engine.training import resolve_device

    device = resolve_device("auto")
    spec = spec_for(name, batch_size, steps)
    images = np.random.default_rng(0).integers(0, 256, (batch_size * (steps + warmup), 32, 32, 3), np.uint8)
    labels = np.random.default_rng(1).integers(0, 10, len(images))

    class PILCifar(Dataset):  # what torchvision's CIFAR10 does per item
        transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])

        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return self.transform(Image.fromarray(images[i])), int(labels[i])

    loader = DataLoader(PILCifar(), batch_size=batch_size, shuffle=True, drop_last=True,
                        num_workers=min(8, os.cpu_count() or 1), pin_memory=device.type == "cuda",
                        persistent_workers=False)
    model = use_reference_regularizers(build_model(spec)).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    started = None
    for i, (x, y) in enumerate(loader):
        if i == warmup:
            sync()
            started = time.perf_counter()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        output = model(x)
        if isinstance(output, tuple):  # NASNet's auxiliary head
            loss = F.cross_entropy(output[0], y) + model.aux_weight * F.cross_entropy(output[1], y)
        else:
            loss = F.cross_entropy(output, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync()
    elapsed = time.perf_counter() - started
    return {"images_per_second": steps * batch_size / elapsed, "peak_mb": _peak_memory_mb(device)}


def run_one(args) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    if args.variant == "reference":
        result = measure_reference(args.one, args.batch_size, args.steps, args.warmup)
    else:
        result = measure_ours(args.one, args.batch_size, args.steps, compile=args.variant == "ours-compiled")
    print(json.dumps(result))


def subprocess_measure(variant: str, name: str, batch_size: int, steps: int, warmup: int) -> dict:
    cmd = [sys.executable, __file__, "--one", name, "--variant", variant, "--batch-size", str(batch_size),
           "--steps", str(steps), "--warmup", str(warmup)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def bf16_peak(device_name: str) -> float | None:
    for key in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True):
        if key in device_name:
            return BF16_PEAK_TFLOPS[key] * 1e12
    return None


def main() -> None:
    import torch
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help=f"comma-separated, from {', '.join(MODELS)} "
                   f"(default: {GPU_DEFAULT} on a GPU, {CPU_DEFAULT} on a CPU)")
    p.add_argument("--batch-sizes", default="128", help="comma-separated (default: 128, the papers')")
    p.add_argument("--steps", type=int, help="timed steps (default: 50 on a GPU, 8 on a CPU)")
    p.add_argument("--warmup", type=int, default=3, help="untimed reference steps first")
    p.add_argument("--compile", action="store_true", help="also measure ours with torch.compile")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        return run_one(args)

    on_gpu = torch.cuda.is_available()
    names = (args.models or (GPU_DEFAULT if on_gpu else CPU_DEFAULT)).split(",")
    steps = args.steps or (50 if on_gpu else 8)
    device_name = torch.cuda.get_device_name() if on_gpu else f"CPU ({os.cpu_count()} cores)"
    peak = bf16_peak(device_name) if on_gpu else None
    variants = ["reference", "ours"] + (["ours-compiled"] if args.compile else [])
    print(f"# device: {device_name}; torch {torch.__version__}; {steps} timed steps per measurement")
    print(f"{'model':<15} {'batch':>5} {'variant':<14} {'img/s':>9} {'x ref':>6} {'peak MiB':>9} "
          f"{'MFU':>6} {'h/1800ep':>12}")
    for name in names:
        flops = 3 * forward_flops_per_image(spec_for(name, 16, 1))
        for batch_size in map(int, args.batch_sizes.split(",")):
            ref_rate = None
            for variant in variants:
                r = subprocess_measure(variant, name, batch_size, steps, args.warmup)
                if "error" in r:
                    print(f"{name:<15} {batch_size:>5} {variant:<14} error: {r['error']}")
                    continue
                rate = r["images_per_second"]
                ref_rate = rate if variant == "reference" else ref_rate
                ratio = f"{rate / ref_rate:.2f}" if ref_rate else "-"
                mfu = f"{100 * rate * flops / peak:.1f}%" if peak else "-"
                hours = CIFAR_TRAIN_IMAGES * 1800 / rate / 3600
                print(f"{name:<15} {batch_size:>5} {variant:<14} {rate:>9.1f} {ratio:>6} "
                      f"{r['peak_mb']:>9.0f} {mfu:>6} {hours:>12.1f}", flush=True)
        print(f"{name:<15} training GFLOP/image (3 x forward): {flops / 1e9:.3f}")


if __name__ == "__main__":
    main()
