"""/api/tables on SQLite and on PostgreSQL: cells matched to runs by spec (any seed, nothing else), their
statistics, reproduce (exactly the missing runs, once), the cost estimate, profiles' labels, exports, 404 and
422. Finished runs are made through the real store (create, claim, record epochs, finish), and one test fills
a table with tiny runs trained by a real worker."""

from __future__ import annotations

import csv
import io
import statistics
import threading
import time
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from scipy import stats as sps
from sqlalchemy import Engine, func, select

from backend import store
from backend.api import create_app
from backend.db import get_engine, session_scope
from backend.models import Experiment, Run
from backend.settings import Settings
from backend.tables import reproduce as reproduce_module
from backend.tables.cost import FORWARD_GFLOPS, TRAIN_SIZES, estimated_throughput, model_key
from backend.tables.data import PAPER_TABLES, VERIFICATION_MEANINGS
from backend.tables.profiles import PROFILES, table_specs
from backend.tables.reproduce import reproduce_table
from tests.live import LiveSystem
from worker.engine.spec import RunSpec, SpecError, parse_spec

T1 = "shake_shake_table1_cifar10"
ALPHA_BETA = "shakedrop_alpha_beta_sweep_cifar100"
LEVELS = "shakedrop_level_comparison_cifar100"
NASNET = "nasnet_a_cifar10"


@dataclass
class Lab:
    client: TestClient
    engine: Engine

    def cell_spec(self, table_id: str, cell_key: str, profile: str = "full", **seed) -> dict:
        [cell] = [c for c in table_specs(table_id, profile) if c.key == cell_key]
        return {**cell.spec.model_dump(mode="json"), **seed}

    def add_run(self, spec: dict | RunSpec, status: str = "succeeded", errors: tuple[float, ...] = (5.0,),
                images_per_second: float = 1000.0, worker: str = "test-host/gpu0", gpu: str | None = "0") -> int:
        """A run in `status`, through the store's own functions; `errors`: the test error of each epoch."""
        spec = spec if isinstance(spec, RunSpec) else parse_spec(spec)
        with session_scope(self.engine) as session:
            [run] = store.create_runs(session, [spec])
            run_id = run.id
        if status == "queued":
            return run_id
        if status == "cancelled":
            with session_scope(self.engine) as session:
                store.request_cancel(session, run_id)
            return run_id
        token = store.claim_run(self.engine, run_id, worker=worker, gpu=gpu)
        events = [{"epoch": i + 1, "train_loss": 1.0, "train_error": 20.0, "test_loss": 1.0, "test_error": e,
                   "lr": 0.1, "seconds": 1.0, "images_per_second": images_per_second} for i, e in enumerate(errors)]
        assert store.record_epochs(self.engine, run_id, token, events)
        if status != "running":
            assert store.finish_run(self.engine, run_id, token, status, error="boom" if status == "failed" else None)
        return run_id

    def runs(self) -> list[Run]:
        with session_scope(self.engine) as session:
            return list(session.scalars(select(Run).order_by(Run.id)))

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Run))

    def table(self, table_id: str, profile: str = "full") -> dict:
        r = self.client.get(f"/api/tables/{table_id}", params={"profile": profile})
        assert r.status_code == 200, r.text
        return r.json()

    def cell(self, table_id: str, cell_key: str, profile: str = "full") -> dict:
        return cells(self.table(table_id, profile))[cell_key]

    def reproduce(self, table_id: str, **body) -> dict:
        r = self.client.post(f"/api/tables/{table_id}/reproduce", json=body)
        assert r.status_code == 200, r.text
        return r.json()


def cells(table: dict) -> dict[str, dict]:
    return {c["key"]: c for row in table["rows"] for c in row["cells"] if c is not None}


def make_lab(tmp_path, url: str, **settings) -> Settings:
    return Settings(home=tmp_path, database_url=url, api_key=None, **settings)


@pytest.fixture(params=["sqlite", "postgres"])
def lab(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'shakelab.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres_url")
    settings = make_lab(tmp_path, url)
    # Its lifespan migrates the database.
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        yield Lab(client, get_engine(settings))


# ---------------------------------------------------------------------------------------------- listing

def test_the_list_shows_every_table_with_its_profiles_and_cells_by_status(lab):
    listed = lab.client.get("/api/tables").json()
    assert [t["id"] for t in listed] == list(PAPER_TABLES)
    t1 = listed[0]
    assert t1["dataset"] == "cifar10" and t1["verification"] == "V-code" and "Gastaldi" in t1["source"]
    assert [p["name"] for p in t1["profiles"]] == ["full", "budget", "smoke"]
    assert t1["summary"] == {"cells": 17, "done": 0, "running": 0, "queued": 0, "missing": 17}

    lab.add_run(lab.cell_spec(T1, "s-s-i:2x96d"))
    lab.add_run(lab.cell_spec(T1, "e-e:2x32d"), status="running")
    lab.add_run(lab.cell_spec(T1, "e-e:2x64d"), status="queued")
    assert lab.client.get("/api/tables").json()[0]["summary"] == \
        {"cells": 17, "done": 1, "running": 1, "queued": 1, "missing": 14}
    budget = lab.client.get("/api/tables", params={"profile": "budget"}).json()[0]
    assert budget["summary"]["missing"] == 17  # full runs are not budget runs


def test_a_table_has_its_columns_rows_and_empty_positions_as_null(lab):
    table = lab.table(T1)
    assert [c["label"] for c in table["columns"]] == ["26 2x32d", "26 2x64d", "26 2x96d", "26 2x112d"]
    assert table["profile"]["name"] == "full" and table["config"]["epochs"] == 1800
    e_s_b = next(r for r in table["rows"] if r["key"] == "e-s-b")
    assert [c is None for c in e_s_b["cells"]] == [False, True, True, True]  # '–' in the paper
    cell = e_s_b["cells"][0]
    assert (cell["key"], cell["reported"], cell["verification"], cell["status"]) == \
        ("e-s-b:2x32d", 4.44, "V-code", "missing")
    assert cell["spec"]["regularization"] == {"method": "shake_shake", "forward": "even", "backward": "shake",
                                              "level": "batch"}
    assert "seed" not in cell["spec"] and "Table 1" in cell["source"]
    assert cell["counts"] == {"succeeded": 0, "running": 0, "queued": 0, "failed": 0, "cancelled": 0}
    assert cell["reproduced"] is None


def test_unverified_and_unretrieved_numbers_are_labelled(lab):
    alpha_beta = cells(lab.table(ALPHA_BETA))
    assert alpha_beta["vanilla:error"]["verification"] == "UNVERIFIED"
    levels = cells(lab.table(LEVELS))
    assert (levels["image:error"]["reported"], levels["image:error"]["verification"]) == (None, "missing")


def test_every_table_says_what_its_verification_levels_mean(lab):
    for listed in lab.client.get("/api/tables").json():
        table = lab.table(listed["id"])
        assert listed["verification_levels"] == table["verification_levels"]
        assert list(table["verification_levels"]) == table["verification"].split(", ")
        used = {c["verification"] for c in cells(table).values()}
        assert set(table["verification_levels"]) == used
        assert all(table["verification_levels"][level] == VERIFICATION_MEANINGS[level] for level in used)


# ---------------------------------------------------------------------------------------------- presets

def test_every_preset_that_names_a_paper_result_is_that_cells_spec(lab):
    """Resolved as the API resolves any spec, a paper preset has its cell's spec key and its reported number."""
    presets = lab.client.get("/api/catalog").json()["presets"]
    naming = [p for p in presets if "paper" in p["label"]]
    assert {p["id"] for p in naming} >= {"shakedrop_pyramidnet272", "shakedrop_pyramidnet110", "nasnet_a_6_32"}
    for preset in presets:
        assert ("table" in preset) == (preset in naming), preset["id"]
    for preset in naming:
        resolved = lab.client.post("/api/specs/resolve", json={"spec": preset["spec"]})
        assert resolved.status_code == 200, resolved.text
        table, key = preset["table"]["id"], preset["table"]["cell"]
        [cell] = [c for c in table_specs(table, "full") if c.key == key]
        assert resolved.json()["spec_key"] == cell.spec_key, preset["id"]
        assert resolved.json()["spec"] == preset["resolved"]
        reported = lab.cell(table, key)["reported"]
        assert f"paper {reported:.2f}%" in preset["label"]


def test_the_pyramidnet272_preset_trains_the_2_31_cell_random_erasing_and_batch_gate_included(lab):
    preset = next(p for p in lab.client.get("/api/catalog").json()["presets"] if p["id"] == "shakedrop_pyramidnet272")
    assert preset["resolved"]["augment"]["random_erasing"] == 0.5
    assert preset["resolved"]["regularization"]["gate_level"] == "batch"
    assert "Cutout" in next(p for p in lab.client.get("/api/catalog").json()["presets"]
                            if p["id"] == "nasnet_a_6_32")["label"]


def test_a_run_launched_from_a_paper_preset_fills_its_cell(lab):
    preset = next(p for p in lab.client.get("/api/catalog").json()["presets"] if p["id"] == "shakedrop_pyramidnet110")
    assert lab.client.post("/api/runs", json={"spec": preset["spec"]}).status_code == 201
    assert lab.cell(preset["table"]["id"], preset["table"]["cell"])["counts"]["queued"] == 1


# --------------------------------------------------------------------------------------------- matching

def test_a_run_of_the_cells_spec_with_another_seed_counts(lab):
    run_id = lab.add_run(lab.cell_spec(T1, "s-s-i:2x96d", seed=7), errors=(3.4, 2.5, 2.9))
    cell = lab.cell(T1, "s-s-i:2x96d")
    assert cell["status"] == "done" and cell["counts"]["succeeded"] == 1
    r = cell["reproduced"]
    # the last epoch's error, not the best
    assert (r["mean"], r["min"], r["max"], r["count"], r["run_ids"]) == (2.9, 2.9, 2.9, 1, [run_id])
    assert r["std"] is None and r["within_spread"] is None  # one run: its spread is unknown
    assert r["diff"] == pytest.approx(2.9 - 2.86)


def leaves(spec: dict, prefix: tuple = ()):
    for key, value in spec.items():
        if isinstance(value, dict):
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def with_value(spec: dict, path: tuple, value) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in spec.items()}
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


STRINGS = ["cifar10", "cifar100", "synthetic", "digits", "batch", "image", "channel", "pixel", "shake", "even",
           "keep", "cosine", "multistep", "constant", "auto", "fp32", "bf16"]


def alternatives(value) -> list:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + d for d in (1, 2, 6, 9, -1, -6)]
    if isinstance(value, float):
        return [value * 0.5, value + 0.1, 0.3, 1.0]
    if isinstance(value, str):
        return [s for s in STRINGS if s != value]
    if isinstance(value, list):
        return [[*value[:-1], value[-1] + 0.05], [*value[:-1], value[-1] - 0.5], [value[0] - 0.5, *value[1:]]]
    return [5.0, 64, "image", "batch"]  # None


def one_field_variants(spec: dict) -> dict[str, dict]:
    """For every field of the spec but its seed: the spec with that one field changed to another valid value.
    Fields that cannot change alone (the union tags, synthetic-only sizes, the schedule's kind with its
    milestones, the batch size with its replica groups) change with the one field they are tied to."""
    optim = spec["optim"]
    tied = {
        "model.arch": {**spec, "model": {"arch": "resnet", "depth": 110, "bottleneck": False}},
        "regularization.method": {**spec, "regularization": {"method": "stochastic_depth", "p_last": 0.5}},
        "dataset.train_size": {**spec, "dataset": {"name": "synthetic", "train_size": 2048}},
        "dataset.test_size": {**spec, "dataset": {"name": "synthetic", "test_size": 512}},
        "dataset.validation": {**spec, "dataset": {**spec["dataset"], "validation": 5000}},
        "schedule.kind": {**spec, "schedule": {**spec["schedule"], "kind": "cosine", "milestones": []}},
        # the batch stays a multiple of replica_batch
        "optim.batch_size": {**spec, "optim": {**optim, "batch_size": 2 * optim["batch_size"]}},
        "optim.replica_batch": {**spec, "optim": {**optim, "replica_batch": optim["replica_batch"] // 2}},
    }
    variants = {}
    for path, value in leaves(spec):
        name = ".".join(path)
        if name == "seed":
            continue
        if name in tied:
            variants[name] = tied[name]
            continue
        for alternative in alternatives(value):
            if alternative == value:
                continue
            try:
                parse_spec(with_value(spec, path, alternative))
            except SpecError:
                continue
            variants[name] = with_value(spec, path, alternative)
            break
        assert name in variants, f"no other valid value found for {name}"
    return variants


def test_a_run_that_differs_in_any_other_field_does_not_count(lab):
    # The Pixel cell: ShakeDrop with every one of its fields set, a multistep schedule, CIFAR-100.
    spec = lab.cell_spec(LEVELS, "pixel:error")
    variants = one_field_variants(spec)
    assert len(variants) == sum(1 for _ in leaves(spec)) - 1  # every field but the seed
    for variant in variants.values():
        lab.add_run(variant, errors=(1.0,))
    match = lab.add_run({**spec, "seed": 3}, errors=(16.0,))
    cell = lab.cell(LEVELS, "pixel:error")
    assert cell["reproduced"]["run_ids"] == [match]
    assert cell["counts"] == {"succeeded": 1, "running": 0, "queued": 0, "failed": 0, "cancelled": 0}


def test_matching_is_by_spec_not_by_name_or_tag(lab):
    spec = parse_spec(lab.cell_spec(NASNET, "n6-f32:error"))
    with session_scope(lab.engine) as session:
        store.create_runs(session, [spec], name="anything", tags=["unrelated"])
        other = parse_spec({**spec.model_dump(mode="json"), "optim": {**spec.optim.model_dump(), "lr": 0.05}})
        store.create_runs(session, [other], name=f"{NASNET} n6-f32:error", tags=[f"table:{NASNET}"])
    assert lab.cell(NASNET, "n6-f32:error")["counts"]["queued"] == 1


# ------------------------------------------------------------------------------------------- statistics

def test_statistics_are_over_succeeded_runs_last_test_error(lab):
    spec = lab.cell_spec(T1, "s-s-i:2x32d")  # reported 3.55
    ids = [lab.add_run({**spec, "seed": s}, errors=(2.0, e)) for s, e in enumerate((3.5, 3.6, 3.7))]
    lab.add_run({**spec, "seed": 3}, status="failed", errors=(9.0,))
    lab.add_run({**spec, "seed": 4}, status="running", errors=(9.0,))
    lab.add_run({**spec, "seed": 5}, status="queued")
    lab.add_run({**spec, "seed": 6}, status="cancelled")
    cell = lab.cell(T1, "s-s-i:2x32d")
    assert cell["counts"] == {"succeeded": 3, "running": 1, "queued": 1, "failed": 1, "cancelled": 1}
    assert cell["status"] == "running"  # work under way shows first
    r = cell["reproduced"]
    assert r["run_ids"] == ids and r["count"] == 3
    assert r["mean"] == pytest.approx(3.6) and r["std"] == pytest.approx(statistics.stdev([3.5, 3.6, 3.7]))
    assert (r["min"], r["max"]) == (3.5, 3.7)
    assert r["diff"] == pytest.approx(0.05)
    assert r["within_spread"] is True  # |3.60 - 3.55| <= max(std 0.1, half range 0.1)
    assert (r["profile"], r["label"]) == ("full", PROFILES["full"].label)


def test_a_mean_outside_the_seeds_spread_is_flagged(lab):
    spec = lab.cell_spec(T1, "e-e:2x32d")  # reported 4.27
    for seed, error in enumerate((3.5, 3.6)):
        lab.add_run({**spec, "seed": seed}, errors=(error,))
    r = lab.cell(T1, "e-e:2x32d")["reproduced"]
    assert r["diff"] == pytest.approx(3.55 - 4.27) and r["within_spread"] is False


def test_a_cell_without_a_reported_number_still_shows_its_runs(lab):
    spec = lab.cell_spec(LEVELS, "image:error")
    for seed in (0, 1):
        lab.add_run({**spec, "seed": seed}, errors=(16.0 + seed,))
    r = lab.cell(LEVELS, "image:error")["reproduced"]
    assert r["mean"] == 16.5 and r["diff"] is None and r["within_spread"] is None


def test_cell_status_moves_from_missing_to_queued_running_and_done(lab):
    key = "s-e-i:2x64d"
    assert lab.cell(T1, key)["status"] == "missing"
    [run_id] = lab.reproduce(T1, seeds=1, cells=[key])["created_run_ids"]
    assert lab.cell(T1, key)["status"] == "queued"
    token = store.claim_run(lab.engine, run_id, worker="w", gpu=None)
    assert lab.cell(T1, key)["status"] == "running"
    store.record_epochs(lab.engine, run_id, token, [{"epoch": 1, "train_loss": 1, "train_error": 1, "test_loss": 1,
                                                     "test_error": 3.3, "lr": 0.1, "seconds": 1,
                                                     "images_per_second": 1}])
    store.finish_run(lab.engine, run_id, token, "succeeded")
    cell = lab.cell(T1, key)
    assert cell["status"] == "done" and cell["reproduced"]["mean"] == 3.3


# -------------------------------------------------------------------------------------------- reproduce

def test_reproduce_queues_exactly_the_missing_runs_and_a_second_call_none(lab):
    spec = {key: lab.cell_spec(ALPHA_BETA, key) for key in PAPER_TABLES[ALPHA_BETA].cell_keys}
    vanilla, resdrop, batch = spec
    lab.add_run({**spec[vanilla], "seed": 0})                          # done: seed 0 taken
    lab.add_run({**spec[vanilla], "seed": 1}, status="queued")         # queued: seed 1 taken
    lab.add_run({**spec[resdrop], "seed": 2}, status="failed")         # a failure does not block a retry
    lab.add_run({**spec[resdrop], "seed": 1}, status="cancelled")      # nor does a cancel
    lab.add_run({**spec[batch], "seed": 5})                            # a seed outside 0..2 takes none of them
    lab.add_run({**spec[batch], "seed": 0, "optim": {**spec[batch]["optim"], "epochs": 10}})  # another spec
    before = lab.count()

    result = lab.reproduce(ALPHA_BETA, seeds=3)
    assert [(c["key"], c["seeds_missing"]) for c in result["cells"]] == \
        [(vanilla, [2]), (resdrop, [0, 1, 2]), (batch, [0, 1, 2])]
    assert (result["runs"], result["epochs"], result["dry_run"]) == (7, 7 * 300, False)
    created = [r for r in lab.runs() if r.id in result["created_run_ids"]]
    assert len(created) == 7 and lab.count() == before + 7
    keys = {k: parse_spec(v).model_dump(mode="json") for k, v in spec.items()}
    assert sorted((r.spec_key, r.seed) for r in created) == sorted(
        [(store.spec_key(parse_spec(keys[vanilla])), 2)]
        + [(store.spec_key(parse_spec(keys[k])), s) for k in (resdrop, batch) for s in (0, 1, 2)])
    for run in created:
        assert run.status == "queued" and run.epochs == 300
        assert set(run.tag_names) == {f"table:{ALPHA_BETA}", "profile:full"}
        assert run.experiment_id == result["experiment_id"]
    with session_scope(lab.engine) as session:
        assert len(session.get(Experiment, result["experiment_id"]).runs) == 7

    again = lab.reproduce(ALPHA_BETA, seeds=3)
    assert (again["runs"], again["created_run_ids"], again["experiment_id"]) == (0, [], None)
    assert all(c["seeds_missing"] == [] for c in again["cells"])
    assert lab.count() == before + 7


def test_a_cell_shared_by_two_tables_is_queued_once(lab):
    first = lab.reproduce(LEVELS, seeds=2)
    assert first["runs"] == 8
    second = lab.reproduce(ALPHA_BETA, seeds=2)  # its Batch row is the level table's Batch row
    assert second["runs"] == 4
    assert {c["key"]: c["seeds_missing"] for c in second["cells"]}["a-1-1_b-0-1_batch:error"] == []


def test_reproduce_only_the_chosen_cells(lab):
    result = lab.reproduce(T1, seeds=2, cells=["s-s-i:2x96d"])
    assert [c["key"] for c in result["cells"]] == ["s-s-i:2x96d"] and result["runs"] == 2
    assert lab.cell(T1, "s-s-i:2x96d")["counts"]["queued"] == 2 and lab.cell(T1, "e-e:2x96d")["status"] == "missing"


def test_a_dry_run_says_what_it_would_queue_and_creates_nothing(lab):
    plan = lab.reproduce(T1, seeds=2, dry_run=True)
    assert lab.count() == 0 and plan["created_run_ids"] == [] and plan["dry_run"] is True
    assert (plan["runs"], plan["epochs"]) == (34, 34 * 1800)
    specs = [c.spec for c in table_specs(T1, "full")]
    expected = 2 * sum(s.optim.epochs * 50_000 / estimated_throughput(s).images_per_second / 3600 for s in specs)
    assert plan["gpu_hours"] == pytest.approx(expected)
    assert {s["source"] for s in plan["estimate_sources"]} == {"estimate"}
    assert sum(s["runs"] for s in plan["estimate_sources"]) == 34
    assert all("not measured" in s["basis"] for s in plan["estimate_sources"])
    real = lab.reproduce(T1, seeds=2)
    assert (real["runs"], real["epochs"], real["gpu_hours"]) == (plan["runs"], plan["epochs"], plan["gpu_hours"])
    assert len(real["created_run_ids"]) == 34


def nasnet_hours(spec: RunSpec, images_per_second: float) -> float:
    return spec.optim.epochs * TRAIN_SIZES["cifar10"] / images_per_second / 3600


def test_without_finished_runs_there_is_no_local_time_and_the_h100_figure_is_an_estimate(lab):
    lab.add_run(lab.cell_spec(NASNET, "n6-f32:error"), status="running", images_per_second=5000.0)
    plan = lab.reproduce(NASNET, seeds=1, dry_run=True)
    local = plan["local"]
    assert (local["hours"], local["wall_hours"], local["rates"], local["measured_run_ids"]) == (None, None, [], [])
    assert local["runs_without_rate"] == plan["runs"] == 2  # the running (6, 32) run holds its seed
    assert (local["device"], local["workers"]["alive"]) == ("none", [])
    assert {s["source"] for s in plan["estimate_sources"]} == {"estimate"} and plan["gpu_hours"] > 0


def test_the_local_time_uses_finished_runs_of_the_same_model_and_batch_and_scales_others_by_flops(lab):
    spec = lab.cell_spec(NASNET, "n6-f32:error")
    other_epochs = {**spec, "optim": {**spec["optim"], "epochs": 7}}  # same model and batch, another spec
    same = [lab.add_run(other_epochs, images_per_second=rate) for rate in (1000.0, 3000.0, 2000.0)]
    batch_64 = lab.add_run({**spec, "optim": {**spec["optim"], "batch_size": 64}}, images_per_second=99_999.0)
    lab.add_run({**spec, "model": {**spec["model"], "filters": 36}}, images_per_second=99_999.0)  # no FLOPs figure
    lab.add_run(other_epochs, status="running", images_per_second=99_999.0)  # not finished
    lab.add_run(other_epochs, status="failed", images_per_second=99_999.0)

    plan = lab.reproduce(NASNET, seeds=1, dry_run=True)
    local = plan["local"]
    rates = {(r["model"]["cells"], r["model"]["filters"]): r for r in local["rates"]}
    small = rates[(6, 32)]
    assert (small["method"], small["images_per_second"], small["runs"]) == ("same model", 2000.0, 2)
    assert sorted(small["measured_run_ids"]) == sorted(same)
    small_gflops = FORWARD_GFLOPS[model_key(parse_spec(spec))]
    big = next(c.spec for c in table_specs(NASNET, "full") if c.key == "n7-f96-cutout:error")
    scaled = rates[(7, 96)]
    speed = statistics.median([1000.0, 2000.0, 3000.0, 99_999.0]) * 3 * small_gflops  # training FLOP/s
    assert scaled["method"] == "scaled by FLOPs"
    assert scaled["images_per_second"] == pytest.approx(speed / (3 * FORWARD_GFLOPS[model_key(big)]))
    assert sorted(scaled["measured_run_ids"]) == sorted([*same, batch_64])
    small_spec = next(c.spec for c in table_specs(NASNET, "full") if c.key == "n6-f32:error")
    assert local["hours"] == pytest.approx(nasnet_hours(small_spec, 2000.0) + nasnet_hours(small_spec, 2000.0)
                                           + nasnet_hours(big, scaled["images_per_second"]))
    assert local["runs_without_rate"] == 0
    assert local["measured_on"] == ["test-host/gpu0 (GPU 0)"] and local["on_workers_alive"] is False


def test_the_local_time_says_when_the_workers_are_cpus_and_uses_their_runs(lab):
    spec = lab.cell_spec(NASNET, "n6-f32:error")
    store.worker_seen(lab.engine, "cpu-box#12", gpu=None, slots=2)
    lab.add_run({**spec, "seed": 5}, images_per_second=99_999.0)  # on test-host/gpu0, which is not alive
    on_cpu = lab.add_run({**spec, "seed": 6}, images_per_second=40.0, worker="cpu-box", gpu=None)

    plan = lab.reproduce(NASNET, seeds=1, dry_run=True)
    local = plan["local"]
    assert local["device"] == "cpu"
    assert local["workers"] == {"alive": ["cpu-box#12"], "gpu": [], "cpu": ["cpu-box#12"], "slots": 2}
    assert (local["measured_run_ids"], local["measured_on"], local["on_workers_alive"]) == \
        ([on_cpu], ["cpu-box (CPU)"], True)
    assert {r["images_per_second"] for r in local["rates"] if r["method"] == "same model"} == {40.0}
    assert local["wall_hours"] == pytest.approx(local["hours"] / 2)

    store.worker_seen(lab.engine, "gpu-box/gpu0#7", gpu="0", slots=1)
    assert lab.reproduce(NASNET, seeds=1, dry_run=True)["local"]["device"] == "cpu and gpu"


def test_concurrent_reproductions_queue_each_run_once(lab, monkeypatch):
    taken_seeds = reproduce_module._taken_seeds

    def slow_taken_seeds(session, keys):  # widen the window between reading what exists and inserting
        seen = taken_seeds(session, keys)
        time.sleep(0.5)
        return seen

    monkeypatch.setattr(reproduce_module, "_taken_seeds", slow_taken_seeds)
    table, profile = PAPER_TABLES[NASNET], PROFILES["full"]
    start = threading.Barrier(2)
    errors = []

    def click():
        try:
            start.wait()
            with session_scope(lab.engine) as session:
                reproduce_table(session, table, profile, seeds=2)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted((r.spec_key, r.seed) for r in lab.runs()) == sorted(
        {(c.spec_key, s) for c in table_specs(NASNET, "full") for s in (0, 1)})


# --------------------------------------------------------------------------------------------- profiles

def test_budget_runs_carry_their_label_and_never_count_as_the_papers(lab):
    result = lab.reproduce(NASNET, seeds=2, profile="budget", cells=["n6-f32:error"])
    assert result["profile"] == "budget" and result["profile_label"] == PROFILES["budget"].label
    runs = [r for r in lab.runs() if r.id in result["created_run_ids"]]
    assert [r.epochs for r in runs] == [100, 100]  # 600 / 6
    assert all("profile:budget" in r.tag_names for r in runs)
    for run in runs:
        token = store.claim_run(lab.engine, run.id, worker="w", gpu=None)
        store.record_epochs(lab.engine, run.id, token, [{"epoch": 1, "train_loss": 1, "train_error": 1,
                                                         "test_loss": 1, "test_error": 4.0 + run.seed / 10,
                                                         "lr": 0.1, "seconds": 1, "images_per_second": 1}])
        store.finish_run(lab.engine, run.id, token, "succeeded")

    budget = lab.table(NASNET, "budget")
    assert budget["profile"]["name"] == "budget" and "not the paper's setting" in budget["profile"]["label"]
    r = cells(budget)["n6-f32:error"]["reproduced"]
    assert (r["profile"], r["label"], r["count"]) == ("budget", PROFILES["budget"].label, 2)
    assert cells(budget)["n6-f32:error"]["spec"]["optim"]["epochs"] == 100
    assert cells(lab.table(NASNET))["n6-f32:error"]["reproduced"] is None  # not under full
    assert lab.client.get("/api/tables", params={"profile": "budget"}).json()[-1]["summary"]["done"] == 1

    exported = lab.client.get(f"/api/tables/{NASNET}/export", params={"format": "csv", "profile": "budget"}).text
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows and all(row["profile_label"] == PROFILES["budget"].label for row in rows)
    assert next(row for row in rows if row["cell"] == "n6-f32:error")["n"] == "2"
    for fmt in ("markdown", "latex"):
        text = lab.client.get(f"/api/tables/{NASNET}/export", params={"format": fmt, "profile": "budget"}).text
        assert "reproduced [budget]" in text and "not the paper's setting" in text


def test_smoke_numbers_are_not_compared_with_the_papers(lab):
    spec = lab.cell_spec(NASNET, "n6-f32:error", profile="smoke")
    for seed in (0, 1):
        lab.add_run({**spec, "seed": seed}, errors=(50.0 + seed,))
    r = cells(lab.table(NASNET, "smoke"))["n6-f32:error"]["reproduced"]
    assert r["count"] == 2 and r["profile"] == "smoke" and "not a reproduction" in r["label"]
    assert r["diff"] is None and r["within_spread"] is None


def test_smoke_runs_of_cells_that_differ_only_by_dataset_are_shared(lab):
    result = lab.reproduce("shakedrop_final_results", seeds=1, profile="smoke")
    assert result["runs"] == 1 and [c["seeds_missing"] for c in result["cells"]] == [[0], [0]]


# ----------------------------------------------------------------------------------------------- export

def test_csv_export_has_a_line_per_cell_with_reported_and_reproduced(lab):
    spec = lab.cell_spec(T1, "s-s-i:2x32d")
    for seed, error in enumerate((3.5, 3.7)):
        lab.add_run({**spec, "seed": seed}, errors=(error,))
    lab.add_run({**lab.cell_spec(T1, "s-s-i:2x64d"), "seed": 0}, errors=(3.4,))
    r = lab.client.get(f"/api/tables/{T1}/export", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 17 and {row["profile"] for row in rows} == {"full"}
    ssi = next(row for row in rows if row["cell"] == "s-s-i:2x32d")
    assert (ssi["reported"], ssi["verification"], ssi["mean"], ssi["n"], ssi["status"]) == \
        ("3.55", "V-code", "3.6000", "2", "done")
    assert ssi["std"] == f"{statistics.stdev([3.5, 3.7]):.4f}" and ssi["within_spread"] == "true"
    assert ssi["profile_label"] == PROFILES["full"].label
    # The 95% interval (Student's t, 1 degree of freedom) and the paper's 3.55 against it.
    sem = statistics.stdev([3.5, 3.7]) / 2**0.5
    low, high = sps.t.interval(0.95, 1, loc=3.6, scale=sem)
    assert (ssi["sem"], ssi["ci95_low"], ssi["ci95_high"]) == (f"{sem:.4f}", f"{low:.4f}", f"{high:.4f}")
    assert ssi["paper_inside_ci95"] == "true"
    assert ssi["paper_p_value"] == f"{sps.ttest_1samp([3.5, 3.7], 3.55).pvalue:.4g}"
    assert ssi["verdict"] == ("consistent with the paper: 3.55 lies inside our 95% interval [2.33, 4.87] "
                              "(mean 3.60, n = 2)")
    one = next(row for row in rows if row["cell"] == "s-s-i:2x64d")
    assert (one["n"], one["mean"], one["sem"], one["ci95_low"], one["paper_inside_ci95"], one["verdict"]) == \
        ("1", "3.4000", "", "", "", "one run: no interval")


def test_markdown_and_latex_exports_put_reproduced_beside_reported(lab):
    spec = lab.cell_spec(T1, "s-s-i:2x32d")
    for seed, error in enumerate((3.5, 3.7)):
        lab.add_run({**spec, "seed": seed}, errors=(error,))
    markdown = lab.client.get(f"/api/tables/{T1}/export", params={"format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    lines = markdown.text.splitlines()
    header = next(line for line in lines if line.startswith("|  |"))
    assert "26 2x32d reported | 26 2x32d reproduced [full]" in header
    # mean ± the 95% interval's half-width: t(0.975, 1 df) 12.706 x std 0.1414 / sqrt(2) = 1.27
    assert "| Shake-Shake-Image | 3.55 | 3.60 ± 1.27 (n=2) | 2.98 |  | 2.86 |  | 2.82 |  |" in lines
    assert "| Even-Shake-Batch | 4.44 |  | – | – | – | – | – | – |" in lines

    latex = lab.client.get(f"/api/tables/{T1}/export", params={"format": "latex"}).text
    assert r"\begin{tabular}{l cc cc cc cc}" in latex and r"\multicolumn{2}{c}{26 2x32d}" in latex
    assert r"Shake-Shake-Image & 3.55 & 3.60 $\pm$ 1.27 (n=2) & 2.98 &  & 2.86 &  & 2.82 &  \\" in latex

    alpha_beta = lab.client.get(f"/api/tables/{ALPHA_BETA}/export", params={"format": "markdown"}).text
    assert "18.01 (UNVERIFIED)" in alpha_beta
    assert r"18.01$^\dagger$" in lab.client.get(f"/api/tables/{ALPHA_BETA}/export",
                                                params={"format": "latex"}).text

    # A cell with one run: no interval, said plainly.
    lab.add_run({**lab.cell_spec(T1, "s-s-i:2x64d"), "seed": 0}, errors=(3.4,))
    for fmt in ("markdown", "latex"):
        text = lab.client.get(f"/api/tables/{T1}/export", params={"format": fmt}).text
        assert "3.40 (n=1, no interval)" in text, fmt


def test_exports_round_a_tie_as_the_page_does(lab):
    """Two runs at 78.0 and 78.25: mean 78.125, which Python's own format would print as 78.12."""
    spec = lab.cell_spec(T1, "s-s-i:2x32d")
    for seed, error in enumerate((78.0, 78.25)):
        lab.add_run({**spec, "seed": seed}, errors=(error,))
    assert lab.cell(T1, "s-s-i:2x32d")["reproduced"]["mean"] == 78.125 and f"{78.125:.2f}" == "78.12"
    markdown = lab.client.get(f"/api/tables/{T1}/export", params={"format": "markdown"}).text
    assert "| 3.55 | 78.13 ± 1.59 (n=2) |" in markdown  # 12.706 x 0.125
    latex = lab.client.get(f"/api/tables/{T1}/export", params={"format": "latex"}).text
    assert r"& 3.55 & 78.13 $\pm$ 1.59 (n=2) &" in latex
    rows = csv.DictReader(io.StringIO(lab.client.get(f"/api/tables/{T1}/export", params={"format": "csv"}).text))
    ssi = next(row for row in rows if row["cell"] == "s-s-i:2x32d")
    assert (ssi["mean"], ssi["min"], ssi["max"], ssi["diff"]) == ("78.1250", "78.0000", "78.2500", "74.5750")


# ----------------------------------------------------------------------------------- notes and settings

def test_notes_and_settings_are_the_papers_under_full(lab):
    table = lab.table(LEVELS)
    assert table["config"] == PAPER_TABLES[LEVELS].config and table["notes"] == list(PAPER_TABLES[LEVELS].notes)


def test_notes_and_settings_say_what_the_budget_profile_trains(lab):
    table = lab.table(LEVELS, "budget")
    config = table["config"]
    assert config["profile"] == PROFILES["budget"].label
    assert config["epochs"] == "50 under profile budget (the paper: 300)"
    assert config["schedule"].startswith("multistep: lr x 0.1 at epochs 25 and 37.5 of 50 under profile budget")
    assert config["batch_size"] == 128 and config["optimizer"] == PAPER_TABLES[LEVELS].config["optimizer"]
    assert table["notes"][0].startswith(f"Profile {PROFILES['budget'].label}.")
    assert table["notes"][1:] == list(PAPER_TABLES[LEVELS].notes)


def test_notes_and_settings_say_what_the_smoke_profile_trains(lab):
    config = lab.table(T1, "smoke")["config"]
    assert config["dataset"] == "synthetic, 64 training and 32 test images under profile smoke (the paper: cifar10)"
    assert config["epochs"] == "2 under profile smoke (the paper: 1800)"
    assert config["batch_size"] == "32 under profile smoke (the paper: 128)"
    assert config["replica_batch"] == "16 under profile smoke (the paper: 64)"  # two groups, as the paper's
    smoke_widths = {c.spec.model.width for c in table_specs(T1, "smoke")}
    assert all(f"shake_resnet depth 8 width {w}" in config["model"] for w in smoke_widths)
    assert config["model"].endswith(f"(the paper: {PAPER_TABLES[T1].config['model']})")
    assert config["lr"] == 0.2  # what the profile keeps reads as the paper's


# ------------------------------------------------------------------------------------------ 404 and 422

def test_an_unknown_table_is_404(lab):
    for r in (lab.client.get("/api/tables/nope"), lab.client.get("/api/tables/nope/export"),
              lab.client.post("/api/tables/nope/reproduce", json={"seeds": 1})):
        assert r.status_code == 404 and "nope" in r.json()["detail"]


@pytest.mark.parametrize("method, path, params, body, field", [
    ("get", f"/api/tables/{T1}", {"profile": "cheap"}, None, "profile"),
    ("get", "/api/tables", {"profile": "cheap"}, None, "profile"),
    ("get", f"/api/tables/{T1}/export", {"format": "pdf"}, None, "format"),
    ("get", f"/api/tables/{T1}/export", {"profile": "cheap"}, None, "profile"),
    ("post", f"/api/tables/{T1}/reproduce", None, {"profile": "cheap"}, "profile"),
    ("post", f"/api/tables/{T1}/reproduce", None, {"seeds": 0}, "seeds"),
    ("post", f"/api/tables/{T1}/reproduce", None, {"seeds": 1, "cells": ["s-s-i:2x96d", "x:y"]}, "cells"),
    ("post", f"/api/tables/{T1}/reproduce", None, {"seeds": 1, "epochs": 3}, "epochs"),
])
def test_a_bad_profile_format_or_body_is_422_naming_the_field(lab, method, path, params, body, field):
    r = lab.client.request(method.upper(), path, params=params, json=body)
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["detail"]] == [field]
    assert lab.count() == 0


def test_reproduce_needs_the_api_key_except_for_a_dry_run(tmp_path):
    settings = make_lab(tmp_path, f"sqlite:///{tmp_path / 'keyed.db'}").model_copy(update={"api_key": "k3y"})
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        path = f"/api/tables/{NASNET}/reproduce"
        assert client.post(path, json={"seeds": 1}).status_code == 401
        assert client.post(path, json={"seeds": 1}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.post(path, json={"seeds": 1, "dry_run": True}).json()["runs"] == 3
        ok = client.post(path, json={"seeds": 1}, headers={"Authorization": "Bearer k3y"})
        assert ok.status_code == 200 and len(ok.json()["created_run_ids"]) == 3


# ------------------------------------------------------------------------------------------- live system

@pytest.mark.slow
def test_a_worker_fills_a_table_with_smoke_runs(tmp_path):
    with LiveSystem(tmp_path) as system:
        system.start_worker()
        result = system.post(f"/api/tables/{ALPHA_BETA}/reproduce", json={"seeds": 1, "profile": "smoke"}).json()
        assert result["runs"] == 3
        for run_id in result["created_run_ids"]:
            system.wait_for_status(run_id, "succeeded", "failed", timeout=180)
        table = system.get(f"/api/tables/{ALPHA_BETA}", params={"profile": "smoke"}).json()
        for cell in cells(table).values():
            assert cell["status"] == "done", cell
            r = cell["reproduced"]
            assert r["count"] == 1 and 0 <= r["mean"] <= 100 and r["label"] == PROFILES["smoke"].label
