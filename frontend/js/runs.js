// Runs: every run with its status and progress, filtered and sorted on the server, updated live.

import { api, isAbort } from "./api.js";
import { clear, emptyState, errorBox, h, loading, statusBadge, uniqueId } from "./dom.js";
import { dateTime, duration, number, percent, relativeTime } from "./format.js";
import { archLabel, datasetLabel, methodLabel, modelName } from "./labels.js";
import { poll } from "./poll.js";
import { cancelButton, deleteRuns, isActive, rerunButton, setArchived } from "./run-actions.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 2000;

const STATUS_CHOICES = [
  ["", "Any status"], ["active", "Active (queued or running)"], ["queued", "Queued"], ["running", "Running"],
  ["succeeded", "Succeeded"], ["failed", "Failed"], ["cancelled", "Cancelled"], ["pruned", "Pruned"],
];
const ORDER_CHOICES = [
  ["created", "Newest first"], ["-created", "Oldest first"], ["last", "Last test error"],
  ["best", "Best epoch (chosen on test)"], ["name", "Name"], ["status", "Status"],
];
const ARCHIVED_CHOICES = [["", "Active runs"], ["true", "Archived runs"], ["any", "Active and archived"]];
const FILTER_KEYS = ["status", "arch", "method", "dataset", "tag", "archived"];

export function mount(root, ctx) {
  ctx.setTitle("Runs");
  const state = {
    filters: Object.fromEntries(FILTER_KEYS.map((k) => [k, ctx.query.get(k) || ""])),
    order: ctx.query.get("order") || "created",
    offset: Number(ctx.query.get("offset")) || 0,
    selected: new Set(),
    known: new Map(), // every run seen, by id: what the bulk actions act on
    rows: new Map(),
    loaded: false,
  };

  const compareButton = h("button", { type: "button", class: "button", disabled: true, onClick: compareSelected });
  const archiveButton = h("button", { type: "button", class: "button", disabled: true, onClick: archiveSelected });
  const deleteButton = h("button", { type: "button", class: "button danger", disabled: true, onClick: deleteSelected });
  const head = h("div", { class: "page-head" },
    h("div", {}, h("h1", { text: "Runs" }), h("p", { class: "subtitle", text: "Every training run, newest first. Tick runs to compare, archive or delete them." })),
    h("div", { class: "actions" }, compareButton, archiveButton, deleteButton, h("a", { class: "button primary", href: "#/launch", text: "Launch a run" })));
  const problem = h("div", { attrs: { role: "status", "aria-live": "polite" } });
  const body = h("div", {}, loading("Loading runs…"));
  const pager = h("div", { class: "pager" });
  root.append(head, toolbar(), problem, body, pager);
  updateCompareButton();

  // What the cells may do; the functions are hoisted, the poller exists by the time a cell is clicked.
  const actions = {
    isSelected: (id) => state.selected.has(id),
    toggleSelected,
    filterByTag: (tag) => setFilter("tag", tag),
    refresh: () => poller.now(),
  };
  const poller = poll(refresh, REFRESH_MS);
  return () => poller.stop();

  // ------------------------------------------------------------------------------ filters and sorting

  function toolbar() {
    return h("form", { class: "toolbar", attrs: { role: "search", "aria-label": "Filter runs" }, onSubmit: (e) => e.preventDefault() },
      selectField("Status", "status", STATUS_CHOICES),
      selectField("Architecture", "arch", [["", "Any architecture"]], (c) => c.archs.map((a) => [a.arch, archLabel(a.arch)])),
      selectField("Regularization", "method", [["", "Any regularization"]], (c) => c.methods.map((m) => [m.method, methodLabel(m.method)])),
      selectField("Dataset", "dataset", [["", "Any dataset"]], (c) => c.datasets.map((d) => [d, datasetLabel(d)])),
      tagField(),
      selectField("Show", "archived", ARCHIVED_CHOICES),
      orderField());
  }

  function selectField(label, key, fixed, fromCatalog) {
    const id = uniqueId(`filter-${key}`);
    const select = h("select", { id, onChange: () => setFilter(key, select.value) },
      fixed.map(([value, text]) => h("option", { value, text })));
    select.value = state.filters[key];
    if (fromCatalog) {
      api.catalog().then((catalog) => {
        select.append(...fromCatalog(catalog).map(([value, text]) => h("option", { value, text })));
        select.value = state.filters[key];
      }).catch(() => {}); // the list itself reports an unreachable server
    }
    return h("div", { class: "field" }, h("label", { for: id, text: label }), select);
  }

  function tagField() {
    const id = uniqueId("filter-tag");
    const input = h("input", { id, type: "search", value: state.filters.tag, placeholder: "any tag", attrs: { autocomplete: "off" } });
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => setFilter("tag", input.value.trim()), 300);
    });
    state.tagInput = input;
    return h("div", { class: "field" }, h("label", { for: id, text: "Tag" }), input);
  }

  function orderField() {
    const id = uniqueId("order");
    const select = h("select", { id, onChange: () => setOrder(select.value) },
      ORDER_CHOICES.map(([value, text]) => h("option", { value, text })));
    select.value = state.order;
    state.orderSelect = select;
    return h("div", { class: "field" }, h("label", { for: id, text: "Sort by" }), select);
  }

  function setFilter(key, value) {
    state.filters[key] = value;
    if (key === "tag" && state.tagInput.value.trim() !== value) state.tagInput.value = value;
    state.offset = 0;
    saveQuery();
    state.loaded = false; // new filters: the next answer replaces the table rather than patching it
    poller.now();
  }

  function setOrder(order) {
    state.order = order;
    state.orderSelect.value = order;
    saveQuery();
    poller.now();
  }

  function saveQuery() {
    ctx.setQuery({ ...state.filters, order: state.order === "created" ? "" : state.order, offset: state.offset || "" });
  }

  function apiQuery() {
    const { status, ...rest } = state.filters;
    return {
      ...rest,
      status: status === "active" ? ["queued", "running"] : status,
      order: state.order, limit: PAGE_SIZE, offset: state.offset,
    };
  }

  // ------------------------------------------------------------------------------ loading and drawing

  async function refresh() {
    try {
      const page = await api.listRuns(apiQuery(), { signal: ctx.signal });
      clear(problem);
      draw(page);
    } catch (error) {
      if (isAbort(error)) return false;
      if (!state.loaded) clear(body, errorBox(error, { title: "The runs could not be loaded", retry: () => poller.now() }));
      else clear(problem, h("p", { class: "alert alert-warn", text: `Live updates paused: ${error.message}` }));
    }
    return true;
  }

  function draw(page) {
    if (page.total === 0) {
      state.rows.clear();
      state.table = null;
      clear(body, noRuns());
      clear(pager);
      state.loaded = true;
      return;
    }
    if (!state.table || !state.loaded) {
      state.rows.clear();
      state.tbody = h("tbody");
      state.selectAll = h("input", { type: "checkbox", attrs: { "aria-label": "Select every run on this page" }, onChange: selectPage });
      state.table = h("table", { class: "data-table runs-table" }, header(), state.tbody);
      clear(body, h("div", { class: "card", style: "padding: 4px 8px" }, h("div", { class: "table-scroll" }, state.table)));
    }
    state.loaded = true;
    state.pageRuns = page.runs;
    updateRows(page.runs);
    drawPager(page);
  }

  function noRuns() {
    const filtered = Object.values(state.filters).some(Boolean);
    if (filtered) {
      return emptyState("No runs match these filters.",
        h("button", { type: "button", class: "button", text: "Clear filters", onClick: clearFilters }));
    }
    return emptyState("No runs yet — launch one.",
      h("p", { text: "Pick a preset from the papers or the small demo on the bundled digits (a few minutes on a CPU), then press Launch." }),
      h("a", { class: "button primary", href: "#/launch", text: "Launch a run" }));
  }

  function clearFilters() {
    for (const key of FILTER_KEYS) state.filters[key] = "";
    for (const select of root.querySelectorAll(".toolbar select")) if (select !== state.orderSelect) select.value = "";
    state.tagInput.value = "";
    setFilter("status", "");
  }

  function header() {
    const sortable = (label, order, className, note) => h("th", { class: className, attrs: { scope: "col" } },
      h("button", { type: "button", class: "sort-button", text: label, attrs: { "aria-pressed": String(state.order === order) },
        title: `Sort by ${label.toLowerCase()}${note ? `. ${note}` : ""}`, onClick: () => setOrder(order) }));
    return h("thead", {}, h("tr", {},
      h("th", { attrs: { scope: "col" } }, state.selectAll),
      sortable("Status", "status"),
      sortable("Name", "name"),
      h("th", { attrs: { scope: "col" }, text: "Model" }),
      h("th", { class: "col-method", attrs: { scope: "col" }, text: "Regularization" }),
      h("th", { class: "col-dataset", attrs: { scope: "col" }, text: "Dataset" }),
      h("th", { attrs: { scope: "col" }, text: "Progress" }),
      sortable("Last test error", "last", "num"),
      sortable("Best epoch (chosen on test)", "best", "num",
        "Each run's lowest test error: an epoch picked by looking at the test set, so optimistic. The papers report the last epoch."),
      h("th", { attrs: { scope: "col" } }, h("span", { class: "visually-hidden", text: "Actions" }))));
  }

  /** Rows are kept per run and each cell redrawn only when what it shows changed, so checkboxes, focus
   *  and a half-confirmed Cancel survive the 2-second refresh. */
  function updateRows(runs) {
    const seen = new Set();
    let previous = null;
    for (const run of runs) {
      seen.add(run.id);
      state.known.set(run.id, run);
      let row = state.rows.get(run.id);
      if (!row) {
        row = { tr: h("tr"), cells: COLUMNS.map((column) => ({ column, td: h("td", { class: column.className || "", dataset: column.label ? { label: column.label } : {} }), key: null })) };
        row.tr.append(...row.cells.map((c) => c.td));
        state.rows.set(run.id, row);
      }
      for (const cell of row.cells) {
        const key = cell.column.key(run);
        if (key !== cell.key) {
          cell.key = key;
          clear(cell.td, cell.column.render(run, actions));
        }
      }
      row.tr.classList.toggle("selected", state.selected.has(run.id));
      const expectedPosition = previous ? previous.nextSibling : state.tbody.firstChild;
      if (expectedPosition !== row.tr) state.tbody.insertBefore(row.tr, expectedPosition);
      previous = row.tr;
    }
    for (const [id, row] of state.rows) {
      if (!seen.has(id)) { row.tr.remove(); state.rows.delete(id); }
    }
    state.selectAll.checked = runs.length > 0 && runs.every((r) => state.selected.has(r.id));
  }

  function drawPager(page) {
    const first = state.offset + 1;
    const last = state.offset + page.runs.length;
    const active = page.runs.filter(isActive).length;
    clear(pager,
      h("span", { class: "live-note" }, `${number(first)}–${number(last)} of ${number(page.total)} runs`,
        active ? ` · ${active} active, updating live` : ""),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button small", text: "Previous", disabled: state.offset === 0, onClick: () => turnPage(-1) }),
        h("button", { type: "button", class: "button small", text: "Next", disabled: last >= page.total, onClick: () => turnPage(1) })));
  }

  function turnPage(direction) {
    state.offset = Math.max(0, state.offset + direction * PAGE_SIZE);
    saveQuery();
    poller.now();
  }

  // ------------------------------------------------------------------------------ selection and actions

  function toggleSelected(id, on) {
    if (on) state.selected.add(id); else state.selected.delete(id);
    state.rows.get(id)?.tr.classList.toggle("selected", on);
    updateCompareButton();
  }

  function selectPage() {
    for (const run of state.pageRuns || []) {
      toggleSelected(run.id, state.selectAll.checked);
      const box = state.rows.get(run.id)?.tr.querySelector("input[type=checkbox]");
      if (box) box.checked = state.selected.has(run.id);
    }
  }

  function updateCompareButton() {
    const n = state.selected.size;
    const suffix = n ? ` (${n})` : "";
    compareButton.disabled = archiveButton.disabled = deleteButton.disabled = n === 0;
    compareButton.textContent = `Compare selected${suffix}`;
    archiveButton.textContent = `${restoring() ? "Restore" : "Archive"}${suffix}`;
    archiveButton.title = restoring() ? "Bring the ticked runs back to the list of active runs"
      : "Take the ticked runs out of the default list (Show: Archived runs lists them)";
    deleteButton.textContent = `Delete${suffix}`;
  }

  /** Ticked runs that are archived are restored; otherwise the ticked runs are archived. */
  function restoring() {
    const runs = selectedRuns();
    return runs.length > 0 && runs.every((run) => run.archived_at);
  }

  function selectedRuns() {
    return [...state.selected].map((id) => state.known.get(id)).filter(Boolean);
  }

  async function archiveSelected() {
    const archive = !restoring();
    archiveButton.disabled = true;
    const changed = await setArchived([...state.selected], archive);
    forget(changed);
  }

  async function deleteSelected() {
    deleteButton.disabled = true;
    const deleted = await deleteRuns(selectedRuns());
    forget(deleted);
  }

  function forget(ids) {
    for (const id of ids) state.selected.delete(id);
    updateCompareButton();
    poller.now();
  }

  function compareSelected() {
    location.hash = `#/compare?ids=${[...state.selected].sort((a, b) => a - b).join(",")}`;
  }

}

// ------------------------------------------------------------------------------------ the columns

function progressCell(run) {
  const width = `${Math.round(run.progress * 100)}%`;
  const barClass = { succeeded: "done", failed: "failed", cancelled: "cancelled", pruned: "pruned" }[run.status] || "";
  let sub;
  if (run.status === "running") sub = run.eta_seconds != null ? `ETA ${duration(run.eta_seconds)}` : "first epoch running…";
  else if (run.status === "queued") sub = run.epochs_done ? "queued to resume" : "waiting for a worker";
  else sub = run.train_seconds ? `trained ${duration(run.train_seconds)}` : "";
  return h("div", { class: "progress" },
    h("div", { class: "cell-sub" }, `epoch ${number(run.epochs_done)} of ${number(run.epochs)}`),
    h("div", { class: `progress-bar ${barClass}`, attrs: { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(run.epochs), "aria-valuenow": String(run.epochs_done), "aria-label": `Run ${run.id} progress` } },
      h("span", { style: `width: ${width}` })),
    sub && h("div", { class: "cell-sub", text: sub }));
}

const COLUMNS = [
  {
    className: "cell-select",
    key: () => "select",
    render: (run, actions) => h("input", { type: "checkbox", checked: actions.isSelected(run.id),
      attrs: { "aria-label": `Select run ${run.id} (${run.name})` },
      onChange: (e) => actions.toggleSelected(run.id, e.target.checked) }),
  },
  {
    label: "Status",
    key: (run) => `${run.status}|${run.cancel_requested}`,
    render: (run) => [statusBadge(run.status),
      run.cancel_requested && run.status === "running" ? h("div", { class: "cell-sub", text: "stopping…" }) : null],
  },
  {
    className: "cell-name",
    key: (run) => JSON.stringify([run.name, run.tags, run.archived_at, relativeTime(run.created_at)]),
    render: (run, actions) => [
      h("a", { class: "run-name", href: `#/runs/${run.id}`, text: run.name }),
      run.archived_at ? h("span", { class: "badge-archived", text: "archived", title: `Archived ${dateTime(run.archived_at)}` }) : null,
      h("div", { class: "cell-sub" }, `#${run.id} · seed ${run.seed} · `, h("time", { dateTime: run.created_at, title: dateTime(run.created_at), text: relativeTime(run.created_at) })),
      run.tags.length ? h("div", {}, run.tags.map((tag) => h("button", { type: "button", class: "tag", text: tag, title: `Show runs tagged ${tag}`, onClick: () => actions.filterByTag(tag) }))) : null,
    ],
  },
  {
    label: "Model", key: (run) => run.spec_key,
    // In a mid-width window the regularization and dataset columns fold into this cell (app.css).
    render: (run) => [h("span", { title: archLabel(run.arch), text: modelName(run.spec.model) }),
      h("div", { class: "cell-sub mid-only", text: `${methodLabel(run.method)} · ${datasetLabel(run.dataset)}` })],
  },
  { label: "Regularization", className: "col-method", key: (run) => run.method, render: (run) => methodLabel(run.method) },
  { label: "Dataset", className: "col-dataset", key: (run) => run.dataset, render: (run) => datasetLabel(run.dataset) },
  { label: "Progress", key: (run) => JSON.stringify([run.status, run.epochs_done, Math.round((run.eta_seconds || 0) / 10)]), render: progressCell },
  { label: "Last test error", className: "num", key: (run) => String(run.last_test_error), render: (run) => h("strong", { text: percent(run.last_test_error) }) },
  { label: "Best epoch (test)", className: "num muted", key: (run) => String(run.best_test_error), render: (run) => percent(run.best_test_error) },
  {
    label: "Actions",
    className: "cell-actions",
    key: (run) => `${run.status}|${run.cancel_requested}`,
    render: (run, actions) => h("div", { class: "actions" },
      isActive(run) && !run.cancel_requested ? cancelButton(run, actions.refresh) : null,
      rerunButton(run, actions.refresh),
      rerunButton(run, actions.refresh, { newSeed: true })),
  },
];

