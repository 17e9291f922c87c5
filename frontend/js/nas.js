// One NASNet search: its progress, the reward of every child over time with the best so far (another search,
// e.g. random search beside the controller, drawn on the same chart), the top cells drawn as graphs with
// their genotype and "Train this cell", what the paper's full search would cost here, and every child.

import { api, isAbort } from "./api.js";
import { cellGraph } from "./cell-graph.js";
import { baseLayout, loadPlotly, PALETTE, PLOT_CONFIG } from "./charts.js";
import { clear, errorBox, h, loading, statusBadge, toast } from "./dom.js";
import { DASH, dateTime, duration, number } from "./format.js";
import { poll } from "./poll.js";
import { stopButtons } from "./stop-buttons.js";

const REFRESH_MS = 3000;
const TOP = 3;
const PAPER_CHILDREN = 20000;
// "Train this cell": the paper's final setting for CIFAR-10 (N = 6, F = 32, 600 epochs, Cutout, ScheduledDropPath;
// the nasnet defaults fill the rest), or the same network on a labelled budget.
const PROFILES = {
  paper: { label: "The paper's final setting: N = 6, F = 32, 600 epochs, Cutout 16, ScheduledDropPath", epochs: 600 },
  budget: { label: "Budget: the same network for 60 epochs (a tenth of the paper's)", epochs: 60 },
};

export function mount(root, ctx) {
  const searchId = Number(ctx.params.id);
  ctx.setTitle(`NAS search #${searchId}`);
  const view = {};
  let search = null;
  let other = null;
  let otherId = Number(ctx.query.get("with")) || null;
  let poller = null;
  let drawnKey = null;

  root.append(loading(`Loading NASNet search #${searchId}…`));
  start();
  return () => poller?.stop();

  async function start() {
    try {
      search = await api.getNas(searchId, { signal: ctx.signal });
      layout();
      await draw();
      poller = poll(refresh, REFRESH_MS);
    } catch (error) {
      if (isAbort(error)) return;
      const title = error.status === 404 ? `There is no NASNet search #${searchId}` : `NASNet search #${searchId} could not be loaded`;
      clear(root, errorBox(error, { title }), h("p", {}, h("a", { href: "#/nas", text: "← All NASNet searches" })));
    }
  }

  async function refresh() {
    try {
      search = await api.getNas(searchId, { signal: ctx.signal });
      if (otherId) other = await api.getNas(otherId, { signal: ctx.signal }).catch(() => null);
      clear(view.problem);
      await draw();
      return search.status !== "finished" || (other && other.status !== "finished");
    } catch (error) {
      if (isAbort(error)) return false;
      clear(view.problem, h("p", { class: "alert alert-warn", text: `Live updates paused: ${error.message}` }));
      return true;
    }
  }

  function layout() {
    view.title = h("h1");
    view.subtitle = h("p", { class: "subtitle" });
    view.actions = h("div", { class: "actions" });
    view.problem = h("div", { attrs: { role: "status", "aria-live": "polite" } });
    view.stats = h("div", { class: "stats", attrs: { "aria-label": "Progress" } });
    view.cost = h("p", { class: "alert alert-info", attrs: { "aria-label": "Cost" } });
    view.compare = h("select", { id: "nas-compare", onChange: async () => {
      otherId = Number(view.compare.value) || null;
      ctx.setQuery({ with: otherId });
      other = otherId ? await api.getNas(otherId).catch(() => null) : null;
      drawnKey = null;
      await draw();
    } });
    view.chart = h("div", { class: "chart", id: "nas-chart-rewards", attrs: { role: "img", "aria-label": "Reward of every child over time" } });
    view.chartNote = h("p", { class: "hint" });
    view.top = h("section", { class: "card", attrs: { "aria-label": "Top cells" } });
    view.children = h("section", { class: "card", attrs: { "aria-label": "Children" } });
    clear(root,
      h("p", { class: "muted", style: "margin-bottom: 6px" }, h("a", { href: "#/nas", text: "← All NASNet searches" })),
      h("div", { class: "page-head" }, h("div", {}, view.title, view.subtitle), view.actions),
      view.problem, view.stats, view.cost,
      h("section", { class: "chart-card", attrs: { "aria-label": "Rewards" } }, h("h2", { text: "Reward of every child, and the best so far" }),
        h("div", { class: "field" }, h("label", { for: "nas-compare", text: "Beside it" }), view.compare), view.chart, view.chartNote),
      view.top, view.children);
    fillCompare();
  }

  async function fillCompare() {
    const searches = await api.listNas({ limit: 200 }).catch(() => []);
    clear(view.compare, h("option", { value: "", text: "nothing" }),
      searches.filter((s) => s.id !== searchId).map((s) => h("option", { value: String(s.id), text: `#${s.id} ${s.name} (${s.searcher})`, selected: s.id === otherId })));
    if (otherId && !other) {
      other = await api.getNas(otherId).catch(() => null);
      drawnKey = null;
      await draw();
    }
  }

  async function draw() {
    ctx.setTitle(`${search.name} (NAS search #${search.id})`);
    view.title.textContent = search.name;
    clear(view.subtitle, statusBadge(search.status), " ",
      `#${search.id} · ${search.searcher === "controller" ? "controller (LSTM, PPO)" : "random search"} · seed ${search.seed}`,
      search.started ? "" : " · waiting for the controller process (python -m worker.nas)",
      search.stop_reason ? ` · ${search.stop_reason}` : "");
    drawActions();
    drawStats();
    drawCost();
    drawTop();
    drawChildren();
    const key = JSON.stringify([search.child_list.map((c) => [c.state, c.reward]), other?.child_list.map((c) => c.reward)]);
    if (key !== drawnKey) {
      drawnKey = key;
      await drawChart();
    }
  }

  function drawActions() {
    clear(view.actions, search.status === "running" ? stopButtons({
      what: "children", stop: (how) => api.stopNas(search.id, how),
      stopped: async (stoppedSearch) => { search = stoppedSearch; await draw(); poller?.now(); },
    }) : null);
  }

  function stat(label, value, sub) {
    return h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value", text: value }),
      sub ? h("div", { class: "stat-sub", text: sub }) : null);
  }

  function drawStats() {
    const c = search.children;
    clear(view.stats,
      stat("Children", `${search.children_made} / ${search.max_children}`,
        `${c.complete || 0} rewarded · ${c.running || 0} training or queued · ${c.failed || 0} failed · ${c.cancelled || 0} cancelled`),
      stat("PPO updates", search.searcher === "controller" ? String(search.updates) : DASH,
        search.searcher === "controller" ? "one per 20 rewards" : "random search learns nothing"),
      stat("Best reward", search.best ? search.best.reward.toFixed(4) : DASH,
        search.best ? `child ${search.best.number}: validation accuracy at its last epoch` : "no child has ended yet"),
      stat("Per child", search.child_seconds ? duration(search.child_seconds) : DASH, "training time, measured"));
  }

  function drawCost() {
    clear(view.cost, search.child_seconds
      ? `The paper's full search sampled ${number(PAPER_CHILDREN)} children (500 GPUs for 4 days). At the ${duration(search.child_seconds)} a child takes here, that is ${number(search.paper_search_hours)} device-hours (${number(search.paper_search_hours / 24, 1)} device-days) on one device, before training the best cells to convergence.`
      : `The paper's full search sampled ${number(PAPER_CHILDREN)} children (500 GPUs for 4 days); its cost here appears once a child has been trained.`);
  }

  function drawTop() {
    const best = search.child_list.filter((c) => c.state === "complete").sort((a, b) => b.reward - a.reward).slice(0, TOP);
    clear(view.top, h("h2", { text: `Top ${TOP} cells` }), best.length
      ? best.map((child, i) => h("article", { class: "nas-cell", dataset: { child: child.number } },
        h("h3", {}, `${i + 1}. Child ${child.number}: reward ${child.reward.toFixed(4)} `,
          child.run_id ? h("a", { class: "tag", href: `#/runs/${child.run_id}`, text: `run #${child.run_id}` }) : null),
        h("div", { class: "nas-cells" },
          h("div", {}, h("p", { class: "muted", text: "Normal cell" }), cellGraph(child.genotype.normal, `Normal cell of child ${child.number}`)),
          h("div", {}, h("p", { class: "muted", text: "Reduction cell (operations on h_i and h_i-1 stride 2)" }),
            cellGraph(child.genotype.reduction, `Reduction cell of child ${child.number}`))),
        h("details", {}, h("summary", { text: "Genotype (model.genotype)" }), h("pre", { class: "mono", text: JSON.stringify(child.genotype, null, 1) })),
        trainForm(child)))
      : h("p", { class: "muted", text: "The best cells appear here when children end." }));
  }

  function trainForm(child) {
    const id = `nas-profile-${child.number}`;
    const profile = h("select", { id }, Object.entries(PROFILES).map(([value, p]) => h("option", { value, text: p.label })));
    const button = h("button", { type: "button", class: "button primary small", text: "Train this cell", onClick: async () => {
      const chosen = PROFILES[profile.value];
      const spec = { dataset: { name: "cifar10" }, model: { arch: "nasnet", cells: 6, filters: 32, genotype: child.genotype },
        regularization: { method: "scheduled_drop_path" }, optim: { epochs: chosen.epochs } };
      try {
        const run = await api.createRun({ spec, name: `NAS #${search.id} child ${child.number} (${profile.value})`,
          notes: `The cell of child ${child.number} of NASNet search #${search.id} (reward ${child.reward.toFixed(4)}), ${chosen.label}.` });
        toast(`Run #${run.id} queued.`);
        location.hash = `#/runs/${run.id}`;
      } catch (error) {
        toast(`The run was not created: ${error.message}`);
      }
    } });
    return h("div", { class: "actions" }, h("label", { for: id, text: "Train at" }), profile, button);
  }

  function drawChildren() {
    clear(view.children, h("h2", { text: "Children" }),
      h("div", { class: "table-scroll" }, h("table", { class: "data-table" },
        h("thead", {}, h("tr", {}, ["#", "State", "Reward", "Log-probability", "Run", "Ended", "Why"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, [...search.child_list].reverse().map((c) => h("tr", { dataset: { child: c.number } },
          h("td", { text: String(c.number) }), h("td", {}, statusBadge(c.state)),
          h("td", { class: "num", text: c.reward == null ? DASH : c.reward.toFixed(4) }),
          h("td", { class: "num", text: c.log_prob.toFixed(2) }),
          h("td", {}, c.run_id ? h("a", { class: "tag", href: `#/runs/${c.run_id}`, text: `#${c.run_id}${c.run_status ? ` ${c.run_status}` : ""}` }) : DASH),
          h("td", { text: c.finished_at ? dateTime(c.finished_at) : DASH }),
          h("td", { class: "muted", text: c.error || "" })))))));
  }

  function traces(s, color, suffix) {
    const ended = s.child_list.filter((c) => c.reward != null).sort((a, b) => a.number - b.number);
    let best = -Infinity;
    const bestSoFar = ended.map((c) => (best = Math.max(best, c.reward)));
    const name = `${s.searcher === "controller" ? "controller" : "random"} #${s.id}${suffix}`;
    return [
      { x: ended.map((c) => c.number), y: ended.map((c) => c.reward), mode: "markers", type: "scatter", name: `${name}: reward`,
        marker: { color, size: 6, opacity: 0.6 }, hovertemplate: "child %{x}: %{y:.4f}<extra></extra>" },
      { x: ended.map((c) => c.number), y: bestSoFar, mode: "lines", type: "scatter", name: `${name}: best so far`, line: { color, shape: "hv", width: 2 } },
    ];
  }

  async function drawChart() {
    const Plotly = await loadPlotly();
    const data = [...traces(search, PALETTE[0], ""), ...(other ? traces(other, PALETTE[1], " (beside)") : [])];
    if (!data.some((t) => t.x.length)) {
      if (view.chart.dataset.plotted) Plotly.purge(view.chart);
      delete view.chart.dataset.plotted;
      clear(view.chart, h("p", { class: "state", text: "Each child's reward appears here when it ends." }));
      return;
    }
    if (!view.chart.dataset.plotted) clear(view.chart);
    view.chart.dataset.plotted = "yes";
    await Plotly.react(view.chart, data, { ...baseLayout({ xTitle: "child (in the order sampled)", yTitle: "reward (validation accuracy)" }), hovermode: "closest" }, PLOT_CONFIG);
    view.chartNote.textContent = "A failed child (one that diverged included) gets the lowest reward, 0. Random search samples every decision uniformly; the paper found it slightly worse than the controller.";
  }
}
