// The tables page's statistics: a cell's 95% interval and its verdict against the paper (from the server,
// backend/stats.py), and in the Reproduce dialog how many seeds a cell needs to tell a difference apart and
// what they would cost.

import { api } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { fixed } from "./format.js";
import { planResult } from "./stats-panel.js";

const MAX_SEEDS_PER_REQUEST = 20; // ReproduceRequest.seeds' limit

/** A line under a cell's numbers: its interval and verdict, the full sentence as a tooltip. */
export function verdictLine(r) {
  if (!r) return null;
  if (!r.ci95) return h("div", { class: "cell-meta cell-verdict", dataset: { verdict: "none" }, text: "one run: no interval" });
  const interval = `95% CI ${fixed(r.ci95[0])}–${fixed(r.ci95[1])}`;
  if (!r.verdict) return h("div", { class: "cell-meta cell-verdict", title: r.note || "", text: interval });
  const v = r.verdict;
  const title = `${v.sentence}. ${v.test}${v.p_value == null ? "" : `: p = ${v.p_value < 0.001 ? v.p_value.toExponential(1) : fixed(v.p_value, 3)}`}.`;
  return h("div", { class: "cell-meta cell-verdict", title, dataset: { verdict: v.inside_ci95 ? "consistent" : "outside" } },
    `${interval} · `, v.inside_ci95 ? h("span", { class: "within", text: "consistent with the paper" })
      : h("span", { class: "outside", text: `paper ${v.reported < r.mean ? "below" : "above"} our interval` }));
}

/** "How many seeds?" in the Reproduce dialog; `useSeeds(n)` puts the answer in the seeds field. */
export function seedsPlanner(table, useSeeds) {
  const delta = h("input", { id: "plan-cell-delta", type: "number", step: "any", min: 0, value: "0.1", style: "max-width: 120px" });
  const sigma = h("input", { id: "plan-cell-sigma", type: "number", step: "any", min: 0, style: "max-width: 120px", attrs: { placeholder: "pooled" } });
  const out = h("div", { class: "plan-result", attrs: { "aria-live": "polite" } });
  let timer = null;
  // σ pooled over the cells needs one with two finished seeds; without one, ask for σ rather than for a 422.
  const measured = table.rows.some((row) => row.cells.some((c) => c?.reproduced?.std != null));
  const noSigma = () => h("p", { class: "hint", text: "No cell has two finished seeds yet to measure the seeds' spread: enter σ." });
  const plan = async () => {
    const body = { delta: Number(delta.value), table_id: table.id, profile: table.profile.name };
    if (sigma.value !== "") body.sigma = Number(sigma.value);
    else if (!measured) { clear(out, noSigma()); return; }
    try {
      const r = await api.seedsNeeded(body);
      const n = r.needed.per_group;
      clear(out, planResult(r), n && n <= MAX_SEEDS_PER_REQUEST
        ? h("button", { type: "button", class: "button small", text: `Use ${n} seeds per cell`, onClick: () => useSeeds(n) })
        : h("p", { class: "hint", text: `More than the ${MAX_SEEDS_PER_REQUEST} seeds one request queues.` }));
    } catch (error) {
      const sigmaMissing = error.fields?.some((f) => f.field === "sigma");
      clear(out, sigmaMissing ? noSigma() : errorBox(error, { title: "No plan" }));
    }
  };
  for (const input of [delta, sigma]) input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(plan, 300); });
  plan();
  return h("div", { class: "seeds-planner" },
    h("h3", { text: "How many seeds?" }),
    h("div", { class: "preset-row" },
      h("div", { class: "field", style: "flex: 0 1 auto" }, h("label", { for: "plan-cell-delta", text: "Difference to tell apart (Δ, points of error)" }), delta),
      h("div", { class: "field", style: "flex: 0 1 auto" }, h("label", { for: "plan-cell-sigma", text: "Seed spread σ (empty: pooled over this table's cells)" }), sigma)),
    out,
    h("p", { class: "hint", text: "Seeds a cell needs for a two-sided two-sample t-test to tell two cells' means apart by Δ at 5% significance and 80% power (noncentral t); the cost counts only the runs the cells still lack." }));
}
