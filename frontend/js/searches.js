// The searches, newest first: status, proposals, best objective and GPU-hours; "New search" opens the form.

import { api, isAbort } from "./api.js";
import { clear, emptyState, errorBox, h, loading, statusBadge } from "./dom.js";
import { DASH, number, relativeTime, specValue } from "./format.js";
import { fieldLabel } from "./labels.js";
import { poll } from "./poll.js";

export function mount(root, ctx) {
  ctx.setTitle("Searches");
  const list = h("div", {}, loading("Loading the searches…"));
  clear(root,
    h("div", { class: "page-head" }, h("div", {}, h("h1", { text: "Searches" }),
      h("p", { class: "subtitle", text: "Experiments that propose their own runs (Optuna), judged on a validation split." })),
    h("a", { class: "button primary", href: "#/launch?mode=search", text: "New search" })),
    list);
  const poller = poll(async () => {
    try {
      draw(list, await api.listSearches({ limit: 200 }, { signal: ctx.signal }));
    } catch (error) {
      if (isAbort(error)) return false;
      clear(list, errorBox(error, { title: "The searches could not be loaded" }));
    }
    return true;
  }, 5000);
  return () => poller.stop();
}

function draw(list, searches) {
  if (!searches.length) {
    clear(list, emptyState("No search yet", h("p", {}, h("a", { href: "#/launch?mode=search", text: "Start one" }), " from the launch form.")));
    return;
  }
  clear(list, h("div", { class: "card table-scroll" }, h("table", { class: "data-table" },
    h("thead", {}, h("tr", {}, ["Search", "Status", "Space", "Proposals", "Best", "GPU-hours", "Created"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, searches.map((s) => h("tr", {},
      h("td", {}, h("a", { href: `#/searches/${s.id}`, text: s.name }), h("div", { class: "muted", text: `#${s.id}` })),
      h("td", {}, statusBadge(s.status)),
      h("td", { text: Object.keys(s.space).map(fieldLabel).join(", ") }),
      h("td", { class: "num", text: `${s.proposals.total} (${s.proposals.pruned || 0} pruned)` }),
      h("td", { class: "num", text: s.best ? `${specValue(s.best.value)} (${s.objective})` : DASH }),
      h("td", { class: "num", text: `${number(s.gpu_hours_spent, 3)}${s.budget_gpu_hours ? ` / ${number(s.budget_gpu_hours, 2)}` : ""}` }),
      h("td", { text: relativeTime(s.created_at) })))))));
}
