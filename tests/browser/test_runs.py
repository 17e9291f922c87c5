"""The runs list: live without a reload, filters, cancel, re-run; plain empty and error states."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .runs import create_run, finished, tiny_spec


def row_of(page, run_id: int):
    return page.locator("tbody tr", has=page.locator(f"a[href='#/runs/{run_id}']"))


def test_new_run_appears_and_is_cancelled_without_a_reload(page, live):
    page.goto("/#/runs")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    run = create_run(live, tiny_spec(optim={"epochs": 400}), name="long run to cancel", tags=["browser-cancel"])
    row = row_of(page, run["id"])
    expect(row).to_be_visible()  # the 2-second refresh brought it in
    expect(row.get_by_text("long run to cancel")).to_be_visible()
    cancel = row.get_by_role("button", name=f"Cancel run {run['id']}")
    cancel.click()
    expect(cancel).to_have_text("Really cancel?")  # one stray click does nothing
    cancel.click()
    expect(row.locator(".status")).to_have_text(re.compile("cancelled", re.I), timeout=30_000)
    page.snap("runs-list")


def test_filters_and_rerun(page, live):
    [run] = finished(live, create_run(live, name="finished run to re-run", tags=["browser-rerun"]))
    page.goto("/#/runs")
    page.get_by_label("Tag", exact=True).fill("browser-rerun")
    # Filters live in the address, so a reload keeps them (the list follows the address once typing pauses).
    expect(page).to_have_url(re.compile(r"tag=browser-rerun"))
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("button", name=f"Re-run run {run['id']} with the same spec").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_label("Status", exact=True).select_option("succeeded")
    expect(page.get_by_text(re.compile(r"of \d+ runs"))).to_be_visible()
    page.get_by_label("Tag", exact=True).fill("no-such-tag")
    expect(page.get_by_text("No runs match these filters.")).to_be_visible()


def test_unknown_run_is_said_plainly(page):
    page.console_watch.allow(r"status of 404")
    page.goto("/#/runs/987654")
    expect(page.get_by_text("There is no run #987654")).to_be_visible()
    expect(page.get_by_text("run 987654 not found")).to_be_visible()


def test_rerun_with_a_new_seed_and_the_seed_count_on_the_run_page(page, live):
    # A learning rate of its own: no other test's runs share this spec key and join its seed group.
    [run] = finished(live, create_run(live, tiny_spec(optim={"epochs": 2, "lr": 0.0123}), tags=["browser-new-seed"]))
    page.goto(f"/#/runs/{run['id']}")
    page.get_by_role("button", name=f"Re-run run {run['id']} with a new seed").click()
    page.wait_for_url(lambda url: re.search(r"#/runs/\d+$", url) and not url.endswith(f"/{run['id']}"))
    new_id = int(page.url.rsplit("/", 1)[1])
    assert live.run(new_id)["seed"] == run["seed"] + 1
    assert live.run(new_id)["spec_key"] == run["spec_key"]
    # Counted as compare counts: the new seed is not counted until it has finished (on a busy machine the
    # two-epoch run may already have finished by the time the page loads).
    expect(page.get_by_role("link", name=re.compile(r"^Compare (1 seed \(2 runs\)|2 seeds)$"))).to_be_visible(
        timeout=30_000)
    finished(live, live.run(new_id))
    page.reload()
    expect(page.get_by_role("link", name="Compare 2 seeds")).to_be_visible(timeout=30_000)


def test_the_last_epoch_leads_and_the_best_says_what_chose_it(page, live):
    [run] = finished(live, create_run(live, name="last before best"))
    page.goto("/#/runs")
    expect(page.locator("tbody tr").first).to_be_visible()
    headers = page.locator(".runs-table thead th").evaluate_all("ths => ths.map(th => th.textContent)")
    assert headers.index("Last test error") < headers.index("Best epoch (chosen on test)")
    page.goto(f"/#/runs/{run['id']}")
    expect(page.locator(".stat-label").first).to_be_visible()
    labels = page.locator(".stat-label").evaluate_all("ls => ls.map(l => l.textContent)")
    assert labels.index("Test error (last epoch)") < labels.index("Best epoch (chosen on the test set)")
