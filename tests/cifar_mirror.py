"""A CIFAR mirror on 127.0.0.1 for the download tests: no internet, and torchvision's own download code.

The tiny files of tests/cifar_files.py (CIFAR's real on-disk format) are packed as the real archive is
(cifar-10-python.tar.gz holding cifar-10-batches-py/...), and served by an HTTP server of the test's own,
slowly if asked (so that progress can be watched). torchvision's expected URL, archive md5 and file md5s are
pointed at it: in this process by `trust(monkeypatch)`, and in the subprocesses a LiveSystem starts (the
worker's engine) by `subprocess_env()`, which puts tests/site_hooks/sitecustomize.py on PYTHONPATH with
the same values in a JSON file; it patches torchvision.datasets.cifar when that module is imported.

    with CifarMirror(tmp_path / "mirror") as mirror:
        mirror.trust(monkeypatch)
        download_cifar("cifar10", data_dir)
        assert mirror.fetches == 1
"""

from __future__ import annotations

import hashlib
import http.server
import json
import tarfile
import threading
import time
from pathlib import Path

from .cifar_files import write_cifar10, write_cifar100

ROOT = Path(__file__).resolve().parent.parent
SITE_HOOKS = ROOT / "tests" / "site_hooks"
PATCH_ENV = "SHAKELAB_TEST_CIFAR_PATCH"  # read by tests/site_hooks/sitecustomize.py


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class CifarMirror:
    """Serves one dataset's archive; `seconds` spreads the body over that long, in `chunks` pieces."""

    def __init__(self, folder: Path, name: str = "cifar10", *, per_file: int = 20, seconds: float = 0.0,
                 chunks: int = 20):
        from torchvision.datasets import CIFAR10, CIFAR100

        self.name, self.seconds, self.chunks = name, seconds, chunks
        self.cls = {"cifar10": CIFAR10, "cifar100": CIFAR100}[name]
        staging = Path(folder) / "staging"
        written = (write_cifar10 if name == "cifar10" else write_cifar100)(staging, per_file=per_file)
        self.written = written
        self.archive = Path(folder) / self.cls.filename
        with tarfile.open(self.archive, "w:gz") as tar:
            tar.add(staging / self.cls.base_folder, arcname=self.cls.base_folder)
        self.body = self.archive.read_bytes()
        self.expected = {
            "tgz_md5": _md5(self.archive),
            "train_list": [[n, _md5(written.path(n))] for n, _ in self.cls.train_list],
            "test_list": [[n, _md5(written.path(n))] for n, _ in self.cls.test_list],
            "meta": {**self.cls.meta, "md5": _md5(written.path(self.cls.meta["filename"]))},
        }
        self.patch_file = Path(folder) / "torchvision_patch.json"
        self.fetches = 0  # GETs of the archive
        self._server: http.server.ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------------------------------- serving

    def __enter__(self) -> CifarMirror:
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != f"/{mirror.cls.filename}":
                    self.send_error(404)
                    return
                mirror.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(mirror.body)))
                self.end_headers()
                step = -(-len(mirror.body) // mirror.chunks)
                for start in range(0, len(mirror.body), step):
                    self.wfile.write(mirror.body[start:start + step])
                    self.wfile.flush()
                    time.sleep(mirror.seconds / mirror.chunks)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.expected["url"] = f"http://127.0.0.1:{self._server.server_address[1]}/{self.cls.filename}"
        self.patch_file.write_text(json.dumps({self.cls.__name__: self.expected}))
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --------------------------------------------------------------------------------- trusting it

    def trust(self, monkeypatch) -> None:
        """In this process: torchvision fetches from here and expects the tiny files' md5 sums."""
        for attribute, value in self.expected.items():
            monkeypatch.setattr(self.cls, attribute, value)

    def subprocess_env(self) -> dict[str, str]:
        """For processes started with this environment (and their children): the same as `trust`."""
        return {"PYTHONPATH": f"{SITE_HOOKS}:{ROOT}", PATCH_ENV: str(self.patch_file)}
