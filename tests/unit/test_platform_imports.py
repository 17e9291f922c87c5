"""The API process stays small: the app, its routes and the worker's task module import no torch."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_api_and_the_worker_task_import_no_torch(tmp_path):
    code = ("import sys; from backend.api import create_app; from backend.settings import Settings; "
            f"create_app(Settings(home={str(tmp_path)!r}), dispatch=False); import worker.tasks; "
            "from backend.catalog import catalog; catalog(); "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
