"""The NASNet search pages: a search started from the form waits for the controller process; a search whose
children have trained shows their rewards, the best so far, the top cells drawn as graphs, what the paper's
search would cost, and "Train this cell" queues the cell as a run at the chosen setting."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import create_engine

from worker.nas.driver import advance_nas_searches

SPEC = {"dataset": {"name": "synthetic", "train_size": 48, "test_size": 16, "validation": 16},
        "model": {"arch": "nasnet", "cells": 1, "filters": 4, "aux_weight": 0.0},
        "optim": {"epochs": 1, "batch_size": 16}, "augment": {"cutout": 0}}


def test_a_search_from_the_form_waits_for_the_controller_process(page, live):
    page.goto("/#/nas")
    expect(page.get_by_role("heading", name="NASNet architecture searches")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("random cells")
    page.get_by_label("Searcher", exact=True).select_option("random")
    page.get_by_label("Children's data", exact=True).select_option("synthetic")
    page.get_by_label("Children in all", exact=True).fill("3")
    page.get_by_role("button", name="Start the search").click()
    page.wait_for_url(re.compile(r"#/nas/\d+$"))
    search = live.get(f"/api/nas/{int(page.url.rsplit('/', 1)[1])}").json()
    assert search["searcher"] == "random" and search["max_children"] == 3
    assert search["spec"]["dataset"]["validation"] == 64 and search["spec"]["model"]["cells"] == 2
    expect(page.get_by_text("waiting for the controller process")).to_be_visible()
    page.get_by_role("button", name="Stop and cancel children").click()
    expect(page.get_by_text("stopped by request")).to_be_visible()


def test_a_trained_search_shows_rewards_top_cells_cost_and_trains_a_cell(page, live):
    search_id = live.post("/api/nas", json={"name": "tiny cells", "spec": SPEC, "max_children": 3,
                                            "max_concurrent": 3}).json()["id"]
    engine = create_engine(f"sqlite:///{live.home / 'shakelab.db'}")
    try:  # the controller process's step, here; the live worker trains the children
        live.wait_until(lambda: advance_nas_searches(engine) is not None and
                        live.get(f"/api/nas/{search_id}").json()["status"] == "finished", 300, "the children", 1.0)
    finally:
        engine.dispose()
    page.goto(f"/#/nas/{search_id}")
    expect(page.get_by_role("heading", name="tiny cells")).to_be_visible()
    expect(page.get_by_label("Progress")).to_contain_text("3 / 3")
    expect(page.locator("#nas-chart-rewards .main-svg").first).to_be_visible()
    expect(page.get_by_label("Cost")).to_contain_text("20,000 children")
    expect(page.get_by_label("Cost")).to_contain_text("device-hours")
    cells = page.get_by_role("region", name="Top cells").locator("article")
    expect(cells).to_have_count(3)
    first = cells.first
    expect(first.get_by_role("img", name=re.compile("Normal cell of child"))).to_be_visible()
    expect(first.locator("svg.cell-graph")).to_have_count(2)
    expect(first.locator("svg.cell-graph").first.locator("rect.cell-op")).to_have_count(10)
    page.snap("nas-page")

    child = int(first.get_attribute("data-child"))
    first.get_by_label("Train at").select_option("budget")
    first.get_by_role("button", name="Train this cell").click()
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    run = live.get(f"/api/runs/{int(page.url.rsplit('/', 1)[1])}").json()
    genotype = next(c["genotype"] for c in live.get(f"/api/nas/{search_id}").json()["child_list"]
                    if c["number"] == child)
    model = run["spec"]["model"]
    assert (model["cells"], model["filters"], model["genotype"]) == (6, 32, genotype)
    assert run["spec"]["optim"]["epochs"] == 60 and run["spec"]["regularization"]["method"] == "scheduled_drop_path"
    assert live.post(f"/api/runs/{run['id']}/cancel").status_code in (200, 202)
