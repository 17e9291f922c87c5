"""The data layer: datasets as uint8 tensors, and the device loader with the papers' augmentations.

CIFAR is tested on tiny files in the real pickle format, read by torchvision's own code (see
tests/cifar_files.py). The augmentation tests are statistical, with fixed seeds and tolerances of
about five standard deviations.
"""

import math
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10, CIFAR100

from tests.cifar_files import trust_files, write_cifar10, write_cifar100
from worker.engine.data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    DataError,
    DeviceLoader,
    Split,
    crop,
    cutout,
    default_data_dir,
    draw_cutout_boxes,
    draw_erasing_boxes,
    load_dataset,
    normalize,
    random_crop,
    random_erasing,
    random_flip,
)
from worker.engine.spec import AugmentSpec, DatasetSpec

CIFAR10_SPEC = DatasetSpec(name="cifar10")
CIFAR100_SPEC = DatasetSpec(name="cifar100")
NO_AUGMENT = dict(crop_padding=0, flip=False, cutout=0, random_erasing=0.0)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_split(n: int = 50, seed: int = 0) -> Split:
    g = gen(seed)
    return Split(torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
                 torch.randint(0, 10, (n,), generator=g))


def constant_images(n: int, value: float = 1.0) -> torch.Tensor:
    return torch.full((n, 3, 32, 32), value)


def coordinate_image() -> torch.Tensor:
    """uint8 (3, 32, 32): channel 0 holds row + 1, channel 1 column + 1, so a crop's shift can be read off."""
    rows = torch.arange(1, 33).view(32, 1).expand(32, 32)
    return torch.stack([rows, rows.T, torch.full((32, 32), 7)]).to(torch.uint8)


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """image moved so that out[y, x] = image[y + dy, x + dx], with zeros where that falls outside."""
    out = torch.zeros_like(image)
    h, w = image.shape[-2:]
    out[:, max(0, -dy):min(h, h - dy), max(0, -dx):min(w, w - dx)] = \
        image[:, max(0, dy):min(h, h + dy), max(0, dx):min(w, w + dx)]
    return out


def zero_boxes(images: torch.Tensor) -> list[tuple[int, int, int, int] | None]:
    """Each image's zeroed region as (top, bottom, left, right), asserting that it is one rectangle."""
    boxes = []
    for mask in (images == 0).all(1):
        if not mask.any():
            boxes.append(None)
            continue
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        top, bottom = rows.min().item(), rows.max().item() + 1
        left, right = cols.min().item(), cols.max().item() + 1
        assert mask.sum().item() == (bottom - top) * (right - left), "the zeros are not one rectangle"
        assert mask[top:bottom, left:right].all()
        boxes.append((top, bottom, left, right))
    return boxes


# ----------------------------------------------------------------------------------------------- CIFAR

@pytest.fixture
def cifar10(tmp_path, monkeypatch):
    written = write_cifar10(tmp_path)
    trust_files(monkeypatch, CIFAR10, written)
    return written


@pytest.fixture
def cifar100(tmp_path, monkeypatch):
    written = write_cifar100(tmp_path)
    trust_files(monkeypatch, CIFAR100, written)
    return written


def test_cifar10_loads_the_written_pixels_in_nchw_and_the_labels(cifar10):
    data = load_dataset(CIFAR10_SPEC, cifar10.root)
    assert data.train.images.dtype == torch.uint8 and data.train.images.shape == (100, 3, 32, 32)
    assert data.train.labels.dtype == torch.int64 and data.test.images.shape == (20, 3, 32, 32)
    assert torch.equal(data.train.images, torch.from_numpy(cifar10.train_images))
    assert torch.equal(data.train.labels, torch.from_numpy(cifar10.train_labels))
    assert torch.equal(data.test.images, torch.from_numpy(cifar10.test_images))
    assert torch.equal(data.test.labels, torch.from_numpy(cifar10.test_labels))
    assert data.num_classes == 10


def test_cifar_row_is_red_then_green_then_blue_planes(cifar10):
    data = load_dataset(CIFAR10_SPEC, cifar10.root)
    row = cifar10.train_images[0].reshape(3072)  # as stored in data_batch_1
    image = data.train.images[0]
    assert image[0, 0, 1] == row[1] and image[0, 1, 0] == row[32] and image[1, 0, 0] == row[1024]
    assert image[2, 31, 31] == row[3071]


def test_cifar10_normalization_is_the_papers(cifar10):
    data = load_dataset(CIFAR10_SPEC, cifar10.root)
    assert data.mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255)) == CIFAR10_MEAN
    assert data.std == pytest.approx((63.0 / 255, 62.1 / 255, 66.7 / 255)) == CIFAR10_STD


def test_cifar100_loads_fine_labels(cifar100):
    data = load_dataset(CIFAR100_SPEC, cifar100.root)
    assert torch.equal(data.train.images, torch.from_numpy(cifar100.train_images))
    assert torch.equal(data.train.labels, torch.from_numpy(cifar100.train_labels))
    assert torch.equal(data.test.labels, torch.from_numpy(cifar100.test_labels))
    assert data.num_classes == 100
    assert (data.mean, data.std) == (CIFAR100_MEAN, CIFAR100_STD)


def test_missing_directory_names_directory_and_file(tmp_path):
    where = tmp_path / "nowhere"
    with pytest.raises(DataError) as exc:
        load_dataset(CIFAR10_SPEC, where)
    message = str(exc.value)
    assert str(where) in message and "cifar-10-batches-py/data_batch_1" in message
    assert "not found" in message and "--download" in message


def test_missing_batch_file_is_named(cifar10):
    cifar10.path("data_batch_3").unlink()
    with pytest.raises(DataError, match="missing cifar-10-batches-py/data_batch_3;") as exc:
        load_dataset(CIFAR10_SPEC, cifar10.root)
    assert str(cifar10.root) in str(exc.value)


def test_missing_cifar100_meta_is_named(cifar100):
    cifar100.path("meta").unlink()
    with pytest.raises(DataError, match="missing cifar-100-python/meta"):
        load_dataset(CIFAR100_SPEC, cifar100.root)


def test_file_with_wrong_contents_is_named_as_corrupt(cifar10):
    path = cifar10.path("data_batch_2")
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")  # one byte off: the md5 no longer matches
    with pytest.raises(DataError, match="corrupt: cifar-10-batches-py/data_batch_2 does not match its md5") \
            as exc:
        load_dataset(CIFAR10_SPEC, cifar10.root)
    assert str(cifar10.root) in str(exc.value)


def test_unreadable_file_with_matching_checksum_is_named_as_corrupt(tmp_path, monkeypatch):
    written = write_cifar10(tmp_path)
    path = written.path("test_batch")
    path.write_bytes(path.read_bytes()[:100])  # truncated pickle
    trust_files(monkeypatch, CIFAR10, written)
    with pytest.raises(DataError, match="corrupt: cifar-10-batches-py/test_batch could not be read"):
        load_dataset(CIFAR10_SPEC, written.root)


def test_failed_download_says_so(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no internet")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DataError, match="could not be downloaded into") as exc:
        load_dataset(CIFAR10_SPEC, tmp_path, download=True)
    assert "cifar-10-batches-py" in str(exc.value)


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("SHAKELAB_DATA_DIR", raising=False)
    monkeypatch.delenv("SHAKELAB_HOME", raising=False)
    assert default_data_dir() == Path.home() / ".shakelab" / "data"
    monkeypatch.setenv("SHAKELAB_HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / "data"
    monkeypatch.setenv("SHAKELAB_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    with pytest.raises(DataError, match=str(tmp_path / "data")):
        load_dataset(CIFAR10_SPEC)


# --------------------------------------------------------------------------------- digits and synthetic

def test_digits_split_is_1437_360_and_fixed():
    first, second = load_dataset(DatasetSpec(name="digits")), load_dataset(DatasetSpec(name="digits"))
    assert first.train.images.shape == (1437, 3, 32, 32) and first.test.images.shape == (360, 3, 32, 32)
    assert first.train.images.dtype == torch.uint8 and first.train.labels.dtype == torch.int64
    assert torch.equal(first.train.images, second.train.images)
    assert torch.equal(first.test.labels, second.test.labels)
    assert first.num_classes == 10 and set(first.test.labels.tolist()) == set(range(10))


def test_digits_are_the_8x8_digits_upsampled_to_grey_32x32_in_a_stratified_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_dataset(DatasetSpec(name="digits"))
    digits = load_digits()
    _, test_index = train_test_split(np.arange(1797), test_size=0.2, random_state=0, stratify=digits.target)
    scaled = torch.from_numpy(digits.images[test_index]).float()[:, None] * 255 / 16  # 0..16 -> 0..255
    expected = torch.nn.functional.interpolate(scaled, size=(32, 32), mode="bilinear").round()
    images = data.test.images.float()
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    assert (images[:, :1] - expected).abs().max() <= 1
    assert torch.equal(data.test.labels, torch.from_numpy(digits.target[test_index]))
    assert images.max() == 255 and images.min() == 0


def test_digits_mean_and_std_come_from_the_train_split():
    data = load_dataset(DatasetSpec(name="digits"))
    pixels = data.train.images[:, 0].double() / 255
    assert data.mean == pytest.approx((pixels.mean().item(),) * 3)
    assert data.std == pytest.approx((pixels.std(correction=0).item(),) * 3)


def test_synthetic_defaults_to_1024_and_256_images():
    data = load_dataset(DatasetSpec(name="synthetic"))
    assert data.train.images.shape == (1024, 3, 32, 32) and data.test.images.shape == (256, 3, 32, 32)
    assert data.train.images.dtype == torch.uint8 and data.train.labels.dtype == torch.int64
    assert data.num_classes == 10
    assert torch.bincount(data.train.labels).tolist() == [103] * 4 + [102] * 6  # balanced


def test_synthetic_is_deterministic_and_sized_by_the_spec():
    a = load_dataset(DatasetSpec(name="synthetic", train_size=64, test_size=32))
    b = load_dataset(DatasetSpec(name="synthetic", train_size=64, test_size=32))
    other_train_size = load_dataset(DatasetSpec(name="synthetic", train_size=128, test_size=32))
    assert len(a.train) == 64 and len(a.test) == 32
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.train.labels, b.train.labels)
    assert torch.equal(a.test.images, other_train_size.test.images)  # the test set does not move with it
    pixels = a.train.images.double().div(255).transpose(0, 1).flatten(1)
    assert a.mean == pytest.approx(tuple(pixels.mean(1).tolist()))


def test_synthetic_labels_are_learnable():
    data = load_dataset(DatasetSpec(name="synthetic"))
    train, test = data.train.images.flatten(1).float(), data.test.images.flatten(1).float()
    centroids = torch.stack([train[data.train.labels == k].mean(0) for k in range(10)])
    predicted = torch.cdist(test, centroids).argmin(1)
    assert (predicted == data.test.labels).float().mean() > 0.95


# ----------------------------------------------------------------------------------------------- loader

def loader(split=None, **kwargs) -> DeviceLoader:
    kwargs.setdefault("batch_size", 16)
    return DeviceLoader(split if split is not None else random_split(), mean=(0.5, 0.4, 0.3),
                        std=(0.2, 0.25, 0.3), device="cpu", **kwargs)


def batches(loader_: DeviceLoader, epoch: int = 1):
    return list(loader_.epoch(epoch))


def test_length_is_the_number_of_batches_and_the_last_is_partial():
    train = loader(augment=AugmentSpec(), shuffle=True)  # 50 images, batch 16
    sizes = [labels.shape[0] for _, labels in train.epoch(1)]
    assert len(train) == 4 == math.ceil(50 / 16) and sizes == [16, 16, 16, 2]
    assert len(loader(batch_size=10)) == 5


def test_each_epoch_visits_every_image_once():
    split = random_split()
    split.labels = torch.arange(50)  # labels as image ids
    train = loader(split, augment=AugmentSpec(), shuffle=True)
    orders = [torch.cat([labels for _, labels in train.epoch(e)]) for e in (1, 2)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(50))
    assert not torch.equal(orders[0], orders[1])  # reshuffled each epoch


def test_eval_loader_is_plain_normalization_in_order():
    split = random_split()
    test = loader(split, batch_size=20)
    images = torch.cat([x for x, _ in test.epoch(0)])
    labels = torch.cat([y for _, y in test.epoch(0)])
    mean, std = torch.tensor((0.5, 0.4, 0.3)).view(3, 1, 1), torch.tensor((0.2, 0.25, 0.3)).view(3, 1, 1)
    assert torch.allclose(images, (split.images.float() / 255 - mean) / std, atol=1e-6)
    assert torch.equal(labels, split.labels)
    assert images.dtype == torch.float32 and labels.dtype == torch.int64


def test_epoch_depends_on_seed_and_epoch_alone():
    augment = AugmentSpec(cutout=8, random_erasing=0.5)
    first = batches(loader(augment=augment, shuffle=True, seed=3), epoch=5)
    resumed = batches(loader(augment=augment, shuffle=True, seed=3), epoch=5)  # a fresh loader, as on resume
    for (x1, y1), (x2, y2) in zip(first, resumed, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    other_epoch = batches(loader(augment=augment, shuffle=True, seed=3), epoch=6)
    other_seed = batches(loader(augment=augment, shuffle=True, seed=4), epoch=5)
    assert not torch.equal(first[0][1], other_epoch[0][1])
    assert not torch.equal(first[0][1], other_seed[0][1])


def test_loader_neither_uses_nor_moves_the_global_rng():
    train = loader(augment=AugmentSpec(cutout=8, random_erasing=0.5), shuffle=True)
    torch.manual_seed(1)
    a = batches(train)
    state = torch.get_rng_state()
    torch.manual_seed(2)
    b = batches(train)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, b, strict=True))
    torch.set_rng_state(state)
    batches(train)
    assert torch.equal(torch.get_rng_state(), state)


def test_augmentation_of_an_image_does_not_depend_on_the_batch_size():
    augment = AugmentSpec(cutout=8, random_erasing=0.5)
    small = torch.cat([x for x, _ in loader(augment=augment, shuffle=True, batch_size=7).epoch(2)])
    large = torch.cat([x for x, _ in loader(augment=augment, shuffle=True, batch_size=32).epoch(2)])
    assert torch.equal(small, large)


def test_dtype_and_channels_last_on_request():
    x, _ = next(loader(augment=AugmentSpec(), channels_last=True, dtype=torch.bfloat16).epoch(1))
    assert x.dtype == torch.bfloat16 and x.shape == (16, 3, 32, 32)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    x, _ = next(loader().epoch(0))
    assert x.is_contiguous()


# ------------------------------------------------------------------------------------------------ crop

def test_crop_is_a_shift_with_zeros_entering():
    image = coordinate_image()
    offsets = torch.tensor([[0, 0], [4, 4], [8, 8], [0, 8], [6, 1]])
    out = crop(image.expand(5, -1, -1, -1), 4, offsets)
    for window, (dy, dx) in zip(out, offsets.tolist(), strict=True):
        assert torch.equal(window, shifted(image, dy - 4, dx - 4))
    assert torch.equal(out[1], image)  # the centre window is the image itself


def test_random_crop_offsets_cover_every_shift_uniformly():
    image = coordinate_image()
    out = random_crop(image.expand(8100, -1, -1, -1), 4, gen(0))
    dy, dx = out[:, 0, 16, 16].long() - 17, out[:, 1, 16, 16].long() - 17  # read the shift off the centre
    for i in range(0, 8100, 997):
        assert torch.equal(out[i], shifted(image, dy[i].item(), dx[i].item()))
    counts = torch.bincount((dy + 4) * 9 + (dx + 4), minlength=81)
    assert counts.shape == (81,) and counts.min() > 50 and counts.max() < 150  # 100 expected, sd 10


def test_loader_pads_in_pixel_space_so_borders_are_black_after_normalization():
    split = Split(torch.full((64, 3, 32, 32), 200, dtype=torch.uint8), torch.zeros(64, dtype=torch.long))
    train = loader(split, batch_size=64, augment=AugmentSpec(crop_padding=4, flip=False))
    x, _ = next(train.epoch(1))
    black = ((0 - torch.tensor((0.5, 0.4, 0.3))) / torch.tensor((0.2, 0.25, 0.3))).view(1, 3, 1, 1)
    is_black = torch.isclose(x, black.expand_as(x)).all(1)
    assert is_black.any() and not is_black.all()
    assert torch.isclose(x[~is_black[:, None].expand_as(x)].view(-1).unique(), normalize(
        torch.full((1, 3, 1, 1), 200, dtype=torch.uint8), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)).view(-1)).all()


# ------------------------------------------------------------------------------------------------ flip

def test_random_flip_mirrors_half_the_images():
    images = random_split(1, seed=1).images.expand(4000, -1, -1, -1)
    out = random_flip(images, gen(0))
    flipped = (out == images.flip(3)).flatten(1).all(1)
    kept = (out == images).flatten(1).all(1)
    assert (flipped ^ kept).all()
    assert abs(flipped.float().mean().item() - 0.5) < 0.04  # sd 0.008


def test_loader_flips_only_when_asked():
    split = random_split(200)
    same = torch.cat([x for x, _ in loader(split, augment=AugmentSpec(**NO_AUGMENT)).epoch(1)])
    flipped = torch.cat([x for x, _ in loader(split, augment=AugmentSpec(**{**NO_AUGMENT, "flip": True}))
                         .epoch(1)])
    plain = torch.cat([x for x, _ in loader(split).epoch(1)])
    assert torch.equal(same, plain)
    mirrored = (flipped == plain.flip(3)).flatten(1).all(1)
    assert 60 < mirrored.sum() < 140 and torch.equal(flipped[~mirrored], plain[~mirrored])


# ---------------------------------------------------------------------------------------------- cutout

def test_cutout_zeroes_one_square_of_side_l_clipped_at_the_border():
    out = cutout(constant_images(3000), 16, gen(0))
    boxes = zero_boxes(out)
    assert None not in boxes  # always applied
    for top, bottom, left, right in boxes:
        for start, end in ((top, bottom), (left, right)):
            assert 8 <= end - start <= 16
            assert end - start == 16 or start == 0 or end == 32  # only the border clips it
    assert sum(box == (top, top + 16, left, left + 16) for box in boxes
               for top, left in [box[::2]]) > 0.2 * 3000  # interior centres: (17/32)^2 = 28%


def test_cutout_centres_cover_the_corners():
    boxes = zero_boxes(cutout(constant_images(3000), 8, gen(1)))
    corners = {(0, 0), (0, 32), (32, 0), (32, 32)}
    touched = {(t if t == 0 else b, l if l == 0 else r) for t, b, l, r in boxes}
    assert corners <= touched
    # the square [c - 4, c + 4) covers pixel (0, 0) for the 25 centres with y, x in 0..4: 73 expected, sd 8.5
    assert 30 < sum(box[0] == 0 and box[2] == 0 for box in boxes) < 120


def test_odd_cutout_length_keeps_l_pixels():
    boxes = draw_cutout_boxes(500, 5, gen(0))
    interior = (boxes[:, 0] > 0) & (boxes[:, 1] < 32) & (boxes[:, 2] > 0) & (boxes[:, 3] < 32)
    assert interior.any()
    assert ((boxes[interior, 1] - boxes[interior, 0]) == 5).all()


def test_loader_cutout_zeroes_after_normalization():
    split = Split(torch.full((32, 3, 32, 32), 200, dtype=torch.uint8), torch.zeros(32, dtype=torch.long))
    x, _ = next(loader(split, batch_size=32, augment=AugmentSpec(**{**NO_AUGMENT, "cutout": 16})).epoch(1))
    boxes = zero_boxes(x)
    assert None not in boxes and all(256 >= (b - t) * (r - l) >= 64 for t, b, l, r in boxes)
    assert (x != 0).sum() == x.numel() - 3 * sum((b - t) * (r - l) for t, b, l, r in boxes)


# -------------------------------------------------------------------------------------- random erasing

def test_random_erasing_erases_with_probability_p_boxes_of_the_papers_size():
    out = random_erasing(constant_images(4000), 0.5, gen(0))
    boxes = zero_boxes(out)
    erased = [box for box in boxes if box is not None]
    assert abs(len(erased) / 4000 - 0.5) < 0.04  # sd 0.008
    heights = np.array([b - t for t, b, _, _ in erased])
    widths = np.array([r - l for _, _, l, r in erased])
    area = heights * widths / 1024
    # area U(0.02, 0.4) before rounding h and w to integers (at most about +-1 pixel each)
    assert area.min() >= 0.01 and area.max() <= 0.45
    assert 0.15 < area.mean() < 0.23  # 0.21, less the large boxes that do not fit
    assert (heights < 32).all() and (widths < 32).all()
    aspect = heights / widths
    assert aspect.min() >= 0.25 and aspect.max() <= 4.0
    assert (aspect < 0.5).any() and (aspect > 2).any()


def test_random_erasing_probability_bounds():
    assert (draw_erasing_boxes(500, 0.0, gen(0))[:, 1] == draw_erasing_boxes(500, 0.0, gen(0))[:, 0]).all()
    boxes = draw_erasing_boxes(500, 1.0, gen(0))
    assert ((boxes[:, 1] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 2])).all()
    assert (boxes >= 0).all() and (boxes <= 32).all()


def test_random_erasing_positions_reach_every_border():
    boxes = draw_erasing_boxes(4000, 1.0, gen(2))
    assert (boxes[:, 0] == 0).any() and (boxes[:, 1] == 32).any()
    assert (boxes[:, 2] == 0).any() and (boxes[:, 3] == 32).any()


def test_loader_random_erasing_fills_with_the_mean():
    split = Split(torch.full((400, 3, 32, 32), 200, dtype=torch.uint8), torch.zeros(400, dtype=torch.long))
    train = loader(split, batch_size=100, augment=AugmentSpec(**{**NO_AUGMENT, "random_erasing": 0.5}))
    x = torch.cat([x for x, _ in train.epoch(1)])
    erased = sum(box is not None for box in zero_boxes(x))
    assert 140 < erased < 260  # 200 expected, sd 10


# --------------------------------------------------------------------------------------------------- GPU

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_loader_never_synchronizes_with_the_host():
    train = DeviceLoader(random_split(300), mean=(0.5,) * 3, std=(0.25,) * 3, batch_size=64, device="cuda",
                         augment=AugmentSpec(cutout=16, random_erasing=0.5), shuffle=True,
                         channels_last=True, dtype=torch.bfloat16)
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = [x for x, _ in train.epoch(1)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out[0].device.type == "cuda" and len(out) == 5
    cpu = DeviceLoader(random_split(300), mean=(0.5,) * 3, std=(0.25,) * 3, batch_size=64, device="cpu",
                       shuffle=True)
    gpu = DeviceLoader(random_split(300), mean=(0.5,) * 3, std=(0.25,) * 3, batch_size=64, device="cuda",
                       shuffle=True)
    assert sorted(torch.cat([y for _, y in gpu.epoch(1)]).tolist()) == \
        sorted(torch.cat([y for _, y in cpu.epoch(1)]).tolist())
