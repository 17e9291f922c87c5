"""The launch form: a ShakeDrop run launched from it trains and its curve grows live; a bad field shows
the API's 422 message beside it."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

EPOCHS = 10


def fill_tiny_shakedrop(page, *, depth: str = "11", epochs: int = EPOCHS) -> None:
    """A bottleneck PyramidNet-11 with ShakeDrop on synthetic data: trains in seconds on a CPU."""
    page.goto("/#/launch")
    page.get_by_label("Dataset").select_option("synthetic")
    page.get_by_label("Train size").fill("192")
    page.get_by_label("Test size").fill("32")
    page.get_by_label("Architecture").select_option("pyramidnet")
    expect(page.get_by_label("Bottleneck blocks")).to_be_checked()
    page.get_by_label("Depth", exact=True).fill(depth)
    page.get_by_label("Alpha", exact=True).fill("8")
    page.get_by_label("Regularization", exact=True).select_option("shakedrop")
    page.get_by_label("Epochs", exact=True).fill(str(epochs))
    page.get_by_label("Batch size").fill("32")


def test_form_shows_only_the_fields_of_the_chosen_arch_and_method(page):
    page.goto("/#/launch")
    page.get_by_label("Architecture").select_option("shake_resnet")
    expect(page.get_by_label("Width", exact=True)).to_be_visible()
    expect(page.get_by_label("Alpha", exact=True)).to_have_count(0)
    expect(page.get_by_label("Regularization", exact=True)).to_have_value("shake_shake")
    expect(page.get_by_label("Forward")).to_be_visible()
    # The paper's defaults for the arch: Shake-Shake 26 2x96d trains 1800 epochs from lr 0.2.
    expect(page.get_by_label("Epochs", exact=True)).to_have_value("1800")
    expect(page.get_by_label("Learning rate")).to_have_value("0.2")
    page.get_by_label("Architecture").select_option("nasnet")
    expect(page.get_by_label("Forward")).to_have_count(0)
    expect(page.get_by_label("Final drop probability")).to_be_visible()
    expect(page.get_by_label("Cutout size")).to_have_value("16")


def test_preset_fills_the_form(page):
    page.goto("/#/launch")
    page.get_by_label("Preset").select_option(
        label="ShakeDrop PyramidNet-272 α200 + Random Erasing (CIFAR-10; paper 2.31%)")
    expect(page.get_by_label("Depth", exact=True)).to_have_value("272")
    expect(page.get_by_label("Alpha", exact=True)).to_have_value("200")
    expect(page.get_by_label("Regularization", exact=True)).to_have_value("shakedrop")
    # a paper preset is its table cell, and says so
    note = page.locator(".table-cell-note")
    expect(note).to_contain_text("ShakeDrop: final results, PyramidNet-272 α200 on CIFAR-10 and CIFAR-100, paper 2.31%")
    expect(note.get_by_role("link", name="its table")).to_have_attribute("href", "#/tables/shakedrop_final_results")
    expect(page.get_by_role("button", name="Launch", exact=True)).to_be_enabled()
    page.snap("launch-preset")


def test_the_summary_counts_the_settings_that_differ_from_the_papers_in_good_english(page):
    page.goto("/#/launch")
    summary = page.locator("details summary", has_text="from the paper's")
    expect(page.get_by_text("Training settings: the paper's, unchanged.")).to_be_visible()
    page.get_by_label("Epochs", exact=True).fill("300")
    expect(summary).to_have_text("1 setting differs from the paper's")
    page.get_by_label("Batch size").fill("64")
    expect(summary).to_have_text("2 settings differ from the paper's")


def test_launched_shakedrop_run_curve_grows_live(page, live):
    fill_tiny_shakedrop(page)
    page.get_by_role("button", name="Launch", exact=True).click()
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    assert live.run(run_id)["method"] == "shakedrop"

    seen = []  # the test curve's point count, sampled while the run trains
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        count = page.evaluate("() => document.getElementById('chart-error')?.data?.[1]?.x?.length || 0")
        if count and (not seen or count != seen[-1]):
            seen.append(count)
        if count == EPOCHS:
            break
        time.sleep(0.25)
    assert seen and seen[-1] == EPOCHS, f"the curve never reached {EPOCHS} points: {seen}"
    assert len(seen) >= 2 and seen == sorted(seen), f"the curve did not grow while the run trained: {seen}"
    expect(page.locator(".page-head .status")).to_have_text(re.compile("succeeded", re.I), timeout=60_000)
    expect(page.get_by_text("Test error (last epoch)")).to_be_visible()
    page.snap("run-page")


def test_bad_field_shows_the_api_message_inline(page):
    page.console_watch.allow(r"status of 422")  # Chromium logs the 422 response itself
    fill_tiny_shakedrop(page, depth="100")
    page.get_by_role("button", name="Launch", exact=True).click()
    depth = page.get_by_label("Depth", exact=True)
    error = page.locator("#f-model-depth-error")
    expect(error).to_contain_text("PyramidNet with bottleneck blocks needs depth = 9n+2")
    expect(depth).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert").filter(has_text="Nothing was launched")).to_be_visible()
    assert page.url.endswith("#/launch")
    page.snap("launch-422")
    depth.fill("20")  # editing the field clears its message
    expect(error).to_be_hidden()


def test_a_run_on_two_gpus_is_launched_from_the_form_once_its_batch_splits_over_them(page, live):
    page.console_watch.allow(r"status of 422")
    fill_tiny_shakedrop(page, epochs=2)
    page.get_by_label("GPUs", exact=True).fill("2")
    page.get_by_role("button", name="Launch", exact=True).click()
    expect(page.locator("#f-gpus-error")).to_contain_text(
        "2 GPUs cannot share a batch of 32 split into 1 group of optim.replica_batch 32")
    expect(page.get_by_label("GPUs", exact=True)).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Images per replica (batch norm group)").fill("16")
    page.get_by_role("button", name="Launch", exact=True).click()
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    run = live.run(run_id)
    assert (run["gpus"], run["spec"]["optim"]["replica_batch"]) == (2, 16)
    expect(page.locator("dt:text-is('GPUs') + dd")).to_have_text("2 at once")
    live.post(f"/api/runs/{run_id}/cancel")


def test_several_seeds_launch_an_experiment_and_open_their_comparison(page, live):
    fill_tiny_shakedrop(page, epochs=2)
    page.get_by_label("Seeds", exact=True).fill("2")
    page.get_by_label("Name", exact=True).fill("two seeds from the form")
    page.get_by_role("button", name="Launch", exact=True).click()
    page.wait_for_url(re.compile(r"#/compare\?ids=\d+,\d+$"))
    ids = [int(i) for i in page.url.split("ids=")[1].split(",")]
    assert sorted(live.run(i)["seed"] for i in ids) == [0, 1]
    expect(page.locator(".compare-table tbody tr")).to_have_count(1)  # one seed group


def test_enter_in_a_field_does_not_launch(page, live):
    """The form opens on an 1800-epoch PyramidNet-272: only the Launch button may queue it."""
    before = live.get("/api/runs", params={"limit": 1}).json()["total"]
    page.goto("/#/launch")
    name = page.get_by_label("Name", exact=True)
    name.fill("typed a name, pressed Enter")
    name.press("Enter")
    page.get_by_label("Epochs", exact=True).press("Enter")
    page.wait_for_timeout(1000)
    assert page.url.endswith("#/launch")
    assert live.get("/api/runs", params={"limit": 1}).json()["total"] == before


def test_every_bad_field_is_reported_in_one_round(page):
    page.console_watch.allow(r"status of 422")
    fill_tiny_shakedrop(page, depth="100")
    page.get_by_label("Seeds", exact=True).fill("0")  # the form's own field, beside the API's messages
    page.get_by_role("button", name="Launch", exact=True).click()
    expect(page.locator("#f-model-depth-error")).to_contain_text("depth = 9n+2")
    expect(page.locator("#f-seeds-error")).to_contain_text("a whole number from 1 to 100")
    expect(page.get_by_role("alert").filter(has_text="2 fields need a change")).to_be_visible()
    # Several seeds go to the experiments route, which checks the spec only after the rest of the body.
    page.get_by_label("Seeds", exact=True).fill("2")
    page.get_by_label("Tags").fill("b@d")
    page.get_by_role("button", name="Launch", exact=True).click()
    expect(page.locator("#f-tags-error")).to_be_visible()
    expect(page.locator("#f-model-depth-error")).to_contain_text("depth = 9n+2")
    assert page.url.endswith("#/launch")


def test_no_select_cuts_its_choices_short(page):
    """Each choice's text fits its select (less the arrow), for the default form and other archs' fields."""
    page.goto("/#/launch")
    for arch in ("pyramidnet", "shake_resnet", "nasnet"):
        page.get_by_label("Architecture").select_option(arch)
        cut = page.evaluate("""() => {
            const ctx = document.createElement('canvas').getContext('2d');
            const out = [];
            for (const select of document.querySelectorAll('.launch-layout select')) {
                const style = getComputedStyle(select);
                ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
                const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
                for (const option of select.options) {
                    if (ctx.measureText(option.text).width > room) out.push(`${select.id}: ${option.text}`);
                }
            }
            return out;
        }""")
        assert not cut, f"{arch}: cut short: {cut}"


def test_a_setting_added_from_compare_joins_that_comparison(page, live):
    from .runs import create_run, tiny_spec

    first = create_run(live, tiny_spec(optim={"epochs": 2}), name="first setting")
    page.goto(f"/#/compare?ids={first['id']}")
    page.get_by_role("link", name="Add a setting…").click()
    page.wait_for_url(re.compile(r"#/launch\?"))
    expect(page.get_by_text(f"What you launch joins the comparison of runs #{first['id']}.")).to_be_visible()
    page.get_by_label("Final survival probability (p_L)").fill("0.8")
    page.get_by_label("Seeds", exact=True).fill("2")
    page.get_by_role("button", name="Launch", exact=True).click()
    page.wait_for_url(re.compile(r"#/compare\?ids=\d+,\d+,\d+$"))
    ids = [int(i) for i in page.url.split("ids=")[1].split(",")]
    assert ids[0] == first["id"] and len(ids) == 3
    assert {live.run(i)["spec"]["regularization"]["p_last"] for i in ids} == {0.5, 0.8}
    expect(page.locator(".compare-table tbody tr")).to_have_count(2)  # both settings, not only the new one
