"""A migration file of migrations/versions as a module, for tests that call its functions directly."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"
REPLICA_BATCH = "0007_replica_batch.py"


def load_migration(filename: str = REPLICA_BATCH) -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(f"migration_{filename.split('_')[0]}", VERSIONS / filename)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module
