// One search: its progress and budget, the best proposal, the objective of every proposal over time, the
// parameters against the objective (parallel coordinates and one scatter per parameter), their importance,
// and every run's validation curve (pruned runs faded). Live while the search runs, like the run page.

import { api, isAbort } from "./api.js";
import { baseLayout, loadPlotly, PALETTE, PLOT_CONFIG, withAlpha } from "./charts.js";
import { clear, errorBox, h, loading, statusBadge } from "./dom.js";
import { dateTime, DASH, number, specValue } from "./format.js";
import { fieldLabel } from "./labels.js";
import { poll } from "./poll.js";
import { stopButtons } from "./stop-buttons.js";
import { intervalDimensions, intervalErrorBars, intervalHover } from "./search-stats.js";

const REFRESH_MS = 3000;
const STATE_COLORS = { complete: PALETTE[0], pruned: PALETTE[5], failed: PALETTE[2], cancelled: PALETTE[9], running: PALETTE[4] };

export function mount(root, ctx) {
  const searchId = Number(ctx.params.id);
  ctx.setTitle(`Search #${searchId}`);
  const view = {};
  let search = null;
  let poller = null;
  let drawnKey = null;

  root.append(loading(`Loading search #${searchId}…`));
  start();
  return () => poller?.stop();

  async function start() {
    try {
      search = await api.getSearch(searchId, { signal: ctx.signal });
      layout();
      await draw();
      poller = poll(refresh, REFRESH_MS);
    } catch (error) {
      if (isAbort(error)) return;
      const title = error.status === 404 ? `There is no search #${searchId}` : `Search #${searchId} could not be loaded`;
      clear(root, errorBox(error, { title, retry: error.status === 404 ? null : () => { clear(root, loading()); start(); } }),
        h("p", {}, h("a", { href: "#/searches", text: "← All searches" })));
    }
  }

  async function refresh() {
    if (search.status === "finished") return false;
    try {
      search = await api.getSearch(searchId, { signal: ctx.signal });
      clear(view.problem);
      await draw();
      return search.status !== "finished";
    } catch (error) {
      if (isAbort(error)) return false;
      clear(view.problem, h("p", { class: "alert alert-warn", text: `Live updates paused: ${error.message}` }));
      return true;
    }
  }

  // ------------------------------------------------------------------------------------ layout

  function layout() {
    view.title = h("h1");
    view.subtitle = h("p", { class: "subtitle" });
    view.actions = h("div", { class: "actions" });
    view.problem = h("div", { attrs: { role: "status", "aria-live": "polite" } });
    view.stats = h("div", { class: "stats", attrs: { "aria-label": "Progress" } });
    view.best = h("section", { class: "card", attrs: { "aria-label": "Best proposal" } });
    view.charts = h("div", { class: "charts" },
      chartCard("objective", "Objective of every proposal"), chartCard("curves", "Validation curves (pruned runs faded)"),
      chartCard("parallel", "Parameters against the objective"), chartCard("importance", "Parameter importance"));
    view.scatters = h("div", { class: "charts" });
    view.proposals = h("section", { class: "card", attrs: { "aria-label": "Proposals" } });
    clear(root,
      h("p", { class: "muted", style: "margin-bottom: 6px" }, h("a", { href: "#/searches", text: "← All searches" })),
      h("div", { class: "page-head" }, h("div", {}, view.title, view.subtitle), view.actions),
      view.problem, view.stats, view.best, view.charts, view.scatters, view.proposals);
  }

  function chartCard(id, title) {
    view[`chart-${id}`] = h("div", { class: "chart", id: `search-chart-${id}`, attrs: { role: "img", "aria-label": title } });
    view[`note-${id}`] = h("p", { class: "hint" });
    return h("section", { class: "chart-card", attrs: { "aria-label": title } }, h("h2", { text: title }), view[`chart-${id}`],
      view[`note-${id}`]);
  }

  async function draw() {
    ctx.setTitle(`${search.name} (search #${search.id})`);
    view.title.textContent = search.name;
    clear(view.subtitle, statusBadge(search.status), " ",
      `#${search.id} · ${search.sampler} sampler · pruner ${search.pruner.kind} · ${search.objective} · ${search.seeds} seed(s) a proposal`,
      search.stop_reason ? ` · ${search.stop_reason}` : "");
    drawActions();
    drawStats();
    drawBest();
    drawProposals();
    // Charts only when something they show changed (a proposal's value or state, a run's epochs).
    const key = JSON.stringify(search.proposal_list.map((p) => [p.state, p.value, p.runs.map((r) => r.epochs_done)]));
    if (key !== drawnKey) {
      drawnKey = key;
      await drawCharts();
    }
  }

  function drawActions() {
    clear(view.actions, search.status === "running" ? stopButtons({
      what: "runs", stop: (how) => api.stopSearch(search.id, how),
      stopped: async (stoppedSearch) => { search = stoppedSearch; await draw(); poller?.now(); },
    }) : null, runIds().length ? h("a", { class: "button small", href: `#/compare?ids=${runIds().slice(0, 200).join(",")}`, text: "Compare its runs" }) : null);
  }

  function runIds() {
    return search.proposal_list.flatMap((p) => p.runs.map((r) => r.id));
  }

  function drawStats() {
    const p = search.proposals;
    const r = search.runs;
    const budget = search.budget_gpu_hours;
    const used = search.gpu_hours_spent;
    clear(view.stats,
      stat("Proposals", `${p.total} / ${search.cost.max_proposals}`, `${p.complete || 0} complete · ${p.running || 0} running · ${p.pruned || 0} pruned · ${p.failed || 0} failed`),
      stat("Runs", String(r.total), `${r.succeeded || 0} done · ${(r.running || 0) + (r.queued || 0)} running or queued · ${r.pruned || 0} pruned · ${r.failed || 0} failed`),
      stat("GPU-hours", budget ? `${number(used, 3)} of ${number(budget, 2)}` : number(used, 3),
        budget ? h("div", { class: "progress-bar", attrs: { role: "progressbar", "aria-label": "Budget spent", "aria-valuemin": "0", "aria-valuemax": String(budget), "aria-valuenow": String(used) } },
          h("span", { style: `width: ${Math.min(100, Math.round((used / budget) * 100))}%` })) : null,
        `+ ${number(search.gpu_hours_in_flight, 3)} h in flight`),
      stat("Best objective", search.best ? specValue(search.best.value) : DASH,
        search.best ? `proposal ${search.best.number}` : "no complete proposal yet"));
  }

  function stat(label, value, ...sub) {
    return h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value", text: value }),
      ...sub.filter(Boolean).map((s) => (s instanceof Node ? s : h("div", { class: "stat-sub", text: s }))));
  }

  function drawBest() {
    const best = search.best;
    clear(view.best, h("h2", { text: "Best proposal" }), best
      ? [h("p", {}, `Proposal ${best.number}: ${search.objective} ${specValue(best.value)} at the last epoch (the seeds' mean; ${intervalHover(best)}).`),
        paramList(best.params), h("p", {}, "Runs: ", best.runs.map((run) => h("a", { class: "tag", href: `#/runs/${run.id}`, text: `#${run.id} seed ${run.seed}` })))]
      : h("p", { class: "muted", text: "None has finished yet." }));
  }

  function paramList(params) {
    return h("dl", { class: "kv" }, Object.entries(params).map(([path, value]) => [h("dt", { text: fieldLabel(path) }), h("dd", { class: "mono", text: specValue(value) })]));
  }

  function drawProposals() {
    const paths = Object.keys(search.space);
    clear(view.proposals, h("h2", { text: "Proposals" }),
      h("div", { class: "table-scroll" }, h("table", { class: "data-table search-proposals" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "#" }), paths.map((p) => h("th", { scope: "col", text: fieldLabel(p) })),
          h("th", { scope: "col", text: "State" }), h("th", { scope: "col", class: "num", text: search.objective }),
          h("th", { scope: "col", text: "Runs" }), h("th", { scope: "col", text: "Why" }))),
        h("tbody", {}, search.proposal_list.map((p) => h("tr", { dataset: { proposal: p.number } },
          h("td", { text: String(p.number) }), paths.map((path) => h("td", { class: "mono", text: specValue(p.params[path]) })),
          h("td", {}, statusBadge(p.state)), h("td", { class: "num", text: p.value == null ? DASH : specValue(p.value) }),
          h("td", {}, p.runs.map((run) => h("a", { class: "tag", href: `#/runs/${run.id}`, title: `${run.status}, epoch ${run.epochs_done} of ${run.epochs}`, text: `#${run.id} ${run.epochs_done}/${run.epochs}` }))),
          h("td", { class: "muted", text: p.error || "" })))))),
      h("p", { class: "hint", text: `Created ${dateTime(search.created_at)}.` }));
  }

  // ------------------------------------------------------------------------------------ charts

  async function drawCharts() {
    const Plotly = await loadPlotly();
    const proposals = search.proposal_list;
    const done = proposals.filter((p) => p.value != null);
    const paths = Object.keys(search.space);
    await drawObjective(Plotly, done);
    await drawCurves(Plotly);
    await drawParallel(Plotly, proposals.filter((p) => p.state === "complete"), paths);
    await drawImportance(Plotly);
    await drawScatters(Plotly, done, paths);
  }

  /** A chart box shows either a plot (kept by Plotly between updates) or a line saying why it is empty. */
  function empty(Plotly, box, text) {
    if (box.dataset.plotted) Plotly.purge(box);
    delete box.dataset.plotted;
    clear(box, h("p", { class: "state", text }));
  }

  async function plot(Plotly, box, traces, layout) {
    if (!box.dataset.plotted) clear(box);
    box.dataset.plotted = "yes";
    await Plotly.react(box, traces, layout, PLOT_CONFIG);
  }

  async function drawObjective(Plotly, done) {
    const box = view["chart-objective"];
    if (!done.length) return empty(Plotly, box, "Each proposal's objective appears here when it ends.");
    const complete = done.filter((p) => p.state === "complete").sort((a, b) => a.number - b.number);
    let best = Infinity;
    const bestLine = complete.map((p) => { best = Math.min(best, p.value); return best; });
    const traces = Object.keys(STATE_COLORS).map((state) => {
      const these = done.filter((p) => p.state === state);
      return these.length && { type: "scatter", mode: "markers", name: state, x: these.map((p) => p.number), y: these.map((p) => p.value),
        marker: { color: STATE_COLORS[state], size: 9, opacity: state === "complete" ? 1 : 0.55 }, text: these.map((p) => paramText(p.params)),
        hovertemplate: `proposal %{x}: %{y:.4g}<br>%{text}<extra>${state}</extra>` };
    }).filter(Boolean);
    traces.push({ type: "scatter", mode: "lines", name: "best so far", x: complete.map((p) => p.number), y: bestLine, line: { color: PALETTE[1], shape: "hv" } });
    const layout = baseLayout({ xTitle: "proposal (in the order proposed)", yTitle: search.objective });
    layout.hovermode = "closest";
    await plot(Plotly, box, traces, layout);
    return undefined;
  }

  async function drawCurves(Plotly) {
    const box = view["chart-curves"];
    const curves = await api.searchCurves(search.id, { signal: ctx.signal });
    const withEpochs = curves.runs.filter((r) => r.epoch.length);
    if (!withEpochs.length) return empty(Plotly, box, "Curves start when the first epoch ends.");
    const traces = withEpochs.map((run) => {
      const faded = run.status === "pruned" || run.status === "cancelled";
      const color = PALETTE[run.proposal % PALETTE.length];
      return { type: "scatter", mode: "lines", name: `#${run.run_id} (proposal ${run.proposal})`, x: run.epoch, y: run.value,
        line: { color: faded ? withAlpha(color, 0.3) : color, width: faded ? 1 : 2, dash: run.status === "failed" ? "dot" : "solid" },
        hovertemplate: `epoch %{x}: %{y:.4g}<extra>#${run.run_id} ${run.status}</extra>` };
    });
    const layout = baseLayout({ xTitle: "epoch", yTitle: curves.objective, legend: false });
    layout.hovermode = "closest";
    await plot(Plotly, box, traces, layout);
    return undefined;
  }

  /** Plotly's parallel coordinates: an axis per parameter (log ranges on a log10 axis), then the objective. */
  async function drawParallel(Plotly, complete, paths) {
    const box = view["chart-parallel"];
    if (complete.length < 2) return empty(Plotly, box, "The parallel coordinates appear once two proposals are complete.");
    const dimensions = paths.map((path) => axis(path, complete.map((p) => p.params[path])));
    dimensions.push({ label: search.objective, values: complete.map((p) => p.value) }, ...intervalDimensions(complete));
    await plot(Plotly, box, [{ type: "parcoords", dimensions,
      line: { color: complete.map((p) => p.value), colorscale: "Viridis", reversescale: true, showscale: true } }],
    { ...baseLayout({ legend: false }), margin: { l: 60, r: 60, t: 40, b: 24 } });
    return undefined;
  }

  function axis(path, values) {
    const entry = search.space[path];
    if (entry.choice) {
      const labels = entry.choice.map(specValue);
      return { label: fieldLabel(path), values: values.map((v) => labels.indexOf(specValue(v))), tickvals: labels.map((_, i) => i), ticktext: labels };
    }
    if (entry.log) return { label: `${fieldLabel(path)} (log10)`, values: values.map((v) => Math.log10(v)) };
    return { label: fieldLabel(path), values };
  }

  async function drawImportance(Plotly) {
    const box = view["chart-importance"];
    if (!search.importances) return empty(Plotly, box, search.importances_note || "Importances appear once enough proposals are complete.");
    const entries = Object.entries(search.importances).sort((a, b) => a[1] - b[1]);
    const layout = baseLayout({ xTitle: "importance (Optuna)", legend: false });
    layout.yaxis.type = "category"; // baseLayout's axes are linear: parameter names need a category axis
    await plot(Plotly, box, [{ type: "bar", orientation: "h", x: entries.map((e) => e[1]), y: entries.map((e) => fieldLabel(e[0])),
      marker: { color: PALETTE[0] }, hovertemplate: "%{y}: %{x:.3f}<extra></extra>" }], layout);
    view["note-importance"].textContent = search.importances_note || "";
    return undefined;
  }

  async function drawScatters(Plotly, done, paths) {
    clear(view.scatters, paths.map((path) => chartCard(`scatter-${path}`, `${fieldLabel(path)} against the objective`)));
    for (const path of paths) {
      const box = view[`chart-scatter-${path}`];
      if (!done.length) { empty(Plotly, box, "Points appear as proposals end."); continue; }
      const entry = search.space[path];
      const traces = ["complete", "pruned"].map((state) => {
        const these = done.filter((p) => p.state === state);
        return { type: "scatter", mode: "markers", name: state, x: these.map((p) => (entry.choice ? specValue(p.params[path]) : p.params[path])),
          y: these.map((p) => p.value), marker: { color: STATE_COLORS[state], size: 9, opacity: state === "complete" ? 1 : 0.5 },
          error_y: state === "complete" ? intervalErrorBars(these) : undefined, text: these.map(intervalHover),
          hovertemplate: `%{x}: %{y:.4g} (%{text})<extra>${state}</extra>` };
      });
      const layout = baseLayout({ xTitle: fieldLabel(path), yTitle: search.objective });
      layout.hovermode = "closest";
      if (entry.log) layout.xaxis.type = "log";
      if (entry.choice) layout.xaxis.type = "category";
      await plot(Plotly, box, traces, layout);
    }
  }
}

function paramText(params) {
  return Object.entries(params).map(([p, v]) => `${fieldLabel(p)} ${specValue(v)}`).join("<br>");
}
