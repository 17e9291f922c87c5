"""stored specs get optim.replica_batch = batch_size (their batch was one batch-norm group) and new spec keys

Runs stored before `optim.replica_batch` normalised over their whole batch: their specs say so now, and their
spec keys are recomputed from those specs, so that no old run matches a paper's cell whose spec splits the
batch into the papers' per-GPU groups. A search's base spec gets the field too, unless the search varies
the batch size (its proposals then get one group each, as before, from the engine's default).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The spec key as the store computed it when this migration was written (backend/store.py `spec_key`), kept
# here so that the migration does not change when the store does.
_KEY_NEUTRAL_DEFAULTS = {("dataset", "validation"): 0}


def spec_key(spec: dict[str, Any]) -> str:
    data = {k: v for k, v in spec.items() if k != "seed"}
    data = json.loads(json.dumps(data))
    for (section, field), neutral in _KEY_NEUTRAL_DEFAULTS.items():
        if data.get(section, {}).get(field) == neutral:
            del data[section][field]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def with_whole_batch_groups(spec: dict[str, Any]) -> dict[str, Any]:
    optim = spec.get("optim") or {}
    if "replica_batch" in optim or "batch_size" not in optim:
        return spec
    return {**spec, "optim": {**optim, "replica_batch": optim["batch_size"]}}


def without_replica_batch(spec: dict[str, Any]) -> dict[str, Any]:
    optim = {k: v for k, v in (spec.get("optim") or {}).items() if k != "replica_batch"}
    return {**spec, "optim": optim}


def _runs() -> sa.Table:
    return sa.table("runs", sa.column("id", sa.Integer), sa.column("spec", sa.JSON),
                    sa.column("spec_key", sa.String))


def _searches() -> sa.Table:
    return sa.table("searches", sa.column("id", sa.Integer), sa.column("spec", sa.JSON),
                    sa.column("space", sa.JSON))


def rewrite_specs(connection, change) -> int:
    """Apply `change` to every stored run spec (recomputing its key) and search base spec; the runs changed."""
    runs, searches = _runs(), _searches()
    changed = 0
    for row in connection.execute(sa.select(runs.c.id, runs.c.spec)).all():
        spec = change(row.spec)
        if spec != row.spec:
            connection.execute(sa.update(runs).where(runs.c.id == row.id)
                               .values(spec=spec, spec_key=spec_key(spec)))
            changed += 1
    for row in connection.execute(sa.select(searches.c.id, searches.c.spec, searches.c.space)).all():
        if "optim.batch_size" in (row.space or {}):
            continue
        spec = change(row.spec)
        if spec != row.spec:
            connection.execute(sa.update(searches).where(searches.c.id == row.id).values(spec=spec))
    return changed


def upgrade() -> None:
    rewrite_specs(op.get_bind(), with_whole_batch_groups)


def downgrade() -> None:
    rewrite_specs(op.get_bind(), without_replica_batch)
