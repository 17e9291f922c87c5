"""The REST API on SQLite + embedded broker and on PostgreSQL + Redis: runs, experiments, 422s, 401, 404."""

from __future__ import annotations

import pytest

from backend.models import Metric, Run
from tests.live import TINY_SPEC

PYRAMIDNET_272 = {"model": {"arch": "pyramidnet", "depth": 272, "alpha": 200},
                  "regularization": {"method": "shakedrop"}}


def test_health_reports_database_and_broker_up(platform):
    r = platform.client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["database"], body["broker"]) == ("ok", "up", "up")
    assert body["database_url"].split(":")[0] in ("sqlite", "postgresql+psycopg")


def test_health_never_shows_a_password():
    from backend.api.routes.health import _public_url

    shown = _public_url("postgresql+psycopg://shakelab:hunter2@db:5432/shakelab")
    assert "hunter2" not in shown and "db:5432/shakelab" in shown


def test_create_run_stores_the_resolved_spec_queued(platform):
    r = platform.client.post("/api/runs", json={"spec": PYRAMIDNET_272, "name": "pn272", "tags": ["paper", "c10"],
                                                "notes": "headline run"})
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "queued" and run["name"] == "pn272" and run["tags"] == ["c10", "paper"]
    # the papers' defaults are filled in and stored: 1800 epochs of cosine annealing, batch 128
    assert run["spec"]["optim"]["epochs"] == 1800 and run["spec"]["schedule"]["kind"] == "cosine"
    assert (run["arch"], run["method"], run["dataset"], run["epochs"], run["epochs_done"]) == \
        ("pyramidnet", "shakedrop", "cifar10", 1800, 0)
    assert platform.client.get(f"/api/runs/{run['id']}").json() == run
    metrics = platform.client.get(f"/api/runs/{run['id']}/metrics").json()
    assert metrics["epoch"] == [] and metrics["status"] == "queued"


def test_runs_with_another_seed_share_the_spec_key(platform):
    a = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": 1}}).json()
    b = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": 2}}).json()
    c = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "optim": {"epochs": 4}}}).json()
    assert a["spec_key"] == b["spec_key"] != c["spec_key"]


def test_list_filters_by_status_tag_arch_and_method(platform):
    post = platform.client.post
    pn = post("/api/runs", json={"spec": PYRAMIDNET_272, "tags": ["a"]}).json()
    ss = post("/api/runs", json={"spec": {"model": {"arch": "shake_resnet", "depth": 26, "width": 32},
                                          "regularization": {"method": "shake_shake"}}, "tags": ["b"]}).json()
    post(f"/api/runs/{ss['id']}/cancel")
    ids = lambda **q: [r["id"] for r in platform.client.get("/api/runs", params=q).json()["runs"]]  # noqa: E731
    assert ids() == [ss["id"], pn["id"]]  # newest first
    assert ids(tag="a") == [pn["id"]]
    assert ids(arch="shake_resnet") == [ss["id"]]
    assert ids(method="shakedrop") == [pn["id"]]
    assert ids(status="cancelled") == [ss["id"]]
    assert ids(status=["queued", "cancelled"], order="-created") == [pn["id"], ss["id"]]
    page = platform.client.get("/api/runs", params={"limit": 1}).json()
    assert page["total"] == 2 and len(page["runs"]) == 1


@pytest.mark.parametrize("spec, field, words", [
    ({"model": {"arch": "pyramidnet", "depth": 100}}, "spec.model.depth", "9n+2"),
    ({"model": {"arch": "vgg"}}, "spec.model.arch", "unknown arch 'vgg'"),
    ({"model": {"arch": "shake_resnet"}, "regularization": {"method": "shakedrop"}}, "spec.regularization",
     "does not fit arch 'shake_resnet'"),
    ({"model": {"arch": "pyramidnet"}, "regularization": {"method": "shakedrop", "p_lats": 0.5}},
     "spec.regularization.p_lats", "unknown key 'p_lats'; did you mean 'p_last'?"),
    ({"model": {"arch": "pyramidnet"}, "optim": {"epochs": 0}}, "spec.optim.epochs", "greater than or equal to 1"),
    ({"model": {"arch": "pyramidnet"}, "dataset": {"name": "/etc/passwd"}}, "spec.dataset.name", "cifar10"),
    ({"model": {"arch": "shake_resnet"}, "optim": {"batch_size": 96, "replica_batch": 64}},
     "spec.optim.replica_batch", "must be a multiple of replica_batch (64)"),
])
def test_a_bad_spec_gets_422_naming_the_field_and_stores_nothing(platform, spec, field, words):
    before = platform.counts()
    r = platform.client.post("/api/runs", json={"spec": spec})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert any(d["field"] == field and words in d["msg"] for d in detail), detail
    assert platform.counts() == before


@pytest.mark.parametrize("body, field", [
    ({"spec": TINY_SPEC, "tags": ["no spaces allowed"]}, "tags.0"),
    ({"spec": TINY_SPEC, "name": ""}, "name"),
    ({"spec": TINY_SPEC, "owner": "me"}, "owner"),
    ({}, "spec"),
])
def test_a_bad_body_gets_422_naming_the_field(platform, body, field):
    before = platform.counts()
    r = platform.client.post("/api/runs", json=body)
    assert r.status_code == 422
    assert field in [d["field"] for d in r.json()["detail"]], r.json()
    assert platform.counts() == before


def test_malformed_json_gets_422(platform):
    r = platform.client.post("/api/runs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["field"] == "body" and detail["msg"].startswith("invalid JSON at character 1")


@pytest.mark.parametrize("spec", [
    {**TINY_SPEC, "optim": {"epochs": 2, "batchsize": 16}},
    {**TINY_SPEC, "optimm": {"epochs": 2}},
    {**TINY_SPEC, "model": {"arch": "shake_resnet", "depth": 9, "width": 4}},
    {**TINY_SPEC, "regularization": {"method": "scheduled_drop_path"}},
    {**TINY_SPEC, "model": {"arch": "vgg"}},
    5,
])
def test_a_bad_spec_gets_the_same_422_from_runs_and_experiments(platform, spec):
    runs = platform.client.post("/api/runs", json={"spec": spec})
    experiments = platform.client.post("/api/experiments", json={"name": "e", "spec": spec})
    assert runs.status_code == experiments.status_code == 422
    assert runs.json() == experiments.json()


def test_an_unknown_spec_key_gets_the_closest_allowed_key_on_every_route_that_takes_a_spec(platform):
    spec = {**TINY_SPEC, "optim": {"epochs": 2, "batchsize": 16}}
    for path, body in (("/api/runs", {"spec": spec}), ("/api/experiments", {"name": "e", "spec": spec}),
                       ("/api/specs/resolve", {"spec": spec})):
        r = platform.client.post(path, json=body)
        assert r.status_code == 422
        [detail] = r.json()["detail"]
        assert detail["field"] == "spec.optim.batchsize" and "did you mean 'batch_size'?" in detail["msg"], path


@pytest.mark.parametrize("method, path, kwargs", [
    ("post", "/api/runs", {"json": {"spec": {"model": {"arch": "pyramidnet", "depth": 100}}}}),
    ("post", "/api/runs", {"json": {"spec": TINY_SPEC, "owner": "me"}}),
    ("post", "/api/runs", {"content": b"[", "headers": {"content-type": "application/json"}}),
    ("post", "/api/experiments", {"json": {"name": "e", "spec": TINY_SPEC, "grid": {"optim.lr": [1e9]}}}),
    ("post", "/api/experiments", {"json": {"name": "e", "spec": TINY_SPEC, "seeds": list(range(100)),
                                           "grid": {"optim.lr": [0.1] * 6}}}),
    ("post", "/api/specs/resolve", {"json": {"spec": {"model": {"arch": "nasnet", "cels": 2}}}}),
    ("post", "/api/tables/shake_shake_table1_cifar10/reproduce", {"json": {"cells": ["no such cell"]}}),
    ("get", "/api/runs", {"params": {"limit": 0}}),
    ("get", "/api/runs/0", {}),
    ("get", "/api/experiments", {"params": {"offset": -1}}),
])
def test_every_422_has_the_projects_shape(platform, method, path, kwargs):
    r = getattr(platform.client, method)(path, **kwargs)
    assert r.status_code == 422, r.text
    details = r.json()["detail"]
    assert details
    for d in details:
        assert set(d) == {"loc", "field", "msg", "type"}, d
        where, *inside = d["loc"]
        assert where in ("body", "query", "path") and d["field"] == (".".join(inside) or where), d
        assert isinstance(d["msg"], str) and d["msg"] and isinstance(d["type"], str) and d["type"], d


def test_an_experiment_makes_a_run_per_seed_and_grid_point(platform):
    r = platform.client.post("/api/experiments", json={
        "name": "p_last sweep", "spec": TINY_SPEC, "seeds": [0, 1, 2],
        "grid": {"regularization.p_last": [0.5, 0.8]}, "tags": ["sweep"]})
    assert r.status_code == 201, r.text
    experiment = r.json()
    runs = experiment["runs"]
    assert len(runs) == 6 and all(run["experiment_id"] == experiment["id"] for run in runs)
    combos = sorted((run["spec"]["regularization"]["p_last"], run["seed"]) for run in runs)
    assert combos == [(0.5, 0), (0.5, 1), (0.5, 2), (0.8, 0), (0.8, 1), (0.8, 2)]
    assert len({run["spec_key"] for run in runs}) == 2
    listed = platform.client.get("/api/runs", params={"experiment_id": experiment["id"]}).json()
    assert listed["total"] == 6
    assert platform.client.get(f"/api/experiments/{experiment['id']}").json()["name"] == "p_last sweep"


def test_an_experiment_with_one_bad_grid_value_stores_nothing(platform):
    before = platform.counts()
    r = platform.client.post("/api/experiments", json={
        "name": "bad", "spec": TINY_SPEC, "grid": {"regularization.p_last": [0.5, 1.5]}})
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["field"] == "spec.regularization.p_last" and "p_last=1.5" in detail["msg"]
    assert platform.counts() == before


def test_unknown_ids_get_404(platform):
    for method, path in (("get", "/api/runs/999"), ("get", "/api/runs/999/metrics"),
                         ("post", "/api/runs/999/cancel"), ("get", "/api/experiments/999")):
        r = getattr(platform.client, method)(path)
        assert r.status_code == 404 and "999" in r.json()["detail"]


def test_cancelling_a_queued_run_ends_it_and_a_finished_run_stays(platform):
    run = platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()
    r = platform.client.post(f"/api/runs/{run['id']}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelled" and r.json()["finished_at"]
    again = platform.client.post(f"/api/runs/{run['id']}/cancel").json()
    assert again["status"] == "cancelled" and again["finished_at"] == r.json()["finished_at"]


def test_metrics_are_column_wise_and_thinned_keeping_extrema(platform):
    from backend.store import claim_run, record_epochs

    run = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "optim": {"epochs": 400}}}).json()
    token = claim_run(platform.engine, run["id"], worker="test", gpu=None)
    rows = [{"epoch": e, "train_loss": 1.0, "train_error": 50 - e / 10, "test_loss": 1.0,
             "test_error": 99.0 if e == 137 else (1.0 if e == 222 else 40.0), "lr": 0.1, "seconds": 2.0,
             "images_per_second": 100.0} for e in range(1, 401)]
    assert record_epochs(platform.engine, run["id"], token, rows)
    full = platform.client.get(f"/api/runs/{run['id']}/metrics").json()
    assert full["epoch"] == list(range(1, 401)) and full["wall_seconds"][-1] == 800.0
    thin = platform.client.get(f"/api/runs/{run['id']}/metrics", params={"max_points": 50}).json()
    assert thin["downsampled"] and thin["total_epochs"] == 400 and len(thin["epoch"]) <= 50
    assert {1, 137, 222, 400} <= set(thin["epoch"])  # first, spike, best and last survive
    assert thin["wall_seconds"][thin["epoch"].index(222)] == 444.0
    newer = platform.client.get(f"/api/runs/{run['id']}/metrics", params={"after_epoch": 398}).json()
    assert newer["epoch"] == [399, 400] and newer["wall_seconds"] == [798.0, 800.0]
    got = platform.client.get(f"/api/runs/{run['id']}").json()
    assert (got["epochs_done"], got["best_test_error"], got["last_test_error"]) == (400, 1.0, 40.0)
    with platform.engine.connect() as c:
        assert c.scalar(Metric.__table__.select().with_only_columns(Metric.epoch).order_by(Metric.epoch.desc())
                        .limit(1)) == 400
    assert platform.count(Run) == 1


@pytest.fixture
def keyed(request, tmp_path):
    from fastapi.testclient import TestClient

    from backend.api import create_app
    from tests.integration.conftest import make_settings

    settings = make_settings("sqlite", tmp_path, request, api_key="s3cret")
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        yield client


def test_an_api_key_guards_every_state_change(keyed):
    run_body = {"spec": TINY_SPEC}
    assert keyed.post("/api/runs", json=run_body).status_code == 401
    wrong = keyed.post("/api/runs", json=run_body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert keyed.post("/api/experiments", json={"name": "x", "spec": TINY_SPEC}).status_code == 401
    assert keyed.get("/api/runs").json()["total"] == 0  # reads stay open, and nothing was stored
    ok = keyed.post("/api/runs", json=run_body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 201
    assert keyed.post(f"/api/runs/{ok.json()['id']}/cancel").status_code == 401
    assert keyed.post(f"/api/runs/{ok.json()['id']}/rerun", json={"new_seed": True}).status_code == 401
    assert keyed.post("/api/searches", json={"name": "x", "spec": TINY_SPEC}).status_code == 401
    assert keyed.post("/api/searches/1/stop", json={"running": "cancel"}).status_code == 401
    assert keyed.patch(f"/api/runs/{ok.json()['id']}", json={"name": "renamed"}).status_code == 401
    assert keyed.delete(f"/api/runs/{ok.json()['id']}").status_code == 401
    assert keyed.get(f"/api/runs/{ok.json()['id']}").json()["status"] == "queued"
    assert keyed.get(f"/api/runs/{ok.json()['id']}").json()["name"] != "renamed"
    assert keyed.get("/api/runs").json()["total"] == 1 and keyed.get("/api/searches").json() == []


def test_catalog_offers_every_arch_method_and_a_shakedrop_pyramidnet_preset(platform):
    catalog = platform.client.get("/api/catalog").json()
    assert {a["arch"] for a in catalog["archs"]} == {"resnet", "wrn", "resnext", "shake_resnet", "shake_resnext",
                                                      "pyramidnet", "nasnet"}
    pyramidnet = next(a for a in catalog["archs"] if a["arch"] == "pyramidnet")
    assert pyramidnet["methods"] == ["none", "shakedrop", "stochastic_depth"]
    assert {f["name"] for f in pyramidnet["fields"]} == {"depth", "alpha", "bottleneck"}
    preset = next(p for p in catalog["presets"] if p["id"] == "shakedrop_pyramidnet272")
    r = platform.client.post("/api/runs", json={"spec": preset["spec"]})
    assert r.status_code == 201 and r.json()["spec"] == preset["resolved"]


def test_resolve_fills_the_papers_defaults_without_storing_a_run(platform):
    before = platform.counts()
    r = platform.client.post("/api/specs/resolve", json={"spec": {"model": {"arch": "nasnet"},
                                                                  "regularization": {"method": "scheduled_drop_path"}}})
    assert r.status_code == 200
    spec = r.json()["spec"]
    assert (spec["optim"]["batch_size"], spec["optim"]["lr"], spec["optim"]["grad_clip"], spec["augment"]["cutout"]) \
        == (32, 0.025, 5.0, 16)
    bad = platform.client.post("/api/specs/resolve", json={"spec": {"model": {"arch": "pyramidnet", "depth": 100}}})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "spec.model.depth"
    assert platform.counts() == before


def test_catalog_gives_the_papers_defaults_per_dataset(platform):
    archs = {a["arch"]: a for a in platform.client.get("/api/catalog").json()["archs"]}
    nasnet = archs["nasnet"]["paper_defaults_by_dataset"]
    assert nasnet["cifar10"]["augment"]["cutout"] == 16 and nasnet["cifar100"]["augment"]["cutout"] == 8
    assert archs["pyramidnet"]["paper_defaults_by_dataset"]["digits"]["augment"]["flip"] is False


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_only_this_servers_script_files(platform, page):
    import re

    r = platform.client.get(page)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, flags=re.S)
    sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in scripts if "src=" in attrs]
    inline = [body for attrs, body in scripts if "src=" not in attrs and "application/json" not in attrs]
    assert sources and not inline and "https://" not in r.text
    for source in sources:
        asset = platform.client.get(source)
        assert source.startswith("/assets/") and asset.status_code == 200, source
        assert asset.headers["content-type"].startswith("text/javascript") and b"cdn.redoc.ly" not in asset.content


def test_large_answers_are_compressed_and_the_dashboard_is_revalidated(platform):
    catalog = platform.client.get("/api/catalog", headers={"Accept-Encoding": "gzip"})
    assert catalog.headers["content-encoding"] == "gzip"
    page = platform.client.get("/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"


def test_compare_returns_several_runs_and_their_metrics_in_one_answer(platform):
    from backend.store import claim_run, record_epochs

    ids = []
    for seed, errors in ((0, [60.0, 40.0, 30.0]), (1, [70.0, 50.0])):
        run_id = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": seed}}).json()["id"]
        token = claim_run(platform.engine, run_id, worker="w", gpu=None)
        record_epochs(platform.engine, run_id, token, [
            {"epoch": e, "train_loss": 1.0, "train_error": err, "test_loss": 1.0, "test_error": err, "lr": 0.1,
             "seconds": 1.0, "images_per_second": 10.0} for e, err in enumerate(errors, 1)])
        ids.append(run_id)
    empty = platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
    r = platform.client.get("/api/compare", params={"ids": [ids[1], ids[0], empty]})
    assert r.status_code == 200
    body = r.json()
    assert [run["id"] for run in body["runs"]] == [ids[1], ids[0], empty]  # in the order asked
    assert [m["test_error"] for m in body["metrics"]] == [[70.0, 50.0], [60.0, 40.0, 30.0], []]
    assert body["metrics"][1]["wall_seconds"] == [1.0, 2.0, 3.0]
    missing = platform.client.get("/api/compare", params={"ids": [ids[0], 9999]})
    assert missing.status_code == 404 and "9999" in missing.json()["detail"]
