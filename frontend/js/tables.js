// The papers' tables: one card per table with how many of its cells have runs.

import { api, isAbort } from "./api.js";
import { clear, emptyState, errorBox, h, loading } from "./dom.js";
import { number } from "./format.js";

export const CELL_STATUSES = [
  ["done", "done"], ["running", "running"], ["queued", "queued"], ["missing", "no runs yet"],
];

export function mount(root, ctx) {
  ctx.setTitle("Tables");
  const body = h("div", {}, loading("Loading the papers' tables…"));
  root.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", { text: "The papers' tables" }),
      h("p", { class: "subtitle", text: "Each number the papers report, beside the mean of our runs of the same spec." }))),
    body);
  load();

  async function load() {
    try {
      const tables = await api.tables({ signal: ctx.signal });
      const levels = Object.assign({}, ...tables.map((t) => t.verification_levels || {}));
      clear(body, tables.length ? [h("div", { class: "table-cards" }, tables.map(card)), verificationLegend(levels)]
        : emptyState("No tables are defined on this server."));
    } catch (error) {
      if (isAbort(error)) return;
      if (error.status === 404) clear(body, emptyState("This server has no tables API yet.", h("p", { text: "Update ShakeLab to see the papers' tables here." })));
      else clear(body, errorBox(error, { title: "The tables could not be loaded", retry: load }));
    }
  }
}

function card(table) {
  return h("article", { class: "card table-card" },
    h("h2", {}, h("a", { href: `#/tables/${encodeURIComponent(table.id)}`, text: table.title })),
    h("p", { class: "muted", style: "margin: 0; font-size: 0.8125rem", text: table.source }),
    h("p", { class: "muted", style: "margin: 0; font-size: 0.8125rem" }, `Dataset: ${table.dataset} · Verification: ${table.verification}`),
    summaryBar(table.summary),
    h("div", { style: "margin-top: auto" }, h("a", { class: "button small", href: `#/tables/${encodeURIComponent(table.id)}`, text: "Open table" })));
}

/** What each verification level means (the API's words), for the levels on the page. */
export function verificationLegend(levels) {
  const entries = Object.entries(levels || {});
  if (!entries.length) return null;
  return h("section", { class: "card verification-legend", attrs: { "aria-label": "Verification levels" } },
    h("h2", { text: "Verification levels" }),
    h("p", { class: "muted", style: "margin-top: 0; font-size: 0.8125rem",
      text: "How each reported number was checked against the paper, strongest first (docs/tables.md lists the sources)." }),
    h("dl", { class: "kv" }, entries.map(([level, meaning]) => [h("dt", { text: level }), h("dd", { text: meaning })])));
}

/** Cells by status as a bar, with the same counts in words (colour is never the only cue). */
export function summaryBar(summary) {
  const total = summary.cells || 1;
  return h("div", {},
    h("div", { class: "summary-bar", attrs: { "aria-hidden": "true" } },
      CELL_STATUSES.map(([status]) => (summary[status] ? h("span", { class: `cell-${status} bg-cell`, style: `width: ${(100 * summary[status]) / total}%` }) : null))),
    h("div", { class: "legend", style: "margin-top: 6px" },
      `${number(summary.cells)} cells:`,
      CELL_STATUSES.map(([status, text]) => h("span", {}, h("span", { class: `swatch cell-${status} bg-cell`, style: "margin-right: 0" }), `${summary[status]} ${text}`))));
}
