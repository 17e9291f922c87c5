"""A worker's GPUs: all-or-nothing grants, packing, no starvation of wide runs, and why a run waits."""

from __future__ import annotations

import random
import threading
import time

import pytest

from worker.gpu_pool import GpuPool


def _waiter(pool: GpuPool, run_id: int, gpus: int, out: dict, **kw) -> threading.Thread:
    thread = threading.Thread(target=lambda: out.__setitem__(run_id, pool.acquire(run_id, gpus, poll=0.05, **kw)))
    thread.start()
    return thread


def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _waiting(pool: GpuPool) -> list[int]:
    return [w["run_id"] for w in pool.report()["waiting"]]


def test_a_wide_run_gets_whole_gpus_or_waits_holding_none():
    pool = GpuPool(["0", "1", "2", "3"])
    assert pool.acquire(1, 1) == [0]
    out: dict = {}
    thread = _waiter(pool, 2, 4, out)
    _until(lambda: _waiting(pool) == [2])
    report = pool.report()
    # All or nothing: while it waits, the three free GPUs are not taken by it.
    assert [g["runs"] for g in report["gpus"]] == [[1], [], [], []]
    assert report["waiting"][0]["reason"] == ("needs 4 free GPUs at once; 3 of this worker's 4 are free "
                                              "(held by run 1)")
    pool.release(1)
    thread.join(5)
    assert out[2] == [0, 1, 2, 3]
    assert [g["runs"] for g in pool.report()["gpus"]] == [[2], [2], [2], [2]]


def test_one_gpu_runs_are_packed_onto_busy_gpus_leaving_whole_ones_free():
    pool = GpuPool(["0", "1", "2", "3"], runs_per_gpu=2)
    assert pool.acquire(1, 1) == [0]
    assert pool.acquire(2, 1) == [0]  # the busiest GPU with room, not a fresh one
    assert pool.acquire(3, 1) == [1]
    assert pool.acquire(4, 2) == [2, 3]  # two whole GPUs are still free for a 2-GPU run
    assert pool.acquire(5, 1) == [1]


def test_one_gpu_runs_behind_a_waiting_wide_run_do_not_overtake_it():
    pool = GpuPool(["0", "1"])
    assert pool.acquire(1, 1) == [0]
    out: dict = {}
    wide = _waiter(pool, 2, 2, out)
    _until(lambda: _waiting(pool) == [2])
    narrow = _waiter(pool, 3, 1, out)  # GPU 1 is free, but taking it would starve run 2
    _until(lambda: _waiting(pool) == [2, 3])
    assert pool.report()["waiting"][1]["reason"] == "behind run 2, which waits for 2 GPUs on this worker"
    pool.release(1)
    wide.join(5)
    assert out[2] == [0, 1]
    assert _waiting(pool) == [3]
    pool.release(2)
    narrow.join(5)
    assert out[3] == [0]


def test_a_wide_run_has_every_slot_of_its_gpus_and_runs_behind_a_waiting_one_keep_off_its_reserve():
    pool = GpuPool(["0", "1", "2", "3"], runs_per_gpu=2)
    assert pool.acquire(1, 1) == [0]
    assert pool.acquire(2, 2) == [1, 2]
    out: dict = {}
    wide = _waiter(pool, 3, 2, out)  # only GPU 3 is whole: it reserves GPUs 3 and 0 (the closest to free)
    _until(lambda: _waiting(pool) == [3])
    late: dict = {}
    blocked = _waiter(pool, 4, 1, late)  # GPUs 1 and 2 are run 2's entirely; GPU 0's free slot is reserved
    _until(lambda: _waiting(pool) == [3, 4])
    pool.release(2)
    wide.join(5)
    blocked.join(5)
    assert out[3] == [1, 2] and late[4] == [0]
    assert [g["runs"] for g in pool.report()["gpus"]] == [[1, 4], [3], [3], []]


def test_a_one_gpu_run_backfills_a_slot_the_waiting_wide_run_has_not_reserved():
    pool = GpuPool(["0", "1", "2"], runs_per_gpu=2)
    assert pool.acquire(1, 2) == [0, 1]
    assert pool.acquire(2, 1) == [2]
    out: dict = {}
    wide = _waiter(pool, 3, 2, out)  # reserves GPUs 0 and 1, which run 1 will free
    _until(lambda: _waiting(pool) == [3])
    assert pool.acquire(4, 1, poll=0.05) == [2]  # beside run 2: it delays run 3 not at all
    pool.release(1)
    wide.join(5)
    assert out[3] == [0, 1]


def test_with_every_gpu_reserved_nothing_overtakes_the_wide_run():
    pool = GpuPool(["0", "1"], runs_per_gpu=2)
    assert pool.acquire(1, 1) == [0]
    out: dict = {}
    wide = _waiter(pool, 2, 2, out)
    _until(lambda: _waiting(pool) == [2])
    late: dict = {}
    # A stream of 1-GPU runs on GPU 0's free slot would keep it busy for ever.
    blocked = _waiter(pool, 3, 1, late)
    _until(lambda: _waiting(pool) == [2, 3])
    pool.release(1)
    wide.join(5)
    assert out[2] == [0, 1]
    pool.release(2)
    blocked.join(5)
    assert late[3] == [0]


def test_a_waiting_run_gives_up_when_no_longer_wanted_or_after_its_patience_behind_another():
    pool = GpuPool(["0", "1"])
    assert pool.acquire(1, 1) == [0]
    wanted = threading.Event()
    wanted.set()
    out: dict = {}
    head = _waiter(pool, 2, 2, out, still_wanted=wanted.is_set)
    _until(lambda: _waiting(pool) == [2])
    behind = _waiter(pool, 3, 1, out, patience=0.2)
    behind.join(5)
    assert out[3] is None  # it went back to the queue, for another worker
    assert _waiting(pool) == [2]
    wanted.clear()  # cancelled while it waited
    head.join(5)
    assert out[2] is None and _waiting(pool) == []
    assert pool.acquire(4, 1) == [1]  # nothing was left held


def test_a_run_asking_for_more_gpus_than_the_worker_owns_is_refused():
    with pytest.raises(ValueError, match="asks for 3 GPUs; this worker has 2"):
        GpuPool(["0", "1"]).acquire(1, 3)


def test_concurrent_runs_never_share_a_gpu_slot_and_every_run_starts():
    pool = GpuPool(["0", "1", "2", "3"])
    rng = random.Random(0)
    in_use: dict[int, int] = {}
    lock = threading.Lock()
    problems: list[str] = []
    started: list[int] = []

    def run(run_id: int, gpus: int) -> None:
        held = pool.acquire(run_id, gpus, poll=0.01)
        with lock:
            started.append(run_id)
            if len(held) != gpus:
                problems.append(f"run {run_id} got {held} for {gpus} GPUs")
            for i in held:
                if i in in_use:
                    problems.append(f"GPU {i} given to runs {in_use[i]} and {run_id}")
                in_use[i] = run_id
        time.sleep(rng.random() * 0.01)
        with lock:
            for i in held:
                del in_use[i]
        pool.release(run_id)

    threads = [threading.Thread(target=run, args=(i, rng.choice([1, 1, 1, 2, 4]))) for i in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert problems == []
    assert sorted(started) == list(range(60))
    assert pool.report()["waiting"] == [] and all(not g["runs"] for g in pool.report()["gpus"])


def test_a_worker_on_the_cpu_is_one_device_with_its_slots():
    pool = GpuPool([None], runs_per_gpu=2)
    assert pool.acquire(1, 1) == [0] and pool.acquire(2, 1) == [0]
    out: dict = {}
    thread = _waiter(pool, 3, 1, out)
    _until(lambda: _waiting(pool) == [3])
    assert pool.report()["waiting"][0]["reason"] == "every slot of this worker is taken (held by runs 1, 2)"
    pool.release(2)
    thread.join(5)
    assert out[3] == [0] and pool.labels_of([0]) == [None]
