"""`python -m worker [--gpus 0,1,...]`: a Celery worker that trains queued runs on the GPUs it owns.

One worker per GPU (`--gpu N`) or one worker for several (`--gpus 0,1,2,3`): the latter also trains runs
that ask for several GPUs (worker/gpu_pool.py says how it places them)."""

from __future__ import annotations

import argparse
import logging
import os

from backend.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    p = argparse.ArgumentParser(prog="python -m worker", description="Train queued ShakeLab runs.")
    gpus = p.add_mutually_exclusive_group()
    gpus.add_argument("--gpu", help="the GPU index this worker trains on (sets CUDA_VISIBLE_DEVICES for its runs)")
    gpus.add_argument("--gpus", help="the GPU indices this worker owns, comma-separated (0,1,2,3): it trains runs "
                      "that ask for up to that many GPUs")
    p.add_argument("--gpu-label", "--gpu-labels", dest="gpu_label",
                   help="how runs name its GPUs (default: the indices); in a container that numbers its GPUs from "
                        "0, the GPUs' indices on the machine")
    p.add_argument("--runs-per-gpu", type=int, default=settings.runs_per_gpu,
                   help="runs trained at once on this GPU (small nets share a GPU; default "
                        "$SHAKELAB_RUNS_PER_GPU or 1)")
    p.add_argument("--loglevel", default="INFO")
    args = p.parse_args(argv)
    indices = _gpu_list(p, "--gpus" if args.gpus else "--gpu", args.gpus or args.gpu)
    labels = _gpu_list(p, "--gpu-labels", args.gpu_label) or indices
    if indices and len(labels) != len(indices):
        p.error(f"--gpu-labels names {len(labels)} GPUs but the worker owns {len(indices)}")
    if args.runs_per_gpu < 1:
        p.error("--runs-per-gpu must be at least 1")
    from worker.celery_app import queue_for

    from .tasks import GPU_ENV, GPU_LABEL_ENV, SLOTS_ENV

    os.environ[SLOTS_ENV] = str(args.runs_per_gpu)
    if indices:
        os.environ[GPU_ENV] = ",".join(indices)
    if labels:
        os.environ[GPU_LABEL_ENV] = ",".join(labels)
    logging.basicConfig(level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from .tasks import app, host_and_gpu

    owned = max(1, len(labels))
    # One thread per slot, and with several GPUs one more: it holds a wide run that waits for GPUs to free up.
    concurrency = owned * args.runs_per_gpu + (owned > 1)
    queues = ",".join(queue_for(settings.queue, k) for k in range(1, owned + 1))
    app.worker_main(["worker", "--pool=threads", f"--concurrency={concurrency}", "-Q", queues,
                     "-n", f"shakelab@{host_and_gpu()}", f"--loglevel={args.loglevel}", "--without-mingle",
                     "--without-gossip", "--without-heartbeat"])


def _gpu_list(parser: argparse.ArgumentParser, flag: str, text: str | None) -> list[str]:
    if text is None:
        return []
    items = [item.strip() for item in text.split(",")]
    if not all(items) or len(set(items)) != len(items):
        parser.error(f"{flag}: give distinct GPU indices separated by commas, e.g. 0,1,2,3 (got {text!r})")
    return items


if __name__ == "__main__":
    main()
