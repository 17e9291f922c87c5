"""spec_key: runs that differ only by seed share it, and a field added to the spec later leaves the keys of the
specs written before it (stored runs, the papers' table cells) as they were."""


import pytest

from backend.store import spec_key
from tests.migration_files import load_migration
from worker.engine.spec import parse_spec

replica_batch_migration = load_migration


# Keys computed before `dataset.validation` existed (commit 25884e1), for specs that do not set it.
KEYS_BEFORE_VALIDATION = [
    ({"model": {"arch": "pyramidnet"}, "regularization": {"method": "shakedrop"}},
     "52c81948218d1f9b451bfd503626bc4de61b40bad05e28e23368b95fb1ad68ed"),
    ({"dataset": {"name": "digits"}, "model": {"arch": "shake_resnet", "depth": 8, "width": 16},
      "regularization": {"method": "shake_shake"}, "optim": {"epochs": 3, "batch_size": 64}, "seed": 4},
     "e74620466367a8ad940fabd7a9573fa0cb538db978aee893cbef69841efc3ac4"),
    ({"dataset": {"name": "synthetic", "train_size": 512}, "model": {"arch": "resnet", "depth": 8},
      "optim": {"epochs": 2}},
     "269fbc96837f294740eba15b19dfba07d9388993deb29f250025be223c4e6e4e"),
]


@pytest.mark.parametrize("spec, key", KEYS_BEFORE_VALIDATION)
def test_a_spec_without_validation_keeps_the_key_it_had_before(spec, key):
    # optim.replica_batch entered every key later (migration 0007 recomputed the stored ones); written as it
    # was stored before that field, the spec hashes to its key of before `validation`.
    migration = replica_batch_migration()
    resolved = parse_spec(spec).model_dump(mode="json")
    assert migration.spec_key(migration.without_replica_batch(resolved)) == key
    zero = parse_spec({**spec, "dataset": {**spec.get("dataset", {}), "validation": 0}})
    assert spec_key(zero) == spec_key(parse_spec(spec))


@pytest.mark.parametrize("spec, key", KEYS_BEFORE_VALIDATION)
def test_the_migration_keys_a_stored_spec_as_the_store_keys_it(spec, key):
    migration = replica_batch_migration()
    stored = migration.without_replica_batch(parse_spec(spec).model_dump(mode="json"))
    migrated = migration.with_whole_batch_groups(stored)
    assert migration.spec_key(migrated) == spec_key(parse_spec(migrated)) != key


@pytest.mark.parametrize("spec, key", KEYS_BEFORE_VALIDATION)
def test_a_validation_split_makes_another_spec(spec, key):
    dataset = {"name": "cifar10", **spec.get("dataset", {})}
    held_out = {**spec, "dataset": {**dataset, "validation": 100}}
    assert spec_key(parse_spec(held_out)) != key


def test_runs_of_one_split_differ_only_by_seed():
    spec = {"dataset": {"name": "digits", "validation": 300}, "model": {"arch": "resnet", "depth": 8}}
    assert spec_key(parse_spec({**spec, "seed": 1})) == spec_key(parse_spec({**spec, "seed": 2}))
    other = {**spec, "dataset": {"name": "digits", "validation": 200}}
    assert spec_key(parse_spec(other)) != spec_key(parse_spec(spec))
