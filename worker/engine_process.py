"""The engine in a child process: `python -m worker.engine train ... --events`, one JSON line per epoch
(and, while a missing dataset is fetched, download progress lines).

A subprocess, so that a crash, an out-of-memory kill or a cancel cannot take the worker down. The child
dies with its parent (PR_SET_PDEATHSIG), so a worker killed with SIGKILL leaves no orphan training on.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

log = logging.getLogger("shakelab.engine")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the stale heartbeat still hands the run to another worker
        pass


# A rank that dies makes torchrun restart every rank from the last checkpoint, this many times.
RANK_RESTARTS = 3


class EngineProcess:
    """`processes` > 1: one run on that many ranks under torchrun (`gpu` then lists as many GPUs, "0,1"), which
    restarts them all from the last checkpoint when one dies. The ranks sit in sessions of their own and die
    with torchrun's agent (worker/engine/distributed.py), so stopping the agent stops the run."""

    def __init__(self, spec_path: Path, run_dir: Path, *, data_dir: Path, gpu: str | None, download: bool = False,
                 processes: int = 1):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        launcher = [sys.executable]
        if processes > 1:
            # Restarting in place hangs or fails when the ranks share the agent's rendezvous store.
            env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] = "1"
            launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                         f"--max-restarts={RANK_RESTARTS}"]
        command = [*launcher, "-m", "worker.engine", "train", str(spec_path), "--out", str(run_dir),
                   "--data-dir", str(data_dir), "--events", "--no-progress", *(["--download"] if download else [])]
        # The latest {"event": "download", "dataset", "bytes", "total"} line: a missing CIFAR being fetched.
        self.download: dict | None = None
        # Its own session: a Ctrl-C meant for the worker reaches the engine only through the worker.
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env, start_new_session=True, preexec_fn=_die_with_parent)
        self._events: queue.Queue = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=50)
        self._readers = [threading.Thread(target=self._read_events, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_events(self) -> None:
        for line in self.process.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    self._stderr.append(line)
                    continue
                if event.get("event") == "download":
                    self.download = event
                else:
                    self._events.put(event)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            if line.strip():
                self._stderr.append(line.rstrip())
                log.info("engine %s: %s", self.process.pid, line.rstrip())

    def events(self, timeout: float) -> list[dict]:
        """The epochs finished since the last call, waiting up to `timeout` seconds for the first one."""
        out = []
        try:
            out.append(self._events.get(timeout=timeout))
            while True:
                out.append(self._events.get_nowait())
        except queue.Empty:
            return out

    def poll(self) -> int | None:
        return self.process.poll()

    def finish(self) -> list[dict]:
        """After the process exited: wait for its output to be read; the last events."""
        for reader in self._readers:
            reader.join(timeout=10)
        return self.events(timeout=0)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds. The checkpoint is written atomically, so at worst
        the epoch in progress is trained again on resume."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def error_text(self) -> str:
        """Why the engine ended badly: its own one-line error, else how it died, else its last output."""
        code = self.process.returncode
        for line in reversed(self._stderr):
            if line.startswith("error: "):
                return line.removeprefix("error: ")
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"the engine was killed by {name}{hint}"
        tail = "\n".join(list(self._stderr)[-15:])
        return f"the engine exited with code {code}" + (f":\n{tail}" if tail else "")
