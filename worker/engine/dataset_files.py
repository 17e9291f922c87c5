"""Which files each dataset needs in a data directory, and whether a directory holds them, without torch.

The worker reports this with its presence (so the API can say, before a run is queued, whether CIFAR is on
the workers or will be downloaded first), and checks it before it starts the engine. The names and sizes
are those of the official archives (https://www.cs.toronto.edu/~kriz/cifar.html), as torchvision's CIFAR10
and CIFAR100 classes expect them (a unit test holds the two together); torchvision alone checks the md5s.
Digits and Synthetic need no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DatasetFiles", "FILE_DATASETS", "is_present", "download_command", "size_text"]


@dataclass(frozen=True)
class DatasetFiles:
    name: str  # the spec's dataset.name
    title: str
    folder: str  # what the archive extracts to, inside the data directory
    archive: str
    archive_bytes: int  # what a download fetches
    files: tuple[str, ...]  # inside `folder`

    def missing(self, data_dir: Path) -> list[str]:
        """The files (relative to the data directory) that are not there."""
        return [f"{self.folder}/{f}" for f in self.files if not (Path(data_dir) / self.folder / f).is_file()]


FILE_DATASETS: dict[str, DatasetFiles] = {d.name: d for d in (
    DatasetFiles("cifar10", "CIFAR-10", "cifar-10-batches-py", "cifar-10-python.tar.gz", 170_498_071,
                 ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                  "batches.meta")),
    DatasetFiles("cifar100", "CIFAR-100", "cifar-100-python", "cifar-100-python.tar.gz", 169_001_437,
                 ("train", "test", "meta")),
)}


def is_present(name: str, data_dir: Path) -> bool:
    """Every file of the dataset is in `data_dir` (their checksums are torchvision's to check, at load)."""
    return not FILE_DATASETS[name].missing(data_dir)


def download_command(name: str, data_dir: Path) -> str:
    """The one command that puts the dataset where a worker reads it."""
    return f"python -m worker.engine download {name} --data-dir {data_dir}"


def size_text(num_bytes: int) -> str:
    """170498071 -> '163 MB' (binary megabytes, as file managers and `du -h` count them)."""
    return f"{num_bytes / 2**20:.0f} MB"
