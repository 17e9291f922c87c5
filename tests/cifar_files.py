"""Tiny CIFAR-10/100 directories in the real on-disk format, for testing torchvision's loading code offline.

The real files are Python 2 cPickle dumps of dicts whose keys and strings are Python 2 `str` (bytes):
`pickle.load(f, encoding="bytes")` shows `{b"data": uint8 (N, 3072), b"labels": [...], ...}`, and
torchvision's `encoding="latin1"` turns those keys into `"data"`, `"labels"`. A Python 3 pickle would write
`str` keys instead, so the files here are written by a pickler that stores bytes the way Python 2 did.
Each row of `data` is 1024 red, then 1024 green, then 1024 blue values, each plane row-major.

torchvision checks every file against the md5 of the real dataset; `trust_files` points those expected sums
at the tiny files (the class attributes `train_list`, `test_list` and `meta`), so the tests run exactly
torchvision's code path with other expected sums.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class _Python2Pickler(pickle._Pickler):
    """Pickles bytes as Python 2 `str` (SHORT_BINSTRING / BINSTRING), as cPickle wrote the CIFAR files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_python2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_python2_str


def write_python2_pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        _Python2Pickler(f, protocol=2).dump(obj)


@dataclass
class TinyCifar:
    """What was written: images (N, 3, 32, 32) uint8 and labels, per split, in file order."""
    root: Path
    base_folder: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int

    def path(self, filename: str) -> Path:
        return self.root / self.base_folder / filename


def _batch(rng: np.random.Generator, n: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size=n).astype(np.int64)
    return images, labels


def write_cifar10(root: Path, per_file: int = 20, seed: int = 0) -> TinyCifar:
    """cifar-10-batches-py/data_batch_1..5, test_batch and batches.meta with `per_file` images each."""
    rng = np.random.default_rng(seed)
    base = "cifar-10-batches-py"
    batches = {f"data_batch_{i}": _batch(rng, per_file, 10) for i in range(1, 6)}
    batches["test_batch"] = _batch(rng, per_file, 10)
    for name, (images, labels) in batches.items():
        write_python2_pickle(root / base / name, {
            b"batch_label": f"{name} of the tiny test set".encode(),
            b"labels": [int(v) for v in labels],
            b"data": images.reshape(per_file, 3 * 32 * 32),
            b"filenames": [f"{name}_{j}.png".encode() for j in range(per_file)],
        })
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer",
             b"dog", b"frog", b"horse", b"ship", b"truck"]
    write_python2_pickle(root / base / "batches.meta",
                         {b"num_cases_per_batch": per_file, b"label_names": names, b"num_vis": 3072})
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    return TinyCifar(root, base, np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train]),
                     *batches["test_batch"], num_classes=10)


def write_cifar100(root: Path, per_file: int = 20, seed: int = 0) -> TinyCifar:
    """cifar-100-python/train, test and meta with `per_file` images in each of train and test."""
    rng = np.random.default_rng(seed)
    base = "cifar-100-python"
    splits = {"train": _batch(rng, per_file, 100), "test": _batch(rng, per_file, 100)}
    for name, (images, labels) in splits.items():
        write_python2_pickle(root / base / name, {
            b"filenames": [f"{name}_{j}.png".encode() for j in range(per_file)],
            b"batch_label": name.encode(),
            b"fine_labels": [int(v) for v in labels],
            b"coarse_labels": [int(v) // 5 for v in labels],
            b"data": images.reshape(per_file, 3 * 32 * 32),
        })
    write_python2_pickle(root / base / "meta", {
        b"fine_label_names": [f"fine_{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse_{i}".encode() for i in range(20)],
    })
    return TinyCifar(root, base, *splits["train"], *splits["test"], num_classes=100)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def trust_files(monkeypatch, cls, written: TinyCifar) -> None:
    """Make torchvision's `cls` (CIFAR10 or CIFAR100) expect the md5 sums of the tiny files."""
    monkeypatch.setattr(cls, "train_list", [[name, md5(written.path(name))] for name, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[name, md5(written.path(name))] for name, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(written.path(cls.meta["filename"]))})
