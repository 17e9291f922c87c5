"""Whether the workers have a dataset, said before anything is queued (the launch form's summary, the tables'
Reproduce dialog), and a worker's download shown on the run's page while it lasts.

The session's live system has one worker whose data directory is empty and which may download: CIFAR "will be
downloaded". The run page's progress needs a system of its own, whose worker fetches from a local mirror."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.cifar_mirror import CifarMirror
from tests.live import TINY_SPEC, LiveSystem

from .chromium import DESKTOP, ConsoleWatch

DOWNLOADED = "CIFAR-10 will be downloaded by the worker (163 MB) before the first epoch."


def wait_for_reports(system: LiveSystem) -> None:
    system.wait_until(lambda: all(d["state"] != "no_workers" for d in system.get("/api/datasets").json()), 60,
                      "the worker to report its datasets")


def test_the_launch_summary_says_the_worker_will_download_cifar(page, live):
    wait_for_reports(live)
    page.goto("/#/launch")
    note = page.locator(".launch-side .dataset-note")
    expect(note).to_have_text(DOWNLOADED)
    page.get_by_label("Dataset").select_option("digits")
    expect(note).to_have_text("")  # built in: nothing to say
    page.get_by_label("Dataset").select_option("cifar100")
    expect(note).to_have_text("CIFAR-100 will be downloaded by the worker (161 MB) before the first epoch.")
    page.snap("launch-dataset-note")


def test_reproduce_says_whether_the_workers_have_the_tables_datasets(page, live):
    wait_for_reports(live)
    page.goto("/#/tables/shakedrop_final_results")
    page.get_by_role("button", name="Reproduce…").click()
    note = page.locator("[aria-label='Reproduce this table'] .dataset-note")
    expect(note.locator("[data-dataset=cifar10]")).to_have_text(DOWNLOADED)
    expect(note.locator("[data-dataset=cifar100]")).to_contain_text("CIFAR-100 will be downloaded")
    page.get_by_label("Profile").select_option("smoke")  # synthetic data: nothing to fetch
    page.get_by_role("button", name="Reproduce…").click()
    expect(page.get_by_role("button", name=re.compile(r"^Queue \d+ runs?$"))).to_be_visible()
    expect(page.locator("[aria-label='Reproduce this table'] .dataset-note")).to_have_text("")


@pytest.fixture
def mirrored(tmp_path):
    with CifarMirror(tmp_path / "mirror", "cifar10", seconds=8) as mirror, \
            LiveSystem(tmp_path / "home", env=mirror.subprocess_env()) as system:
        system.start_worker()
        yield system


def test_the_run_page_shows_the_workers_download_until_training_starts(browser, screenshots, mirrored):
    context = browser.new_context(base_url=mirrored.url, viewport=DESKTOP)
    page = context.new_page()
    watch = ConsoleWatch(page)
    spec = {**TINY_SPEC, "dataset": {"name": "cifar10"}, "optim": {"epochs": 2, "batch_size": 32}}
    run_id = mirrored.post("/api/runs", json={"spec": spec}).json()["id"]
    page.goto(f"/#/runs/{run_id}")
    notice = page.locator(".download-notice")
    expect(notice).to_contain_text(re.compile(r"Downloading CIFAR-10: \d+%; the first epoch starts once it is in "
                                              r"place\."), timeout=150_000)
    expect(notice.locator("progress")).to_have_attribute("max", "100")
    page.screenshot(path=str(screenshots / "run-downloading.png"), full_page=True)
    expect(notice).to_have_count(0, timeout=120_000)
    expect(page.locator(".page-head .status-succeeded")).to_be_visible(timeout=120_000)
    errors = watch.unexpected()
    context.close()
    assert not errors, errors
