"""The training loop: a run spec in; per-epoch metrics, a checkpoint every epoch and exact resume out.

`train(spec, out_dir)` owns the run directory:

    out_dir/spec.json         the run's resolved spec (a resume must bring the same one)
    out_dir/checkpoint.pt     model, optimizer, RNG state and every recorded epoch, after the last epoch
    out_dir/metrics.jsonl     one JSON object per finished epoch: epoch, train_loss, train_error,
                              test_loss, test_error, (val_loss, val_error with a validation split), lr,
                              seconds, images_per_second; errors in percent

The checkpoint is written before its epoch's metrics line, and a resume rewrites metrics.jsonl from the
checkpoint, so the file never holds an epoch the checkpoint lacks and no epoch is lost or repeated.

Under torchrun (`distributed.py`) every rank runs this loop on its share of each batch; rank 0 alone writes
the run directory, and the checkpoint does not depend on the number of ranks, so a run resumes on any number
that divides its replica groups.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .cpu_memory import keep_freed_memory_in_heap
from .data import DeviceLoader, DownloadProgress, Split, load_dataset
from .distributed import Placement, placement_from_env
from .models import build_model
from .replicas import PlacementError, check_world, layout_for, using_layout
from .spec import RunSpec, ScheduleSpec

__all__ = ["train", "TrainingDiverged", "RunDirError", "PlacementError", "learning_rate", "resolve_device"]

EVAL_BATCH_SIZE = 1000
# On a CPU a run compiles by default when it has at least this many training steps left (51 CIFAR epochs at
# batch 128). Compiling takes 0.5-1.5 minutes on 2 cores; the Shake-Shake stand-in then trains 1.26x faster and
# wins the time back within about 2 CIFAR epochs (docs/benchmarks.md). Shorter runs (a first try, the tests'
# runs) stay eager and start at once; for a long run compiling costs a minute at worst.
CPU_COMPILE_MIN_STEPS = 20_000
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
SPEC = "spec.json"

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the epoch."""


class RunDirError(RuntimeError):
    """The output directory holds another run."""


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but no CUDA device is available")
    return device


def learning_rate(schedule: ScheduleSpec, base_lr: float, step: int, total_steps: int,
                  steps_per_epoch: int) -> float:
    """The learning rate of iteration `step` (0-based): linear warmup, then the schedule, per iteration.

    Cosine is SGDR without restarts (Loshchilov & Hutter 2017, eq. 5) with lr_min = 0, as in every shake
    reference: lr = lr_0 / 2 * (1 + cos(pi * t / T)).
    """
    warmup_steps = round(schedule.warmup_epochs * steps_per_epoch)
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if schedule.kind == "cosine":
        return 0.5 * base_lr * (1 + math.cos(math.pi * t))
    if schedule.kind == "multistep":
        passed = sum(step >= m * total_steps for m in schedule.milestones)
        return base_lr * schedule.gamma ** passed
    return base_lr


def _autocast_dtype(spec: RunSpec, device: torch.device) -> torch.dtype | None:
    if spec.precision == "bf16" or (spec.precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def _loss(model: nn.Module, output, labels):
    """Cross-entropy of the main head (plus the weighted auxiliary head's, for NASNet); and main logits."""
    if isinstance(output, tuple):
        logits, aux_logits = output
        main = F.cross_entropy(logits, labels)
        return main + model.aux_weight * F.cross_entropy(aux_logits, labels), main, logits
    main = F.cross_entropy(output, labels)
    return main, main, output


def _evaluate(model, loader: DeviceLoader, autocast_dtype, placement: Placement | None = None,
              ) -> tuple[float, float]:
    """Mean loss and error (%) over the loader's images, summed over the ranks when each holds a shard."""
    model.eval()
    loss_sum = torch.zeros((), device=loader.device)
    wrong = torch.zeros((), device=loader.device, dtype=torch.long)
    with torch.no_grad(), torch.autocast(loader.device.type, autocast_dtype or torch.float32,
                                         enabled=autocast_dtype is not None):
        for images, labels in loader.epoch(0):
            logits = model(images)
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum")
            wrong += (logits.argmax(1) != labels).sum()
    n = torch.tensor(loader.num_images, device=loader.device)
    if placement is not None:
        placement.sum(loss_sum, wrong, n)
    return loss_sum.item() / n.item(), 100.0 * wrong.item() / n.item()


def _compiled(model: nn.Module, device: torch.device, compile: bool | None, mode: str | None, steps: int = 0):
    """The model torch.compile'd or not. compile=None: on CUDA always, on a CPU when the run has `steps` >=
    CPU_COMPILE_MIN_STEPS training steps left (a short run would spend longer compiling than it saves)."""
    if compile is None:
        compile = device.type == "cuda" or steps >= CPU_COMPILE_MIN_STEPS
        if compile:  # compiled by default: a model dynamo cannot compile still trains, eagerly
            from torch import _dynamo
            _dynamo.config.suppress_errors = True
    # Static shapes: a run has one full batch size and a partial last batch (and the same for evaluation).
    # Left to its automatic dynamic shapes, dynamo would compile the partial batch as a dynamic-batch graph
    # that then also serves every full batch after it; static, each size keeps a graph specialised to it.
    return torch.compile(model, mode=mode, dynamic=False) if compile else model


def _log_compilation() -> None:
    """What dynamo compiled so far: a compiled run that compiled nothing (a silent fallback) says so."""
    from torch._dynamo.utils import counters

    graphs, breaks = int(counters["stats"]["unique_graphs"]), int(sum(counters["graph_break"].values()))
    if graphs:
        log.info("torch.compile: %d graphs, %d graph breaks", graphs, breaks)
    else:
        log.warning("torch.compile compiled no graph: the model trains eagerly")


def _save_atomically(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _rewrite_metrics(path: Path, history: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in history))
    os.replace(tmp, path)


def _holds_progress(out_dir: Path) -> bool:
    """Whether the directory holds a checkpoint or a finished epoch: something a resume would continue."""
    metrics = out_dir / METRICS
    return (out_dir / CHECKPOINT).exists() or (metrics.exists() and bool(metrics.read_text().strip()))


def _claim_run_dir(out_dir: Path, spec: RunSpec) -> None:
    spec_path = out_dir / SPEC
    # A run that stopped before its first epoch (missing data, a typo in the spec) left only its spec.json:
    # nothing to resume or to lose, so the directory takes the new spec.
    if spec_path.exists() and _holds_progress(out_dir):
        recorded = RunSpec.model_validate_json(spec_path.read_text())
        if recorded != spec:
            raise RunDirError(f"{out_dir} holds a different run (its {SPEC} differs from this spec); "
                              f"choose another --out directory")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(spec.model_dump_json(indent=2) + "\n")


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def train(spec: RunSpec, out_dir: str | Path, *, data_dir: str | Path | None = None, download: bool = False,
          device: str = "auto", compile: bool | None = None, compile_mode: str | None = None,
          channels_last: bool = True, stop_after: int | None = None,
          on_epoch: Callable[[dict], None] | None = None, progress: bool = False,
          on_download: DownloadProgress | None = None, placement: Placement | None = None) -> list[dict]:
    """Train `spec` into `out_dir`, resuming from its checkpoint if there is one; return every epoch's row.

    compile: torch.compile the model; None (the default) compiles on CUDA, where it pays, and on a CPU only
    for a run with CPU_COMPILE_MIN_STEPS training steps or more left (compiling costs about a minute there).
    compile_mode: torch.compile's mode, e.g. "reduce-overhead" (CUDA graphs: for small nets and batches,
    where kernel launches dominate). channels_last: the model and its batches in NHWC (the
    default; cuDNN's and oneDNN's convolutions are faster so); False keeps NCHW (the benchmark's ours-nchw).
    stop_after: stop (as if interrupted) once this epoch is recorded. on_epoch: called with each new row
    (and, on resume, first with the rows already recorded, so a consumer can catch up idempotently).
    on_download: called with (bytes, total) while a missing CIFAR is fetched (`download`).
    placement: this process's rank among the processes that train the run (default: torchrun's variables,
    else one process); only rank 0 writes `out_dir`, calls `on_epoch` and shows progress.
    """
    placement = placement or placement_from_env()
    check_world(spec.optim.batch_size, spec.optim.replica_batch, placement.world)  # before any rank waits
    device = placement.device(device) if placement.distributed else resolve_device(device)
    placement.start(device)
    try:
        return _train(spec, Path(out_dir), placement, device, data_dir=data_dir, download=download,
                      compile=compile, compile_mode=compile_mode, channels_last=channels_last,
                      stop_after=stop_after, on_epoch=on_epoch,
                      progress=progress, on_download=on_download)
    finally:
        placement.stop()


def _claim_for_all(out_dir: Path, spec: RunSpec, placement: Placement) -> None:
    """Rank 0 claims the run directory; every rank stops if it could not."""
    refused = None
    if placement.leader:
        try:
            _claim_run_dir(out_dir, spec)
        except RunDirError as exc:
            refused = str(exc)
    refused = placement.agree(refused)
    if refused:
        raise RunDirError(refused)


def _check_placement(spec: RunSpec, train_images: int, placement: Placement) -> None:
    optim = spec.optim
    last = train_images % optim.batch_size
    if placement.distributed and last and any(
            not layout_for(last, optim.batch_size, optim.replica_batch, r, placement.world).local_size
            for r in range(placement.world)):
        raise PlacementError(f"the last batch of an epoch holds {last} images, fewer than the {optim.replicas} "
                             f"replica groups: some of the {placement.world} processes would get none; "
                             f"use fewer processes or another batch size")


def _shard(split: Split | None, placement: Placement) -> Split | None:
    """This rank's share of an evaluation split (all of it for one process)."""
    if split is None or not placement.distributed:
        return split
    part = placement.shard(len(split))
    return Split(split.images[part], split.labels[part])


def _train(spec: RunSpec, out_dir: Path, placement: Placement, device: torch.device, *, data_dir, download,
           compile, compile_mode, channels_last, stop_after, on_epoch, progress, on_download) -> list[dict]:
    _claim_for_all(out_dir, spec, placement)
    leader = placement.leader
    autocast_dtype = _autocast_dtype(spec, device)
    # channels_last on both devices by default: cuDNN's and oneDNN's convolutions are faster in NHWC (on a CPU
    # too: docs/benchmarks.md), and batch norm (ghost batch norm included) keeps the layout.
    if device.type == "cuda":  # fixed input shapes: let cuDNN pick the fastest convolution algorithms once
        torch.backends.cudnn.benchmark = True
    elif device.type == "cpu":  # activations reused from the heap, not mmapped and zeroed every step
        keep_freed_memory_in_heap()
    torch.manual_seed(spec.seed)

    data = load_dataset(spec.dataset, data_dir, download=download, on_download=on_download)
    _check_placement(spec, len(data.train), placement)
    model = build_model(spec).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optim = spec.optim
    optimizer = torch.optim.SGD(model.parameters(), lr=optim.lr, momentum=optim.momentum,
                                nesterov=optim.nesterov, weight_decay=optim.weight_decay)
    train_loader = DeviceLoader(data.train, mean=data.mean, std=data.std, batch_size=optim.batch_size,
                                device=device, augment=spec.augment, shuffle=True, seed=spec.seed,
                                channels_last=channels_last, replica_batch=optim.replica_batch,
                                rank=placement.rank, world=placement.world)
    test_loader = DeviceLoader(_shard(data.test, placement), mean=data.mean, std=data.std,
                               batch_size=EVAL_BATCH_SIZE, device=device, channels_last=channels_last)
    # Held-out training images are evaluated as the test set is: no augmentation.
    val_loader = None if data.validation is None else DeviceLoader(
        _shard(data.validation, placement), mean=data.mean, std=data.std, batch_size=EVAL_BATCH_SIZE,
        device=device, channels_last=channels_last)

    history: list[dict] = []
    checkpoint_path = out_dir / CHECKPOINT
    if checkpoint_path.exists():
        # On the CPU: RNG states must stay CPU tensors; load_state_dict moves the rest to the device.
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _restore_rng(state["rng"], device)
        history = state["history"]
        if leader:
            log.info("resuming from %s after epoch %d", checkpoint_path, len(history))
    if leader:
        _rewrite_metrics(out_dir / METRICS, history)
        if on_epoch:
            for row in history:
                on_epoch(row)

    # Under DDP the wrapped model is compiled (dynamo then splits the graph at DDP's gradient buckets).
    wrapped = placement.wrap(model, device)
    set_progress = getattr(model, "set_training_progress", None)
    steps_per_epoch = len(train_loader)
    layouts = train_loader.layouts()  # each step's replica groups (batch norm and batch-level draws)
    total_steps = optim.epochs * steps_per_epoch
    first_epoch = len(history) + 1
    last_epoch = optim.epochs if stop_after is None else min(optim.epochs, stop_after)
    forward = _compiled(wrapped, device, compile, compile_mode, (optim.epochs - len(history)) * steps_per_epoch)
    compiling = forward is not wrapped

    bar = None
    if progress and leader and first_epoch <= last_epoch:
        from tqdm import tqdm
        bar = tqdm(total=(last_epoch - first_epoch + 1) * steps_per_epoch, unit="step", dynamic_ncols=True)

    for epoch in range(first_epoch, last_epoch + 1):
        model.train()
        started = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        wrong = torch.zeros((), device=device, dtype=torch.long)
        step = (epoch - 1) * steps_per_epoch
        for layout, (images, labels) in zip(layouts, train_loader.epoch(epoch), strict=True):
            lr = learning_rate(spec.schedule, optim.lr, step, total_steps, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if set_progress is not None:
                set_progress(step / total_steps)
            with torch.autocast(device.type, autocast_dtype or torch.float32,
                                enabled=autocast_dtype is not None), using_layout(layout):
                loss, main_loss, logits = _loss(model, forward(images), labels)
            if placement.distributed:  # DDP averages over the ranks: make that the mean over the global batch
                loss = loss * (labels.shape[0] * placement.world / layout.global_size)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if optim.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
            optimizer.step()
            # Accumulated on the device: one host synchronisation per epoch, not per step.
            loss_sum += main_loss.detach().float() * labels.shape[0]
            wrong += (logits.detach().argmax(1) != labels).sum()
            step += 1
            if bar is not None:
                bar.update(1)
        if compiling and epoch == first_epoch and leader:
            _log_compilation()
        placement.sum(loss_sum, wrong)
        train_loss = loss_sum.item() / train_loader.num_images
        train_seconds = time.perf_counter() - started
        if not math.isfinite(train_loss):
            if bar is not None:
                bar.close()
            raise TrainingDiverged(f"training loss became {train_loss} at epoch {epoch} "
                                   f"(lr {lr:g}); the run stopped, epochs 1-{epoch - 1} are recorded")
        placement.share_buffers(model)  # rank 0's running statistics (the first replica group's) everywhere
        test_loss, test_error = _evaluate(forward, test_loader, autocast_dtype, placement)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_error": 100.0 * wrong.item() / train_loader.num_images,
            "test_loss": test_loss,
            "test_error": test_error,
        }
        if val_loader is not None:
            row["val_loss"], row["val_error"] = _evaluate(forward, val_loader, autocast_dtype, placement)
        row |= {
            "lr": lr,
            "seconds": time.perf_counter() - started,
            "images_per_second": train_loader.num_images / train_seconds,
        }
        history.append(row)
        if not leader:
            continue
        _save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "rng": _rng_state(device), "history": history, "spec": spec.model_dump()},
                         checkpoint_path)
        with open(out_dir / METRICS, "a") as f:
            f.write(json.dumps(row) + "\n")
        if bar is not None:
            bar.set_description(f"epoch {epoch}/{optim.epochs}")
            val = {"val_err": f"{row['val_error']:.2f}%"} if "val_error" in row else {}
            bar.set_postfix(loss=f"{train_loss:.3f}", err=f"{row['train_error']:.2f}%", **val,
                            test_err=f"{test_error:.2f}%", img_s=f"{row['images_per_second']:.0f}")
        if on_epoch:
            on_epoch(row)
    if bar is not None:
        bar.close()
    return history
