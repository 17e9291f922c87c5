"""The Python client and the `shakelab` command against a real ShakeLab: the API and a Celery worker as
processes (SQLite with the embedded broker), over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import torch

from shakelab.client import Client, Conflict, InvalidRequest, NotFound, ServerUnavailable, Unauthorized
from tests.live import TINY_SPEC, LiveSystem, free_port
from worker.engine import RunSpec, build_model

pytestmark = pytest.mark.slow

# CIFAR-10 is not on this machine and the worker may not download it: the run fails at once, saying why.
FAILING_SPEC = {**TINY_SPEC, "dataset": {"name": "cifar10"}}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with LiveSystem(tmp_path_factory.mktemp("client")) as live:
        live.start_worker(env={"SHAKELAB_DOWNLOAD_DATASETS": "false"})
        yield live


def shakelab(system, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shakelab.cli", "--url", system.url, *args], input=stdin,
                          capture_output=True, text=True, timeout=180, env=system.env)


def test_the_client_submits_waits_reads_edits_archives_and_deletes_a_run(system, tmp_path):
    with Client(system.url) as lab:
        run = lab.submit(TINY_SPEC, name="client run", tags=["from-python"])
        assert (run.status, run.name, run.tags) == ("queued", "client run", ["from-python"])
        done = lab.wait(run.id, poll_seconds=0.3, timeout=120, progress=False)
        assert done.status == "succeeded" and done.epochs_done == 3

        metrics = lab.metrics(run.id)
        assert metrics.epoch == [1, 2, 3] and len(metrics.test_error) == 3 and metrics.val_error is None
        frame = lab.metrics_frame(run.id)
        assert list(frame.index) == [1, 2, 3] and list(frame["test_error"]) == metrics.test_error
        assert "val_error" not in frame.columns  # no split: no column of nothing

        edited = lab.edit(run.id, tags=["from-python", "kept"], notes="looks fine")
        assert (edited.tags, edited.notes, edited.name) == (["from-python", "kept"], "looks fine", "client run")

        lab.archive(run.id)
        assert run.id not in [r.id for r in lab.runs().runs]
        assert [r.id for r in lab.runs(archived=True).runs] == [run.id]
        assert lab.restore(run.id).archived_at is None

        # The checkpoint as the worker wrote it, and the weights load into the spec's model.
        saved = lab.download(run.id, "checkpoint.pt", tmp_path)
        assert saved.read_bytes() == (system.home / "runs" / str(run.id) / "checkpoint.pt").read_bytes()
        checkpoint = torch.load(saved, map_location="cpu", weights_only=True)
        model = build_model(RunSpec.model_validate(checkpoint["spec"]))
        model.load_state_dict(checkpoint["model"])
        jsonl = lab.download(run.id, "metrics.jsonl", tmp_path / "m.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in jsonl] == [1, 2, 3]

        lab.delete(run.id)
        with pytest.raises(NotFound):
            lab.run(run.id)
        assert not (system.home / "runs" / str(run.id)).exists()


def test_the_client_raises_one_clear_exception_per_kind_of_error(system):
    with Client(system.url) as lab:
        with pytest.raises(InvalidRequest) as bad:
            lab.submit({"model": {"arch": "pyramidnet", "depth": 100}})
        assert bad.value.field == "spec.model.depth" and "depth" in str(bad.value)
        with pytest.raises(InvalidRequest) as bad_edit:
            lab.edit(1, tags=["has space"])
        assert bad_edit.value.field == "tags.0"
        with pytest.raises(NotFound):
            lab.run(999_999)
        waiting = lab.submit({**TINY_SPEC, "optim": {"epochs": 50, "batch_size": 32}})
        with pytest.raises(Conflict) as conflict:
            lab.delete(waiting.id)
        assert "cancel it first" in str(conflict.value)
        lab.cancel(waiting.id)
    with Client(f"http://127.0.0.1:{free_port()}") as nobody, pytest.raises(ServerUnavailable) as down:
        nobody.runs()
    assert "is the server running?" in str(down.value)


def test_the_client_needs_the_key_where_the_server_has_one(tmp_path):
    with LiveSystem(tmp_path, api_key="s3cret") as keyed:
        with Client(keyed.url, api_key="") as anonymous, pytest.raises(Unauthorized):
            anonymous.submit(TINY_SPEC)
        with Client(keyed.url, api_key="s3cret") as lab:
            assert lab.submit(TINY_SPEC).status == "queued"


def test_shakelab_submit_wait_exits_0_for_a_succeeded_run_and_1_for_a_failed_one(system, tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(TINY_SPEC))
    bad.write_text(json.dumps(FAILING_SPEC))
    ok = shakelab(system, "submit", str(good), "--wait", "--quiet", "--tag", "cli")
    assert ok.returncode == 0, ok.stderr
    run_id = int(ok.stdout.split("queued run #")[1].split()[0])
    failed = shakelab(system, "submit", str(bad), "--wait", "--quiet")
    assert failed.returncode == 1
    assert "ended failed" in failed.stderr and "CIFAR-10" in failed.stderr

    show = shakelab(system, "show", str(run_id))
    assert show.returncode == 0 and "succeeded" in show.stdout and "cli" in show.stdout
    csv_out = shakelab(system, "metrics", str(run_id), "--csv")
    header, *rows = csv_out.stdout.splitlines()
    assert header.startswith("epoch,train_loss,") and [row.split(",")[0] for row in rows] == ["1", "2", "3"]
    listed = shakelab(system, "runs", "--status", "succeeded", "--json")
    assert run_id in [r["id"] for r in json.loads(listed.stdout)["runs"]]


def test_shakelab_submits_several_seeds_as_one_experiment(system):
    result = shakelab(system, "submit", "-", "--seeds", "3", "--name", "three seeds", "--json",
                      stdin=json.dumps({**TINY_SPEC, "optim": {"epochs": 40, "batch_size": 32}}))
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["seed"] for r in runs] == [0, 1, 2] and len({r["experiment_id"] for r in runs}) == 1
    cancelled = shakelab(system, "cancel", *(str(r["id"]) for r in runs))
    assert cancelled.returncode == 0 and cancelled.stdout.count("run #") == 3


def test_shakelab_submit_gpus_queues_runs_on_several_gpus_and_workers_says_why_they_wait(system):
    spec = {**TINY_SPEC, "optim": {"epochs": 40, "batch_size": 32, "replica_batch": 16}}
    result = shakelab(system, "submit", "-", "--gpus", "2", "--seeds", "2", "--json", stdin=json.dumps(spec))
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["gpus"] for r in runs] == [2, 2]
    system.wait_until(lambda: system.get("/api/health").json()["workers"] == 1, 60, "the worker to be seen")
    workers = shakelab(system, "workers")
    assert workers.returncode == 0
    assert (f"run #{runs[0]['id']} {runs[0]['name']} (waiting 0 min, 2 GPUs): asks for 2 GPUs and the widest worker "
            f"running has 1") in workers.stdout
    with Client(system.url) as lab:
        assert lab.submit(spec, gpus=2).gpus == 2
        with pytest.raises(InvalidRequest) as refused:
            lab.submit(spec, gpus=3)
        assert refused.value.field == "gpus"
    bad = shakelab(system, "submit", "-", "--gpus", "4", stdin=json.dumps(spec))
    assert bad.returncode == 2 and "gpus" in bad.stderr and "4 GPUs cannot share" in bad.stderr
    assert shakelab(system, "cancel", *(str(r["id"]) for r in runs)).returncode == 0


@pytest.mark.parametrize("args, stdin, code, says", [
    (["submit", "-"], '{"model": {"arch": "pyramidnet", "depth": 100}}', 2, "spec.model.depth"),
    (["submit", "-"], "{not json", 2, "is not JSON"),
    (["submit", "/no/such/spec.json"], None, 2, "cannot read the spec file"),
    (["show", "999999"], None, 3, "not found"),
    (["edit", "1"], None, 2, "say what to change"),
])
def test_shakelab_errors_are_one_line_with_an_exit_code_a_script_can_test(system, args, stdin, code, says):
    result = shakelab(system, *args, stdin=stdin)
    assert result.returncode == code, result.stderr
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1 and not result.stdout


def test_shakelab_says_when_the_server_is_down():
    result = subprocess.run([sys.executable, "-m", "shakelab.cli", "--url", f"http://127.0.0.1:{free_port()}", "runs"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 5 and "is the server running?" in result.stderr


def test_shakelab_is_a_console_script_of_the_package():
    [script] = [e for e in entry_points(group="console_scripts") if e.name == "shakelab"]
    assert script.value == "shakelab.cli:main"


def test_the_client_costs_a_reproduction_and_a_search_without_queueing_anything(system):
    with Client(system.url) as lab:
        before = lab.runs(archived=None).total
        plan = lab.reproduce("shakedrop_final_results", seeds=2, profile="smoke", dry_run=True)
        assert plan.dry_run and plan.runs > 0 and plan.epochs > 0 and plan.table_id == "shakedrop_final_results"
        cost = lab.search_cost({"name": "lr", "spec": {**TINY_SPEC, "dataset": {**TINY_SPEC["dataset"],
                                                                               "validation": 16}},
                                "space": {"optim.lr": {"float": [0.01, 1.0], "log": True}}, "max_runs": 5})
        assert cost.max_runs == 5
        assert [t.id for t in lab.tables()][:1] == ["shake_shake_table1_cifar10"]
        assert lab.runs(archived=None).total == before


def test_shakelab_tables_reproduce_dry_run_and_workers(system):
    tables = shakelab(system, "tables")
    assert tables.returncode == 0 and "shakedrop_final_results" in tables.stdout
    dry = shakelab(system, "reproduce", "shakedrop_final_results", "--dry-run", "--profile", "smoke", "--seeds", "1")
    assert dry.returncode == 0 and "would queue" in dry.stdout and "estimate" in dry.stdout
    workers = shakelab(system, "workers")
    assert workers.returncode == 0 and "WORKER" in workers.stdout and "queued" in workers.stdout
    unknown = shakelab(system, "reproduce", "no_such_table", "--dry-run")
    assert unknown.returncode == 3 and "not found" in unknown.stderr
