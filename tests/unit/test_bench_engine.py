"""bench/engine.py runs end to end at its smallest configuration and prints its tables (never its speed)."""

import os
import subprocess
import sys
from itertools import dropwhile, takewhile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def table(output: str, title: str) -> tuple[list[str], list[list[str]]]:
    """The first markdown table after the heading `## title`: its header cells and its rows' cells."""
    lines = output.split(f"## {title}", 1)[1].splitlines()
    block = takewhile(lambda line: line.startswith("|"), dropwhile(lambda line: not line.startswith("|"), lines))
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in block if not line.startswith("|---")]
    return cells[0], cells[1:]


def test_smallest_configuration_prints_every_table_with_its_columns():
    # One thread per process: the two cores may be shared with other tests, and oversubscribed threads
    # would only make this slower; the figures themselves are not checked.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "bench/engine.py", "--models", "ss8-2x4d", "--batch-sizes", "8", "--steps", "2",
         "--test-size", "16", "--variants", "reference,ours-eager", "--shared", "1,2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout

    header, rows = table(out, "Training throughput")
    assert header == ["model", "batch", "variant", "img/s", "x ref", "MFU", "peak MiB", "h/1800ep",
                      "1st epoch s", "syncs/step", "compiled"]
    assert [(r[0], r[1], r[2]) for r in rows] == [("ss8-2x4d", "8", "reference"), ("ss8-2x4d", "8", "ours-eager")]
    assert all(float(r[3]) > 0 and float(r[7]) > 0 for r in rows)
    assert rows[0][4] == "1.00"

    header, rows = table(out, "Evaluation and checkpoint against training")
    assert header[:6] == ["model", "batch", "variant", "train s", "eval s", "checkpoint s"]
    assert [r[2] for r in rows] == ["ours-eager"]

    header, rows = table(out, "Runs sharing one device")
    assert header == ["runs", "img/s each (mean)", "img/s together", "x one run", "peak MiB each"]
    assert [r[0] for r in rows] == ["1", "2"] and rows[0][3] == "1.00"

    assert "ss8-2x4d: ours-eager" in out.split("## Targets", 1)[1]
    assert "| total |" in out.split("## Time taken", 1)[1]
