"""bench/engine.py runs end to end at its smallest configuration and prints its tables (never its speed)."""

import argparse
import importlib.util
import os
import subprocess
import sys
from itertools import dropwhile, takewhile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def table(output: str, title: str) -> tuple[list[str], list[list[str]]]:
    """The first markdown table after the heading `## title`: its header cells and its rows' cells."""
    lines = output.split(f"## {title}", 1)[1].splitlines()
    block = takewhile(lambda line: line.startswith("|"), dropwhile(lambda line: not line.startswith("|"), lines))
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in block if not line.startswith("|---")]
    return cells[0], cells[1:]


@pytest.mark.slow
def test_smallest_configuration_prints_every_table_with_its_columns():
    # One thread per process: the two cores may be shared with other tests, and oversubscribed threads
    # would only make this slower; the figures themselves are not checked.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "bench/engine.py", "--models", "ss8-2x4d", "--batch-sizes", "8", "--steps", "2",
         "--test-size", "16", "--variants", "reference,ours-eager", "--shared", "1,2", "--interleaved", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout

    header, rows = table(out, "Training throughput")
    assert header == ["model", "batch", "variant", "img/s", "x ref", "MFU", "peak MiB", "h/1800ep",
                      "1st epoch s", "syncs/step", "compiled"]
    assert [(r[0], r[1], r[2]) for r in rows] == [("ss8-2x4d", "8", "reference"), ("ss8-2x4d", "8", "ours-eager")]
    assert all(float(r[3]) > 0 and float(r[7]) > 0 for r in rows)
    assert rows[0][4] == "1.00"

    header, rows = table(out, "CPU time and page faults per training step, whole training")
    assert header == ["model", "batch", "variant", "CPU s/step", "page faults/step"]
    assert [r[2] for r in rows] == ["reference", "ours-eager"] and all(float(r[3]) > 0 for r in rows)

    header, rows = table(out, "One training step, the variants in turn")
    assert header == ["model", "batch", "variant", "median ms/step", "min ms/step", "img/s (median)", "x ref (median)",
                      "x ref (min)", "CPU s/step", "page faults/step"]
    assert [r[2] for r in rows] == ["reference", "ours-nchw", "ours-eager", "ours-mmap"]
    assert rows[0][6:8] == ["1.00", "1.00"]
    assert all(float(r[3]) >= float(r[4]) > 0 and float(r[8]) > 0 for r in rows)

    header, rows = table(out, "Evaluation and checkpoint against training")
    assert header[:6] == ["model", "batch", "variant", "train s", "eval s", "checkpoint s"]
    assert [r[2] for r in rows] == ["ours-eager"]

    header, rows = table(out, "Replica groups")
    assert header == ["model", "batch", "groups", "replica batch", "img/s", "x one group", "peak MiB"]
    assert [r[:4] for r in rows] == [["ss8-2x4d", "8", "1", "8"], ["ss8-2x4d", "8", "2", "4"]]
    assert rows[0][5] == "1.00" and float(rows[1][4]) > 0

    header, rows = table(out, "Runs sharing one device")
    assert header == ["runs", "img/s each (mean)", "img/s together", "x one run", "peak MiB each"]
    assert [r[0] for r in rows] == ["1", "2"] and rows[0][3] == "1.00"

    targets = out.split("## Targets", 1)[1]
    assert "on a CPU" in targets.splitlines()[0] and "ss8-2x4d: ours-eager" in targets
    assert "| total |" in out.split("## Time taken", 1)[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "bench" / "engine.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_a_gpu_report_prints_mfu_host_syncs_and_a_verdict_per_target(capsys):
    # The GPU-only columns, from made-up figures: this machine has no GPU to produce real ones.
    bench = load_bench()
    names = ["ss26-2x96d", "pyramidnet272"]
    rates = {("ss26-2x96d", "reference"): 3000.0, ("ss26-2x96d", "ours"): 16000.0,
             ("pyramidnet272", "reference"): 1500.0, ("pyramidnet272", "ours"): 3000.0}
    results = {}
    for (name, variant), rate in rates.items():
        r = {"images_per_second": rate, "peak_mb": 5000.0, "syncs_per_step": 24.0 if variant == "reference" else 0.01}
        if variant == "ours":
            r.update(first_epoch_seconds=60.0, eval_seconds=0.5, checkpoint_seconds=0.2, test_images=10000,
                     graphs=2, graph_breaks=0, cudagraph_skips=0)
        results[bench.Job(variant, name, 128)] = r
    results[bench.Job("ours-cudagraphs", "pyramidnet272", 128)] = {"error": "skipped (time budget)"}
    args = argparse.Namespace(test_size=10000)
    bench.print_report(names, ["reference", "ours", "ours-cudagraphs"], lambda name: [128], results,
                       {"ss26-2x96d": 22.66e9, "pyramidnet272": 26.93e9}, {"ss26-2x96d": 1, "pyramidnet272": 1},
                       989e12, [], "ss26-2x96d", "ours", [], args, bench.Budget(None))
    out = capsys.readouterr().out

    _, rows = table(out, "Training throughput")
    ours_96 = next(r for r in rows if r[0] == "ss26-2x96d" and r[2] == "ours")
    assert ours_96[4:6] == ["5.33", "36.7%"] and ours_96[9:] == ["0.01", "2 graphs, 0 breaks"]
    assert any(r[2] == "ours-cudagraphs" and r[3] == "skipped (time budget)" for r in rows)
    targets = out.split("## Targets", 1)[1]
    assert "PASS ss26-2x96d: ours 5.33x" in targets and "FAIL pyramidnet272: ours 2.00x" in targets
    assert "PASS ss26-2x96d: ours MFU 36.7%" in targets


def test_a_cpu_report_prints_the_compile_break_even_and_the_cpu_targets(capsys):
    # Made-up figures: eager 100 img/s, compiled 125 img/s, whose first epoch took 60 s more than its second
    # against eager's 2 s: 58 s of compilation saving 0.002 s per image pay for themselves after 29,000 images.
    bench = load_bench()
    names = ["ss8-2x16d", "pyramidnet20"]
    results = {
        bench.Job("reference", "ss8-2x16d", 128): {"images_per_second": 80.0, "peak_mb": 1000.0},
        bench.Job("ours-eager", "ss8-2x16d", 128): {"images_per_second": 100.0, "peak_mb": 1000.0,
                                                     "first_epoch_seconds": 12.0, "second_epoch_seconds": 10.0},
        bench.Job("ours", "ss8-2x16d", 128): {"images_per_second": 125.0, "peak_mb": 1000.0,
                                               "first_epoch_seconds": 68.0, "second_epoch_seconds": 8.0,
                                               "graphs": 2, "graph_breaks": 0, "cudagraph_skips": 0},
        bench.Job("reference", "pyramidnet20", 128): {"images_per_second": 50.0, "peak_mb": 1000.0},
        bench.Job("ours-eager", "pyramidnet20", 128): {"images_per_second": 55.0, "peak_mb": 1000.0,
                                                        "first_epoch_seconds": 12.0, "second_epoch_seconds": 10.0},
        bench.Job("ours", "pyramidnet20", 128): {"images_per_second": 50.0, "peak_mb": 1000.0,
                                                  "first_epoch_seconds": 70.0, "second_epoch_seconds": 11.0},
    }
    args = argparse.Namespace(test_size=256)
    bench.print_report(names, ["reference", "ours-eager", "ours"], lambda name: [128], results,
                       {n: 1e9 for n in names}, {n: 1 for n in names}, None, [], "ss8-2x16d", "ours-eager", [],
                       args, bench.Budget(None), on_gpu=False)
    out = capsys.readouterr().out

    header, rows = table(out, "torch.compile against eager")
    assert header == ["model", "batch", "eager img/s", "compiled img/s", "compiled x eager", "compilation s",
                      "break-even images", "break-even CIFAR epochs"]
    assert rows[0] == ["ss8-2x16d", "128", "100.0", "125.0", "1.25", "58.0", "29,000", "0.58"]
    assert rows[1][0] == "pyramidnet20" and rows[1][4] == "0.91" and rows[1][6:] == ["never", "never"]
    targets = out.split("## Targets", 1)[1]
    assert "on a CPU" in targets.splitlines()[0]
    assert "PASS ss8-2x16d: ours-eager 1.25x the reference" in targets
    assert "FAIL pyramidnet20: ours-eager 1.10x" in targets
