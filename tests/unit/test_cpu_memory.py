"""cpu_memory: glibc keeps a training step's freed activations in its heap; elsewhere nothing happens."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys

import pytest

from worker.engine import cpu_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocates, fills and frees a 64 MiB tensor 16 times; prints the page faults of the last 4 rounds. (Kept in
# the heap, glibc takes a few rounds to settle: an aligned block is carved out of a larger free one.)
FAULTS = """
import resource, sys, torch
from worker.engine.cpu_memory import keep_freed_memory_in_heap
if sys.argv[1] == "kept":
    assert keep_freed_memory_in_heap()
faults = []
for _ in range(16):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(16 << 20).fill_(1.0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sum(faults[-4:]))
"""


@pytest.fixture
def fresh(monkeypatch):
    """The module as if this process had not set the thresholds yet."""
    monkeypatch.setattr(cpu_memory, "_applied", None)


def test_does_nothing_off_linux(fresh, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: pytest.fail("no library may be loaded off Linux"))
    assert cpu_memory.keep_freed_memory_in_heap() is False


def test_does_nothing_without_a_c_library(fresh, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")

    def missing(*args, **kwargs):
        raise OSError("no libc here")
    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert cpu_memory.keep_freed_memory_in_heap() is False


def test_refused_thresholds_count_as_not_set(fresh, monkeypatch):
    calls = []

    def refusing(param, value):
        calls.append((param, value))
        return 0
    monkeypatch.setattr(cpu_memory, "_mallopt", lambda: refusing)
    assert cpu_memory.keep_freed_memory_in_heap() is False
    # the large threshold, then old glibc's largest
    assert calls == [(cpu_memory.M_MMAP_THRESHOLD, cpu_memory.HEAP_BYTES),
                     (cpu_memory.M_MMAP_THRESHOLD, cpu_memory.OLD_GLIBC_MAX_MMAP_THRESHOLD)]


def test_sets_both_thresholds_once_per_process(fresh, monkeypatch):
    calls = []
    monkeypatch.setattr(cpu_memory, "_mallopt", lambda: lambda param, value: calls.append((param, value)) or 1)
    assert cpu_memory.keep_freed_memory_in_heap() is True
    assert cpu_memory.keep_freed_memory_in_heap() is True
    assert calls == [(cpu_memory.M_MMAP_THRESHOLD, cpu_memory.HEAP_BYTES),
                     (cpu_memory.M_TRIM_THRESHOLD, cpu_memory.HEAP_BYTES)]


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
def test_a_freed_block_is_reused_without_page_faults():
    def faults(mode: str) -> int:
        return int(subprocess.run([sys.executable, "-c", FAULTS, mode], check=True, capture_output=True,
                                  text=True).stdout)
    pages = 4 * (64 << 20) // 4096  # a 64 MiB block four times over, mapped anew each time by default
    assert faults("default") > pages // 2
    assert faults("kept") < pages // 20
