"""Everyday care of runs in the browser: edit a run's tags, archive and delete runs (after a confirmation),
download its checkpoint; and the workers page with two workers and a queue."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.live import LiveSystem

from .chromium import DESKTOP, ConsoleWatch
from .runs import create_run, finished, tiny_spec


def test_a_run_gets_new_tags_and_notes_from_its_page(page, live):
    [run] = finished(live, create_run(live, name="tag me", tags=["old-tag"]))
    page.goto(f"/#/runs/{run['id']}")
    page.get_by_role("button", name="Edit name, tags, notes").click()
    dialog = page.get_by_role("dialog", name=f"Edit run {run['id']}")
    expect(dialog.get_by_label("Tags")).to_have_value("old-tag")
    dialog.get_by_label("Tags").fill("baseline, pn-small")
    dialog.get_by_label("Notes").fill("the one to beat")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".subtitle .tag")).to_have_text(["baseline", "pn-small"])
    expect(page.get_by_text("the one to beat")).to_be_visible()
    stored = live.run(run["id"])
    assert (stored["tags"], stored["notes"]) == (["baseline", "pn-small"], "the one to beat")
    assert stored["spec"] == run["spec"]


def test_a_bad_tag_is_refused_in_the_form_and_nothing_changes(page, live):
    [run] = finished(live, create_run(live, name="keep my tags", tags=["fine"]))
    page.goto(f"/#/runs/{run['id']}")
    page.get_by_role("button", name="Edit name, tags, notes").click()
    dialog = page.get_by_role("dialog", name=f"Edit run {run['id']}")
    dialog.get_by_label("Tags").fill("has space")
    page.console_watch.allow(r"status of 422")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text("tags:")
    assert live.run(run["id"])["tags"] == ["fine"]


def test_the_checkpoint_downloads_from_the_run_page(page, live):
    [run] = finished(live, create_run(live, name="weights to take home"))
    page.goto(f"/#/runs/{run['id']}")
    with page.expect_download() as info:
        page.get_by_role("button", name="checkpoint.pt").click()
    download = info.value
    assert download.suggested_filename == f"run-{run['id']}-checkpoint.pt"
    assert open(download.path(), "rb").read() == (live.home / "runs" / str(run["id"]) / "checkpoint.pt").read_bytes()


def test_runs_are_archived_and_deleted_from_the_list_after_a_confirmation(page, live):
    tag = "browser-tidy"
    runs = finished(live, *(create_run(live, name=f"tidy {i}", tags=[tag]) for i in range(3)))
    keep, archive, delete = (r["id"] for r in runs)
    page.goto(f"/#/runs?tag={tag}")
    expect(page.locator("tbody tr")).to_have_count(3)

    page.get_by_label(re.compile(rf"^Select run {archive} ")).check()
    page.get_by_role("button", name="Archive (1)").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_label("Show").select_option("Archived runs")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr .badge-archived")).to_have_text("archived")
    page.get_by_label("Show").select_option("Active runs")

    page.get_by_label(re.compile(rf"^Select run {delete} ")).check()
    page.get_by_role("button", name="Delete (1)").click()
    confirm = page.get_by_role("dialog", name=f"Delete run #{delete}?")
    expect(confirm).to_contain_text("cannot be undone")
    confirm.get_by_role("button", name="Keep").click()  # changing one's mind deletes nothing
    assert live.get(f"/api/runs/{delete}").status_code == 200
    page.get_by_role("button", name="Delete (1)").click()
    page.get_by_role("dialog", name=f"Delete run #{delete}?").get_by_role("button", name="Delete run").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    assert live.get(f"/api/runs/{delete}").status_code == 404
    assert not (live.home / "runs" / str(delete)).exists()
    assert live.run(keep)["archived_at"] is None and live.run(archive)["archived_at"] is not None
    page.snap("runs-after-tidying")


def test_a_running_run_cannot_be_deleted_from_its_page(page, live):
    run = create_run(live, tiny_spec(optim={"epochs": 400}), name="busy, leave it")
    page.goto(f"/#/runs/{run['id']}")
    expect(page.get_by_role("button", name="Edit name, tags, notes")).to_be_visible()
    expect(page.get_by_role("button", name="Delete", exact=True)).to_have_count(0)
    live.post(f"/api/runs/{run['id']}/cancel")
    finished(live, run)
    page.reload()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete run").click()
    page.wait_for_url(re.compile(r"#/runs$"))
    assert live.get(f"/api/runs/{run['id']}").status_code == 404


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """A system of its own: two workers ("GPUs" 0 and 1, on the CPU), one run at a time each."""
    with LiveSystem(tmp_path_factory.mktemp("two-workers")) as system:
        system.start_worker("--gpu-label", "0")
        system.start_worker("--gpu-label", "1")
        yield system


def test_the_workers_page_shows_each_worker_its_run_and_the_queue_in_order(browser, screenshots, two_workers):
    long = tiny_spec(optim={"epochs": 400})
    runs = [create_run(two_workers, long, name=f"long {i}") for i in range(4)]
    two_workers.wait_until(lambda: sum(two_workers.run(r["id"])["status"] == "running" for r in runs) == 2,
                           90, "two runs to start")
    context = browser.new_context(base_url=two_workers.url, viewport=DESKTOP)
    page = context.new_page()
    watch = ConsoleWatch(page)
    try:
        page.goto("/#/workers")
        expect(page.get_by_role("heading", name="Workers")).to_be_visible()
        rows = page.locator(".workers-table tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator(".workers-table tbody tr[data-state=training]")).to_have_count(2)
        for gpu in ("0", "1"):
            row = page.locator(".workers-table tbody tr", has=page.locator("td", has_text=re.compile(rf"^{gpu}$")))
            expect(row.get_by_role("link", name=re.compile(r"#\d+ long \d"))).to_be_visible()
            expect(row.get_by_role("progressbar")).to_be_visible()
        waiting = [r["id"] for r in runs if two_workers.run(r["id"])["status"] == "queued"]
        expect(page.get_by_role("heading", name="Queue (2)")).to_be_visible()
        expect(page.locator(".queue-table tbody tr")).to_have_count(2)
        assert [int(x) for x in page.locator(".queue-table tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.run)")] == sorted(waiting)
        expect(page.locator(".queue-table tbody tr").first.locator("td").first).to_have_text("1")
        expect(page.locator(".queue-table tbody tr").first.locator(".queue-reason")).to_contain_text(
            "waits for a slot: the 2 workers that can train it are busy")
        page.screenshot(path=str(screenshots / "workers.png"), full_page=True)
        # a worker that is killed shows as silent once its heartbeat is stale
        two_workers.workers[1].kill()
        expect(page.locator(".workers-table tbody tr[data-state=stale]")).to_have_count(1, timeout=30_000)
    finally:
        for run in runs:
            two_workers.post(f"/api/runs/{run['id']}/cancel")
        errors = watch.unexpected()
        context.close()
    assert not errors, errors
