"""The papers' tables: reported beside reproduced, the profile's label on our numbers, Reproduce's cost."""

from __future__ import annotations

import random
import re
import time

from playwright.sync_api import expect

from backend.tables.data import VERIFICATION_MEANINGS
from backend.tables.rounding import fixed

TABLE = "shakedrop_final_results"


def test_table_shows_reported_beside_reproduced(page, live):
    response = live.post(f"/api/tables/{TABLE}/reproduce", json={"seeds": 1, "profile": "smoke", "dry_run": False})
    assert response.status_code == 200, response.text
    for run_id in response.json()["created_run_ids"]:
        live.wait_for_status(run_id, "succeeded", timeout=120)

    page.goto("/#/tables")
    expect(page.get_by_role("link", name=re.compile("ShakeDrop: final results"))).to_be_visible()
    legend = page.get_by_role("region", name="Verification levels")
    for level, meaning in VERIFICATION_MEANINGS.items():
        if level != "V-calc":  # no table has a number computed from the architecture
            expect(legend).to_contain_text(f"{level}{meaning}")
    page.snap("tables")
    page.goto(f"/#/tables/{TABLE}?profile=smoke")
    cell = page.locator("td[data-cell='pyramidnet-272-a200:cifar10']")
    expect(cell).to_have_attribute("data-status", "done")
    expect(cell).to_contain_text("2.31")  # the paper's number
    expect(cell.get_by_text(re.compile(r"n=1"))).to_be_visible()  # ours
    expect(cell.locator(".profile-chip")).to_have_text(re.compile("^smoke test"))  # never mistaken for the paper's
    expect(page.get_by_text("UNVERIFIED").first).to_be_visible()
    legend = page.get_by_role("region", name="Verification levels")
    expect(legend.locator("dt")).to_have_text(["V-2nd", "UNVERIFIED"])  # this table's levels only
    expect(cell.get_by_text("V-2nd", exact=True)).to_have_attribute("title", f"V-2nd: {VERIFICATION_MEANINGS['V-2nd']}")
    page.get_by_role("button", name="Reproduce…").click()
    expect(page.locator(".stat-label", has_text="GPU-hours on one H100 (estimate)")).to_be_visible()
    page.snap("table")


def test_the_cost_dialog_gives_the_time_on_this_installations_cpu_worker(page, live):
    """The live system's one worker was started without a GPU: the dialog says so, and its time comes from
    the runs it finished, named by their ids."""
    smoke = live.post(f"/api/tables/{TABLE}/reproduce", json={"seeds": 1, "profile": "smoke", "dry_run": False})
    for run_id in smoke.json()["created_run_ids"]:
        live.wait_for_status(run_id, "succeeded", timeout=120)
    plan = live.post(f"/api/tables/{TABLE}/reproduce", json={"seeds": 3, "profile": "full", "dry_run": True}).json()
    measured = plan["local"]["measured_run_ids"]
    assert plan["local"]["device"] == "cpu" and measured

    page.goto(f"/#/tables/{TABLE}")
    page.get_by_role("button", name="Reproduce…").click()
    local = page.locator(".local-estimate")
    expect(local).to_contain_text(re.compile(r"only worker, \S+, is a CPU: no GPU"))
    expect(local).to_contain_text("scaled by FLOPs per image")
    links = local.get_by_role("link")
    expect(links).to_have_count(min(len(measured), 8))
    assert links.evaluate_all("links => links.map(a => a.getAttribute('href'))") == \
        [f"#/runs/{run_id}" for run_id in measured[:8]]
    here = page.locator(".stat", has=page.locator(".stat-label", has_text="Hours on this installation"))
    expect(here.locator(".stat-value")).to_have_text(re.compile(r"^[\d,.]+ h"))
    expect(page.get_by_text(re.compile("On one H100: about .* an estimate from the models' FLOPs"))).to_be_visible()
    page.snap("reproduce-cost")


def test_reproduce_from_the_page_fills_the_cells_in_live(page, live):
    table = "shakedrop_alpha_beta_sweep_cifar100"
    page.goto(f"/#/tables/{table}?profile=smoke")
    cells = page.locator("td[data-cell]")
    expect(cells).to_have_count(3)
    expect(page.locator("td[data-cell][data-status='missing']")).to_have_count(3)
    page.get_by_role("button", name="Reproduce…").click()
    page.get_by_label("Seeds per cell").fill("1")
    page.get_by_role("button", name="Queue 3 runs").click()
    # no reload from here on: the page polls and each cell moves on as its run is queued, trains and ends
    expect(page.locator("td[data-cell][data-status='missing']")).to_have_count(0, timeout=15_000)
    seen, deadline = set(), time.monotonic() + 120
    while True:
        now = cells.evaluate_all("cells => cells.map(c => c.dataset.status)")
        if all(status == "done" for status in now):
            break
        seen.update(now)
        assert time.monotonic() < deadline, now
        page.wait_for_timeout(200)
    assert seen & {"queued", "running"}, seen  # the cells were seen filling in, not only finished
    expect(cells.first.get_by_text(re.compile(r"n=1"))).to_be_visible()


def test_the_page_rounds_as_the_exports_do(page):
    """format.js's `fixed` against backend/tables/rounding.py on ties, near-ties and random values."""
    rng = random.Random(0)
    values = [78.125, 1.005, 2.675, -0.125, 0.0049, -0.001, 1e-7, 74.575, 0.5, -2.5, 12.0,
              *(round(rng.uniform(-100, 100), rng.randint(1, 6)) for _ in range(300))]
    page.goto("/#/tables")
    shown = page.evaluate("""async (values) => {
        const { fixed } = await import("/js/format.js");
        return values.map((v) => [fixed(v, 2), fixed(v, 4), fixed(v, 0)]);
    }""", values)
    assert shown == [[fixed(v, 2), fixed(v, 4), fixed(v, 0)] for v in values]


def test_notes_and_settings_follow_the_chosen_profile(page):
    page.goto("/#/tables/shakedrop_level_comparison_cifar100")
    notes = page.locator(".card", has=page.get_by_role("heading", name="Notes and settings"))
    expect(notes.locator("dd").nth(1)).to_have_text("300")  # epochs: the paper's, under full
    page.get_by_label("Profile").select_option("budget")
    expect(notes).to_contain_text("50 under profile budget (the paper: 300)")
    expect(notes.locator("li").first).to_contain_text("Profile budget")
    page.get_by_label("Profile").select_option("smoke")
    expect(notes).to_contain_text("2 under profile smoke (the paper: 300)")
    expect(notes).to_contain_text("synthetic, 64 training and 32 test images")


def test_reproduce_waits_for_the_chosen_profiles_table(page):
    """A click on Reproduce while the new profile's table is still on its way would price the old profile's
    runs: the button waits for it."""
    held = []
    smoke_table = re.compile(r".*/api/tables/[^/?]+\?profile=smoke.*")
    page.route(smoke_table, lambda route: held.append(route))
    page.goto(f"/#/tables/{TABLE}")
    reproduce = page.get_by_role("button", name="Reproduce…")
    expect(reproduce).to_be_enabled()
    page.get_by_label("Profile").select_option("smoke")
    page.wait_for_timeout(200)  # let the request reach the route
    assert held, "the smoke profile's table was not asked for"
    expect(reproduce).to_be_disabled()
    for route in held:
        route.continue_()
    page.unroute(smoke_table)
    reproduce.click()
    panel = page.get_by_role("region", name="Reproduce this table")
    expect(panel.get_by_role("heading", level=2)).to_have_text("Reproduce under profile “smoke”")
    expect(panel.get_by_role("button", name=re.compile(r"^Queue \d+ runs?$"))).to_be_visible()
