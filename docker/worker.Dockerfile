# The worker image: the platform plus the training engine (pyproject.toml's `engine` extra). PyTorch's
# CUDA wheels bring their own CUDA libraries, so the host needs only the NVIDIA driver and the NVIDIA
# Container Toolkit. torch 2.14.1 from PyPI is built for CUDA 13.0 (driver 580 or newer); for an older
# driver, build against one of PyTorch's own indexes, if it has 2.14.1 for your CUDA:
#   docker compose build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126
FROM python:3.12-slim-bookworm

ARG TORCH_INDEX_URL=""
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /app

# torch.compile, the engine's default on CUDA, has Triton build a small C launcher on first use: without a
# C compiler (the slim image has none) every run would fall back to eager mode, silently and slower.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, from pyproject.toml alone: a code change then does not reinstall PyTorch (about
# 5 GB with its CUDA libraries).
COPY pyproject.toml ./
COPY docker/requirements.py docker/
RUN python docker/requirements.py engine > /tmp/requirements.txt \
    && pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code (what .dockerignore lets through). Editable, because the app finds migrations/ beside its
# packages, and docker/download_cifar.py imports the engine from any working directory.
COPY . .
RUN pip install --no-deps -e .

# The data and runs folders are the mount points of the shared volumes; created here so that a new named
# volume starts owned by the non-root user.
RUN useradd --uid 1000 --create-home shakelab \
    && mkdir -p /var/lib/shakelab/data /var/lib/shakelab/runs \
    && chown -R shakelab /var/lib/shakelab
USER shakelab

ENV SHAKELAB_HOME=/var/lib/shakelab \
    SHAKELAB_DATA_DIR=/var/lib/shakelab/data \
    SHAKELAB_RUNS_DIR=/var/lib/shakelab/runs
# Inside its container a worker sees only the GPU compose reserved for it, as index 0.
CMD ["python", "-m", "worker", "--gpu", "0"]
