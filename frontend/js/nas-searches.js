// The NASNet architecture searches, newest first (searcher, children, PPO updates, best reward), and the form
// that starts one: the controller of the paper or random search, over the children's setting.

import { api, isAbort } from "./api.js";
import { clear, emptyState, errorBox, h, loading, statusBadge, toast } from "./dom.js";
import { DASH, relativeTime } from "./format.js";
import { poll } from "./poll.js";

// The children's data: the paper's (5,000 of CIFAR-10's training images held out) or a small smoke test.
const DATASETS = {
  cifar10: { label: "CIFAR-10, 5,000 held out (the paper)", dataset: { name: "cifar10", validation: 5000 } },
  digits: { label: "digits, 300 held out (smoke test)", dataset: { name: "digits", validation: 300 } },
  synthetic: { label: "synthetic, 64 held out (smoke test)", dataset: { name: "synthetic", validation: 64 } },
};

export function mount(root, ctx) {
  ctx.setTitle("NAS");
  const list = h("div", {}, loading("Loading the NASNet searches…"));
  clear(root,
    h("div", { class: "page-head" }, h("div", {}, h("h1", { text: "NASNet architecture searches" }),
      h("p", { class: "subtitle", text: "The NASNet paper's search (Zoph et al. 2018): a controller trained with PPO samples cells, each child is a nasnet run, its validation accuracy the reward; random search beside it as the baseline." }))),
    createForm(), list);
  const poller = poll(async () => {
    try {
      draw(list, await api.listNas({ limit: 200 }, { signal: ctx.signal }));
    } catch (error) {
      if (isAbort(error)) return false;
      clear(list, errorBox(error, { title: "The NASNet searches could not be loaded" }));
    }
    return true;
  }, 5000);
  return () => poller.stop();
}

function field(id, label, input, hint) {
  return h("div", { class: "field" }, h("label", { for: id, text: label }), input, hint ? h("p", { class: "hint", text: hint }) : null);
}

function numberInput(id, value, min, max) {
  return h("input", { id, type: "number", value: String(value), min: String(min), max: String(max), step: "1", required: true });
}

function createForm() {
  const name = h("input", { id: "nas-name", type: "text", value: "NASNet cells", required: true, maxLength: 200 });
  const searcher = h("select", { id: "nas-searcher" },
    h("option", { value: "controller", text: "Controller (LSTM, PPO)" }), h("option", { value: "random", text: "Random search" }));
  const dataset = h("select", { id: "nas-dataset" }, Object.entries(DATASETS).map(([value, d]) => h("option", { value, text: d.label })));
  const cells = numberInput("nas-cells", 2, 1, 20);
  const filters = numberInput("nas-filters", 32, 4, 512);
  const epochs = numberInput("nas-epochs", 20, 1, 10000);
  const children = numberInput("nas-children", 100, 1, 100000);
  const concurrent = numberInput("nas-concurrent", 4, 1, 1000);
  const seed = numberInput("nas-seed", 0, 0, 2147483647);
  const problem = h("div", { attrs: { role: "alert" } });
  const form = h("form", { class: "card", attrs: { "aria-label": "New NASNet search" } },
    h("h2", { text: "New NASNet search" }),
    h("div", { class: "form-grid" },
      field("nas-name", "Name", name), field("nas-searcher", "Searcher", searcher, "Run both with the same setting to compare them."),
      field("nas-dataset", "Children's data", dataset),
      field("nas-cells", "N (cells per stage)", cells, "The paper's search: 2"),
      field("nas-filters", "F (filters)", filters), field("nas-epochs", "Epochs per child", epochs, "The paper's search: 20, cosine"),
      field("nas-children", "Children in all", children, "The paper: 20,000"), field("nas-concurrent", "At once", concurrent),
      field("nas-seed", "Seed", seed)),
    problem,
    h("button", { type: "submit", class: "button primary", text: "Start the search" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(problem);
    const body = {
      name: name.value, searcher: searcher.value, seed: Number(seed.value),
      max_children: Number(children.value), max_concurrent: Number(concurrent.value),
      spec: { dataset: DATASETS[dataset.value].dataset, model: { arch: "nasnet", cells: Number(cells.value), filters: Number(filters.value) },
        regularization: { method: "none" }, optim: { epochs: Number(epochs.value) } },
    };
    try {
      const search = await api.createNas(body);
      toast(`NASNet search #${search.id} started.`);
      location.hash = `#/nas/${search.id}`;
    } catch (error) {
      clear(problem, h("p", { class: "alert alert-error", text: error.message }));
    }
  });
  return form;
}

function draw(list, searches) {
  if (!searches.length) {
    clear(list, emptyState("No NASNet search yet", h("p", { text: "Start one with the form above." })));
    return;
  }
  clear(list, h("div", { class: "card table-scroll" }, h("table", { class: "data-table" },
    h("thead", {}, h("tr", {}, ["Search", "Status", "Searcher", "Children", "PPO updates", "Best reward", "Created"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, searches.map((s) => h("tr", {},
      h("td", {}, h("a", { href: `#/nas/${s.id}`, text: s.name }), h("div", { class: "muted", text: `#${s.id}` })),
      h("td", {}, statusBadge(s.status), s.started ? null : h("div", { class: "muted", text: "waiting for the controller process" })),
      h("td", { text: s.searcher }),
      h("td", { class: "num", text: `${s.children_made} / ${s.max_children}` }),
      h("td", { class: "num", text: s.searcher === "controller" ? String(s.updates) : DASH }),
      h("td", { class: "num", text: s.best ? s.best.reward.toFixed(4) : DASH }),
      h("td", { text: relativeTime(s.created_at) })))))));
}
