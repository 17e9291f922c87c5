"""`python -m worker [--gpu N]`: a Celery worker that trains queued runs, one GPU per worker process."""

from __future__ import annotations

import argparse
import logging
import os

from backend.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    p = argparse.ArgumentParser(prog="python -m worker", description="Train queued ShakeLab runs.")
    p.add_argument("--gpu", help="the GPU index this worker trains on (sets CUDA_VISIBLE_DEVICES for its runs)")
    p.add_argument("--gpu-label", help="how runs name this GPU (default: --gpu); in a container that sees its "
                   "GPU as index 0, the GPU's index on the machine")
    p.add_argument("--runs-per-gpu", type=int, default=settings.runs_per_gpu,
                   help="runs trained at once on this GPU (small nets share a GPU; default "
                        "$SHAKELAB_RUNS_PER_GPU or 1)")
    p.add_argument("--loglevel", default="INFO")
    args = p.parse_args(argv)
    from .tasks import GPU_ENV, GPU_LABEL_ENV, SLOTS_ENV

    os.environ[SLOTS_ENV] = str(args.runs_per_gpu)
    if args.gpu is not None:
        os.environ[GPU_ENV] = args.gpu
    if args.gpu_label or args.gpu is not None:
        os.environ[GPU_LABEL_ENV] = args.gpu_label or args.gpu
    logging.basicConfig(level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from .tasks import app, host_and_gpu

    app.worker_main(["worker", "--pool=threads", f"--concurrency={args.runs_per_gpu}", "-Q", settings.queue,
                     "-n", f"shakelab@{host_and_gpu()}", f"--loglevel={args.loglevel}", "--without-mingle",
                     "--without-gossip", "--without-heartbeat"])


if __name__ == "__main__":
    main()
