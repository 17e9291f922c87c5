"""Datasets as uint8 tensors, and a loader that keeps a whole split on one device and augments it there.

`load_dataset(spec)` returns a `Dataset`: train and test `Split`s of uint8 images (N, 3, 32, 32) with
int64 labels, plus the per-channel mean and std (0..1 scale) used to normalize them, and, when the spec
holds images out (`validation`), the validation `Split` taken from the training set. CIFAR-10/100 are read
by torchvision's own code (with its md5 integrity check); `digits` (scikit-learn's bundled 8x8 digits) and
`synthetic` need no files.

`DeviceLoader` follows airbench: the split lives on the device as uint8, each batch is gathered, augmented
and normalized there with batched tensor ops, and every random number of an epoch is drawn up front from
a generator seeded by (seed, epoch) alone. No DataLoader, no per-image Python, no host synchronisation per
batch, and torch's global RNG (which the models use) is never touched.

The augmentations (Cutout: DeVries & Taylor 2017, arXiv:1708.04552; Random Erasing: Zhong et al.
2017, arXiv:1708.04896) are plain functions of a batch and a generator, usable on their own:
`random_crop`, `random_flip`, `cutout`, `random_erasing`. Each is split into a `draw_*` function (one row
of random parameters per image) and a deterministic function that applies given parameters, which is what
lets the loader draw an epoch's parameters at once and slice them per batch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .dataset_files import download_command
from .replicas import BatchLayout, check_world, layout_for
from .spec import SYNTHETIC_TEST_SIZE, SYNTHETIC_TRAIN_SIZE, AugmentSpec, DatasetSpec

__all__ = [
    "DataError",
    "Split",
    "Dataset",
    "default_data_dir",
    "load_dataset",
    "download_cifar",
    "hold_out_validation",
    "validation_indices",
    "DeviceLoader",
    "normalize",
    "random_crop",
    "random_flip",
    "cutout",
    "random_erasing",
    "draw_crop_offsets",
    "draw_flips",
    "draw_cutout_boxes",
    "draw_erasing_boxes",
    "crop",
    "flip",
    "erase_boxes",
]

IMAGE_SIZE = 32

# Per-channel statistics on the 0..1 scale.
# CIFAR-10: (125.3, 123.0, 113.9) / 255 and (63.0, 62.1, 66.7) / 255, as in the Shake-Shake and
# fb.resnet.torch code (xgastaldi/shake-shake, `datasets/cifar10.lua`).
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
# CIFAR-100: the training set's own statistics, as in the Shake-Shake ResNeXt and Cutout code.
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

# The validation split's generator: fixed, so that the split depends on the training set and its size
# alone, and every run (any seed) of a search is judged on the same images.
VALIDATION_SEED = 0


class DataError(RuntimeError):
    """A dataset that cannot be loaded; the message names the directory, the file and the fix."""


@dataclass
class Split:
    images: Tensor  # uint8 (N, 3, 32, 32)
    labels: Tensor  # int64 (N,)

    def __len__(self) -> int:
        return self.labels.shape[0]


@dataclass
class Dataset:
    train: Split
    test: Split
    num_classes: int
    mean: tuple[float, float, float]  # per channel, 0..1 scale
    std: tuple[float, float, float]
    validation: Split | None = None  # held out of the training set (`DatasetSpec.validation`)


# ------------------------------------------------------------------------------------------ loading

def default_data_dir() -> Path:
    """$SHAKELAB_DATA_DIR, else $SHAKELAB_HOME/data, else ~/.shakelab/data."""
    if os.environ.get("SHAKELAB_DATA_DIR"):
        return Path(os.environ["SHAKELAB_DATA_DIR"]).expanduser()
    if os.environ.get("SHAKELAB_HOME"):
        return Path(os.environ["SHAKELAB_HOME"]).expanduser() / "data"
    return Path.home() / ".shakelab" / "data"


def load_dataset(spec: DatasetSpec, data_dir: str | Path | None = None, download: bool = False,
                 on_download: DownloadProgress | None = None) -> Dataset:
    """The train and test splits of `spec.name` as uint8 tensors, with their normalization statistics, and
    the validation split when the spec asks for one. `download`: fetch a missing CIFAR first, reporting
    its progress to `on_download`."""
    if spec.name in ("cifar10", "cifar100"):
        root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        data = load_cifar(spec.name, root, download=download, on_download=on_download)
    elif spec.name == "digits":
        data = load_digits()
    elif spec.name == "synthetic":
        data = make_synthetic(spec.train_size or SYNTHETIC_TRAIN_SIZE, spec.test_size or SYNTHETIC_TEST_SIZE)
    else:
        raise ValueError(f"unknown dataset {spec.name!r}")
    return hold_out_validation(data, spec.validation) if spec.validation else data


def validation_indices(labels: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """(kept, held out) indices into a training set: `size` images held out, stratified by class (each
    class's count within one of its share), drawn with a fixed seed, so the split is a function of the
    training set and `size` alone. Both index lists are sorted (the kept images keep their order)."""
    from sklearn.model_selection import train_test_split

    kept, held_out = train_test_split(np.arange(len(labels)), test_size=size, random_state=VALIDATION_SEED,
                                      stratify=labels.numpy())
    return torch.from_numpy(np.sort(kept)), torch.from_numpy(np.sort(held_out))


def hold_out_validation(data: Dataset, size: int) -> Dataset:
    """`data` with `size` training images moved into a validation split. The normalization statistics stay
    those of the whole training set, as CIFAR's published constants are, so a split changes no pixel."""
    kept, held_out = validation_indices(data.train.labels, size)
    train = Split(data.train.images[kept], data.train.labels[kept])
    validation = Split(data.train.images[held_out], data.train.labels[held_out])
    return dataclasses.replace(data, train=train, validation=validation)


def load_cifar(name: str, root: Path, *, download: bool = False,
               on_download: DownloadProgress | None = None) -> Dataset:
    """CIFAR-10 or CIFAR-100 from `root` through torchvision (which checks every file's md5); with
    `download`, first fetched into `root` where it is missing or corrupt (`download_cifar`)."""
    cls, title = _cifar_class(name)
    if download:
        download_cifar(name, root, on_progress=on_download)
    try:
        train = cls(root=root, train=True)
        test = cls(root=root, train=False)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted. You can use download=True..."
        raise _diagnose_cifar(name, root, str(exc)) from exc
    except OSError as exc:  # an unreadable file or directory
        raise DataError(f"{title} could not be read from {root}: {exc}") from exc
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as exc:
        bad = _unreadable_file(cls, root) or cls.base_folder
        raise DataError(f"{title} in {root} is corrupt: {bad} could not be read "
                        f"({type(exc).__name__}: {exc}); delete it and put a fresh copy there") from exc
    mean, std = (CIFAR10_MEAN, CIFAR10_STD) if name == "cifar10" else (CIFAR100_MEAN, CIFAR100_STD)
    return Dataset(train=_split_from_hwc(train.data, train.targets),
                   test=_split_from_hwc(test.data, test.targets),
                   num_classes=len(train.classes), mean=mean, std=std)


def _cifar_files(cls) -> list[tuple[str, str]]:
    """(path relative to the data directory, expected md5) of every file torchvision checks."""
    files = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    return [(f"{cls.base_folder}/{filename}", md5) for filename, md5 in files]


def _diagnose_cifar(name: str, root: Path, torchvision_message: str) -> DataError:
    """Turn torchvision's "not found or corrupted" into which file is missing or corrupt, and the fix."""
    cls, title = _cifar_class(name)
    from torchvision.datasets.utils import check_integrity

    files = _cifar_files(cls)
    missing = [rel for rel, _ in files if not (root / rel).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return DataError(f"{title} not found in {root}: missing {missing[0]}{more}; download it with "
                         f"`{download_command(name, root)}` (or train with --download; needs "
                         f"internet), or put the folder {cls.base_folder} (from {cls.filename}) there")
    corrupt = [rel for rel, md5 in files if not check_integrity(str(root / rel), md5)]
    if corrupt:
        if len(corrupt) == 1:
            what, fix = f"{corrupt[0]} does not match its md5 checksum", "delete it"
        else:
            what = f"{corrupt[0]} (and {len(corrupt) - 1} more) do not match their md5 checksums"
            fix = "delete them"
        return DataError(f"{title} in {root} is corrupt: {what}; {fix} and put a fresh copy there, or delete "
                         f"{cls.base_folder} and run with --download (needs internet)")
    return DataError(f"{title} could not be loaded from {root}: {torchvision_message}")


def _unreadable_file(cls, root: Path) -> str | None:
    """The first of the dataset's files that does not unpickle into a dict, if any."""
    for rel, _ in _cifar_files(cls):
        try:
            with open(root / rel, "rb") as f:
                if not isinstance(pickle.load(f, encoding="latin1"), dict):
                    return rel
        except Exception:
            return rel
    return None


def _cifar_class(name: str):
    """torchvision's class for the dataset (its URL, archive md5 and file md5s), and the dataset's title."""
    from torchvision.datasets import CIFAR10, CIFAR100

    return {"cifar10": (CIFAR10, "CIFAR-10"), "cifar100": (CIFAR100, "CIFAR-100")}[name]


# --------------------------------------------------------------------------------------- downloading

# Called with (bytes fetched so far, the archive's size or None when the server does not say).
DownloadProgress = Callable[[int, int | None], None]
FETCH_CHUNK = 64 * 1024
FETCH_TIMEOUT_SECONDS = 60


def download_cifar(name: str, root: Path, *, on_progress: DownloadProgress | None = None) -> bool:
    """Put CIFAR-10 or CIFAR-100 into `root` unless it is there intact; True if it had to be fetched.

    Once per data directory: the fetch and the extraction hold a file lock, so runs that start together
    on one machine (or on machines sharing the directory over a filesystem with locks) wait for the first
    one and then find the files in place. The archive is fetched to a temporary name and renamed when
    complete; torchvision checks its md5, extracts it and checks every extracted file's md5."""
    from filelock import FileLock
    from torchvision.datasets.utils import check_integrity

    cls, title = _cifar_class(name)

    def intact() -> bool:
        return all(check_integrity(str(root / rel), md5) for rel, md5 in _cifar_files(cls))

    if intact():  # no lock needed, so a read-only data directory that holds the files is fine
        return False
    fix = f"without internet, put the folder {cls.base_folder} (from {cls.filename}) there"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(root / f".{cls.filename}.lock"):
            if intact():
                return False  # another run fetched it while this one waited
            archive = root / cls.filename
            if not check_integrity(str(archive), cls.tgz_md5):
                _fetch(cls.url, archive, on_progress)
                if not check_integrity(str(archive), cls.tgz_md5):
                    archive.unlink()
                    raise DataError(f"{title} could not be downloaded into {root}: {cls.url} sent a file that "
                                    f"does not match its md5 checksum; try again, or {fix}")
            cls(root=root, train=True, download=True)  # the archive is in place: extract and check it
            archive.unlink()  # the extracted files are what training reads
    except DataError:
        raise
    except (OSError, urllib.error.URLError) as exc:  # no internet, a refused connection, a full disk
        raise DataError(f"{title} could not be downloaded into {root}: {exc}; {fix}") from exc
    except RuntimeError as exc:  # torchvision: an extracted file does not match its md5
        raise DataError(f"{title} could not be downloaded into {root}: {exc}; {fix}") from exc
    return True


def _fetch(url: str, path: Path, on_progress: DownloadProgress | None) -> None:
    """GET `url` into `path`, through a temporary file renamed only when the whole body has arrived."""
    from torchvision.datasets.utils import USER_AGENT

    partial = path.with_name(path.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response, open(partial, "wb") as f:
        total, done = response.length, 0
        if on_progress:
            on_progress(done, total)
        while chunk := response.read(FETCH_CHUNK):
            f.write(chunk)
            done += len(chunk)
            if on_progress:
                on_progress(done, total)
    os.replace(partial, path)


def _split_from_hwc(images: np.ndarray, labels: Sequence[int]) -> Split:
    """torchvision keeps CIFAR as (N, 32, 32, 3) uint8; we keep (N, 3, 32, 32)."""
    return Split(images=torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous(),
                 labels=torch.as_tensor(np.asarray(labels), dtype=torch.int64))


def channel_stats(images: Tensor) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel mean and (population) std of uint8 images, on the 0..1 scale."""
    x = images.to(torch.float64).div(255).transpose(0, 1).reshape(images.shape[1], -1)
    return tuple(x.mean(1).tolist()), tuple(x.std(1, correction=0).tolist())


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images) as 32x32 RGB, split 1437/360 once and for all."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    pixels = torch.from_numpy(digits.images).to(torch.float32).mul(255 / 16).unsqueeze(1)  # 0..16 -> 0..255
    large = F.interpolate(pixels, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    images = large.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(digits.target).to(torch.int64)
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=0,
                                           stratify=digits.target)
    train = Split(images[train_idx], labels[train_idx])
    test = Split(images[test_idx], labels[test_idx])
    mean, std = channel_stats(train.images)
    return Dataset(train=train, test=test, num_classes=10, mean=mean, std=std)


def make_synthetic(train_size: int = SYNTHETIC_TRAIN_SIZE, test_size: int = SYNTHETIC_TEST_SIZE,
                   num_classes: int = 10) -> Dataset:
    """Noisy copies of 10 fixed random prototypes; the label is the prototype's index.

    The prototypes are smooth (random 4x4 colour grids, upsampled), so a crop shifted by a few pixels or a
    flip still resembles its class and a small net learns them under the usual augmentation. Prototypes
    come from seed 0, the train images from seed 1 and the test images from seed 2, so the test set does
    not change with `train_size`.
    """
    coarse = torch.rand(num_classes, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 192 + 32
    prototypes = F.interpolate(coarse, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)

    def split(size: int, seed: int) -> Split:
        g = torch.Generator().manual_seed(seed)
        labels = (torch.arange(size) % num_classes)[torch.randperm(size, generator=g)]  # balanced classes
        noise = torch.randn(size, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 32
        images = (prototypes[labels] + noise).round().clamp(0, 255).to(torch.uint8)
        return Split(images, labels.to(torch.int64))

    train, test = split(train_size, 1), split(test_size, 2)
    mean, std = channel_stats(train.images)
    return Dataset(train=train, test=test, num_classes=num_classes, mean=mean, std=std)


# -------------------------------------------------------------------------------- random parameters
# One row per image, drawn on the generator's device. Boxes are (top, bottom, left, right), half-open;
# an empty box (top == bottom) erases nothing.

def draw_crop_offsets(n: int, padding: int, generator: torch.Generator) -> Tensor:
    """(n, 2) int64 (dy, dx) in [0, 2*padding]: the corner of each 32x32 window in the padded image."""
    return torch.randint(0, 2 * padding + 1, (n, 2), generator=generator, device=generator.device)


def draw_flips(n: int, generator: torch.Generator, p: float = 0.5) -> Tensor:
    """(n,) bool: which images to mirror."""
    return torch.rand(n, generator=generator, device=generator.device) < p


def draw_cutout_boxes(n: int, length: int, generator: torch.Generator, size: int = IMAGE_SIZE) -> Tensor:
    """Cutout (DeVries & Taylor 2017): one length x length square per image, its centre uniform over the
    image's pixels, clipped at the border. For the paper's even lengths (16, 8) the square spans
    [c - L/2, c + L/2) exactly as in the authors' code; an odd length keeps L pixels (theirs keeps L-1)."""
    centres = torch.randint(0, size, (n, 2), generator=generator, device=generator.device)
    start = centres - length // 2
    top, left = start.unbind(1)
    return torch.stack([top.clamp(0, size), (top + length).clamp(0, size),
                        left.clamp(0, size), (left + length).clamp(0, size)], dim=1)


def draw_erasing_boxes(n: int, p: float, generator: torch.Generator, size: int = IMAGE_SIZE, *,
                       area: tuple[float, float] = (0.02, 0.4), min_aspect: float = 0.3,
                       attempts: int = 100) -> Tensor:
    """Random Erasing (Zhong et al. 2017, Alg. 1 and the authors' code): with probability p, a box of area
    U(0.02, 0.4) of the image and aspect ratio U(0.3, 1/0.3); up to 100 attempts until it fits (h, w < size),
    placed uniformly. The attempts are drawn together, (n, attempts), and the first that fits is taken."""
    device = generator.device
    erase = torch.rand(n, generator=generator, device=device) < p
    target = torch.empty(n, attempts, device=device).uniform_(*area, generator=generator) * size * size
    aspect = torch.empty(n, attempts, device=device).uniform_(min_aspect, 1 / min_aspect, generator=generator)
    h = torch.sqrt(target * aspect).round().long()  # int(round(...)) in the authors' code
    w = torch.sqrt(target / aspect).round().long()
    fits = (h < size) & (w < size)
    first = fits.int().argmax(dim=1, keepdim=True)  # index of the first fitting attempt (0 if none fits)
    erase &= fits.any(1)  # ~5% of attempts do not fit, so all 100 miss with probability ~1e-128
    h = h.gather(1, first).squeeze(1) * erase  # an empty box where nothing is erased
    w = w.gather(1, first).squeeze(1) * erase
    # top uniform over 0..size-h inclusive (random.randint in the authors' code), likewise left
    u = torch.rand(n, 2, generator=generator, device=device)
    top = (u[:, 0] * (size - h + 1)).long().clamp(max=size - h)
    left = (u[:, 1] * (size - w + 1)).long().clamp(max=size - w)
    return torch.stack([top, top + h, left, left + w], dim=1)


# ------------------------------------------------------------------------------ applying parameters

def normalize(images: Tensor, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor,
              dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 (B, 3, H, W) -> (x/255 - mean) / std, computed in float32 and returned in `dtype`."""
    return _scale_and_shift(images, *_normalization_affine(mean, std, images.device), dtype)


def _normalization_affine(mean, std, device) -> tuple[Tensor, Tensor]:
    """(scale, shift) with x * scale + shift = (x/255 - mean) / std, shaped (1, C, 1, 1)."""
    mean = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return 1 / (255 * std), -mean / std


def _scale_and_shift(images: Tensor, scale: Tensor, shift: Tensor, dtype: torch.dtype) -> Tensor:
    return images.to(torch.float32).mul_(scale).add_(shift).to(dtype)


def crop(images: Tensor, padding: int, offsets: Tensor) -> Tensor:
    """Zero-pad by `padding` in pixel space, then take each image's window at `offsets` (one gather).

    Padding the uint8 image with 0 is what torchvision's RandomCrop(32, padding=4) does (fill=0 before
    ToTensor and Normalize), as in the papers' loaders: black, not mean-coloured, borders."""
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    rows = offsets[:, 0, None] + torch.arange(h, device=images.device)  # (n, h) rows of the padded image
    cols = offsets[:, 1, None] + torch.arange(w, device=images.device)  # (n, w)
    flat = (rows[:, :, None] * (w + 2 * padding) + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return padded.flatten(2).gather(2, flat).view(n, c, h, w)


def flip(images: Tensor, flips: Tensor) -> Tensor:
    """Mirror (left-right) the images where `flips` is True."""
    return torch.where(flips[:, None, None, None], images.flip(3), images)


def erase_boxes(images: Tensor, boxes: Tensor, value: float = 0.0) -> Tensor:
    """Fill each image's box (top, bottom, left, right) with `value` in every channel."""
    rows = torch.arange(images.shape[2], device=images.device)
    cols = torch.arange(images.shape[3], device=images.device)
    in_rows = (rows >= boxes[:, 0, None]) & (rows < boxes[:, 1, None])  # (n, H)
    in_cols = (cols >= boxes[:, 2, None]) & (cols < boxes[:, 3, None])  # (n, W)
    return images.masked_fill((in_rows[:, :, None] & in_cols[:, None, :])[:, None], value)


# ------------------------------------------------------------------- augmentations of a batch, on their own

def random_crop(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Pad-and-crop with zero padding (the standard CIFAR augmentation, padding 4)."""
    return crop(images, padding, draw_crop_offsets(images.shape[0], padding, generator))


def random_flip(images: Tensor, generator: torch.Generator, p: float = 0.5) -> Tensor:
    """Horizontal flip with probability p (0.5 in all the papers)."""
    return flip(images, draw_flips(images.shape[0], generator, p))


def cutout(images: Tensor, length: int, generator: torch.Generator) -> Tensor:
    """Cutout (DeVries & Taylor 2017) on normalized images: one clipped square zeroed, always applied."""
    return erase_boxes(images, draw_cutout_boxes(images.shape[0], length, generator, images.shape[-1]))


def random_erasing(images: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Random Erasing (Zhong et al. 2017) on normalized images, filled with 0 (the dataset mean).

    The authors' code fills the normalized image with (0.4914, 0.4822, 0.4465) (zhunzhong07/Random-Erasing), i.e. the
    mean on the 0..1 scale written into normalized space; we fill with the mean itself, as the paper says."""
    return erase_boxes(images, draw_erasing_boxes(images.shape[0], p, generator, images.shape[-1]))


# ------------------------------------------------------------------------------------------- loader

def _epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed from (seed, epoch): neighbouring epochs get unrelated streams."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class DeviceLoader:
    """A split on one device, served in batches that are gathered, augmented and normalized there.

    `epoch(k)` depends on (seed, k) alone: a resumed run sees exactly the order and augmentation it would
    have seen, and torch's global RNG is left alone. The last, partial batch is kept.

    One of `world` processes (DistributedDataParallel), the loader still holds the whole split and draws the
    whole epoch's order and augmentation, then serves process `rank` its groups of each global batch
    (`replicas.layout_for`): what an image sees does not depend on the number of processes.
    """

    def __init__(self, split: Split, *, mean: Sequence[float], std: Sequence[float], batch_size: int,
                 device: str | torch.device, augment: AugmentSpec | None = None, shuffle: bool = False,
                 seed: int = 0, channels_last: bool = False, dtype: torch.dtype = torch.float32,
                 replica_batch: int | None = None, rank: int = 0, world: int = 1):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.replica_batch = replica_batch or batch_size
        self.rank, self.world = rank, world
        check_world(batch_size, self.replica_batch, world)
        self.device = torch.device(device)
        self.images = split.images.to(self.device, torch.uint8)
        self.labels = split.labels.to(self.device, torch.int64)
        self.mean, self.std = tuple(mean), tuple(std)
        self._scale, self._shift = _normalization_affine(mean, std, self.device)  # once, on the device
        self.batch_size = batch_size
        self.augment = augment
        self.shuffle = shuffle
        self.seed = seed
        self.channels_last = channels_last
        self.dtype = dtype

    @property
    def num_images(self) -> int:
        return self.labels.shape[0]

    def __len__(self) -> int:
        return math.ceil(self.num_images / self.batch_size)

    def layout(self, n: int) -> BatchLayout:
        """The layout of a global batch of `n` images: its replica groups, and those this process holds."""
        return layout_for(n, self.batch_size, self.replica_batch, self.rank, self.world)

    def layouts(self) -> list[BatchLayout]:
        """Every batch's layout, in an epoch's order."""
        return [self.layout(min(self.batch_size, self.num_images - start))
                for start in range(0, self.num_images, self.batch_size)]

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches (images in `dtype`, normalized, (B, 3, 32, 32); labels int64 (B,)) of epoch `epoch`."""
        n = self.num_images
        generator = torch.Generator(device=self.device)
        generator.manual_seed(_epoch_seed(self.seed, epoch))
        if self.shuffle:
            order = torch.randperm(n, generator=generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        params = self._draw(n, generator) if self.augment is not None else {}
        for start in range(0, n, self.batch_size):
            layout = self.layout(min(self.batch_size, n - start))
            # this process's slice of the global batch: the same order and draws whatever the processes
            start, end = start + layout.offset, start + layout.offset + layout.local_size
            index = order[start:end]
            images = self._augment(self.images[index], {k: v[start:end] for k, v in params.items()})
            if self.channels_last:  # a no-op unless an augmentation changed the layout
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, self.labels[index]

    def _draw(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """All of an epoch's random parameters at once, one row per position in the epoch's order."""
        a = self.augment
        params = {}
        if a.crop_padding > 0:
            params["crop"] = draw_crop_offsets(n, a.crop_padding, generator)
        if a.flip:
            params["flip"] = draw_flips(n, generator)
        if a.cutout > 0:
            params["cutout"] = draw_cutout_boxes(n, a.cutout, generator)
        if a.random_erasing > 0:
            params["erasing"] = draw_erasing_boxes(n, a.random_erasing, generator)
        return params

    def _augment(self, images: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Crop and flip the uint8 batch, normalize, then Cutout and Random Erasing (zero = the mean)."""
        if "crop" in params:
            images = crop(images, self.augment.crop_padding, params["crop"])
        if "flip" in params:
            images = flip(images, params["flip"])
        if self.channels_last:  # the layout change on uint8 pixels: a quarter of the bytes of float32 ones
            images = images.contiguous(memory_format=torch.channels_last)
        images = _scale_and_shift(images, self._scale, self._shift, self.dtype)
        if "cutout" in params:
            images = erase_boxes(images, params["cutout"])
        if "erasing" in params:
            images = erase_boxes(images, params["erasing"])
        return images
