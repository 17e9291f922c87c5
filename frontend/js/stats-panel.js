// The compare page's statistics: each seed group's n, mean and 95% interval of the chosen metric (last
// epoch, and labelled, the best), one point per setting with its interval against a differing spec field,
// two groups tested against each other (Welch's t-test and a rank test, with the server's verdict), and how
// many seeds a difference needs. The figures come from the server (backend/stats.py); this only shows them.
// Every differing field at once is a parallel-coordinates chart drawn as SVG (a few ms); Plotly's interactive
// one (brushing, axes to reorder) is WebGL, a second in a browser without a GPU, so it draws only when opened.

import { api } from "./api.js";
import { baseLayout, loadPlotly, PLOT_CONFIG } from "./charts.js";
import { clear, download, errorBox, h, uniqueId } from "./dom.js";
import { DASH, fixed, specValue } from "./format.js";
import { fieldLabel } from "./labels.js";
import { toCsv } from "./series.js";
import { categoricalAxis, drawParallelSvg, numericAxis, shortNumber } from "./parallel-svg.js";
import { getPath } from "./spec-paths.js";

const CONFIDENCE_NOTE = "95% interval: the mean ± Student's t (n − 1 degrees of freedom) × the standard error; n = 1 has none.";

/** The panel for one compare page; `update` redraws it, keeping what the person chose. */
export function statsPanel() {
  const state = { a: "", b: "", field: "", rows: [] };
  const intervals = h("div");
  const plotBox = h("div", { class: "chart", id: "compare-setting-chart", attrs: { role: "img", "aria-label": "One point per setting with its 95% interval" } });
  const plotHead = h("div");
  const parallelBox = h("div", { class: "chart parallel-chart", id: "compare-parallel-chart", attrs: { role: "img", "aria-label": "Parallel coordinates: one line per setting, its differing fields against its mean and interval" } });
  const parallelNote = h("p", { class: "hint" });
  const interactiveBox = h("div", { class: "chart", id: "compare-parallel-interactive" });
  const interactive = h("details", { class: "parallel-interactive", onToggle: () => { if (interactive.open) drawInteractive(); } },
    h("summary", { text: "Interactive parallel coordinates: filter on the axes, reorder them (WebGL; about a second to draw without a GPU)" }),
    interactiveBox);
  const parallel = h("div", { class: "parallel" }, parallelBox, parallelNote, interactive);
  const twoGroups = h("div");
  const planner = h("div");
  const node = h("section", { class: "stats-panel", attrs: { "aria-label": "Statistics over seeds" } },
    h("h2", { text: "Statistics over seeds" }), intervals,
    h("h3", { text: "One point per setting" }), plotHead, plotBox, parallel,
    h("h3", { text: "Two groups" }), twoGroups,
    h("h3", { text: "How many seeds?" }), planner);
  let context = null;

  /** Rows are the server's seed groups, whether or not the chart groups seeds; names and colours from the chart. */
  function update({ groups, runs, series, metric, metricLabel, differing }) {
    const byId = new Map(runs.map((r) => [r.id, r]));
    const seriesOf = new Map(series.flatMap((s) => s.runs.map((r) => [r.id, s])));
    const rows = groups.map((g) => {
      const members = g.run_ids.map((id) => byId.get(id));
      const shown = seriesOf.get(g.run_ids[0]);
      const label = shown && shown.runs.length === g.run_ids.length ? shown.label : `#${g.run_ids[0]}${g.run_ids.length > 1 ? ` and ${g.run_ids.length - 1} more` : ""} (${g.summary})`;
      return { label, color: shown?.style.color || "#888", group: g, runs: members, counted: g.counted_run_ids.map((id) => byId.get(id)),
        stats: g.metrics?.[metric] || null };
    });
    context = { rows, metric, metricLabel, differing };
    state.rows = rows;
    drawIntervals();
    drawParallel();
    drawTwoGroups();
    if (!planner.childElementCount) drawPlanner();
    const drawn = drawSettingPlot().then(() => {
      performance.mark("shakelab:compare-panel-drawn"); // for the benchmark: every chart the panel shows by itself
      node.dataset.drawn = String(Number(node.dataset.drawn || 0) + 1);
    });
    if (interactive.open) drawInteractive();
    return drawn;
  }

  function drawIntervals() {
    const { rows, metricLabel } = context;
    clear(intervals, h("div", { class: "table-scroll" }, h("table", { class: "data-table interval-table" },
      h("thead", {}, h("tr", {}, ["Setting", "n", `${metricLabel}: last epoch, mean ± std`, "std. error", "95% interval", "Best epoch (optimistic)"]
        .map((text, i) => h("th", { class: i ? "num" : "", attrs: { scope: "col" }, text })))),
      h("tbody", {}, rows.map((r) => {
        const last = r.stats?.last;
        const best = r.stats?.best;
        return h("tr", {},
          h("td", {}, h("span", { class: "swatch", style: `background: ${r.color}` }), r.label),
          h("td", { class: "num", text: last ? String(last.n) : "0" }),
          h("td", { class: "num", text: last ? meanStd(last) : DASH }),
          h("td", { class: "num", text: last?.sem != null ? fixed(last.sem, 3) : DASH }),
          h("td", { class: "num interval", text: intervalText(last) }),
          h("td", { class: "num", text: best ? `${meanStd(best)} (n = ${best.n})` : DASH }));
      })))),
    h("p", { class: "hint", text: `${CONFIDENCE_NOTE} Counted runs only: finished, each seed once. The best epoch is each run's lowest on this very metric, so it flatters; the papers report the last.` }),
    h("button", { type: "button", class: "button small", text: "Download statistics (CSV)", onClick: downloadStats }),
    rows.flatMap((r) => (r.stats?.last?.note && r.stats.last.n > 1 ? [h("p", { class: "hint", text: `${r.label}: ${r.stats.last.note}.` })] : [])));
  }

  /** One line per seed group: n, mean ± the 95% interval's half-width, the interval, at the last and best epoch. */
  function downloadStats() {
    const { rows, metric } = context;
    const figures = (stats) => (stats ? [stats.n, stats.mean, stats.std, stats.sem, stats.ci95?.[0], stats.ci95?.[1],
      stats.ci95 ? `${fixed(stats.mean, 3)} ± ${fixed((stats.ci95[1] - stats.ci95[0]) / 2, 3)} (n=${stats.n})` : `${fixed(stats.mean, 3)} (n=${stats.n}, no interval)`]
      : [0, null, null, null, null, null, ""]);
    const names = ["n", "mean", "std", "sem", "ci95_low", "ci95_high", "mean_pm_ci95"];
    const header = ["setting", "spec_key", "metric", "runs", "counted_run_ids", ...names.map((n) => `last_${n}`), "last_missing", "last_note",
      ...names.map((n) => `best_${n}`)];
    const lines = rows.map((r) => [r.label, r.group.spec_key, metric, r.group.run_ids.length, r.group.counted_run_ids.join(" "),
      ...figures(r.stats?.last), r.stats?.last?.missing ?? null, r.stats?.last?.note ?? null, ...figures(r.stats?.best)]);
    download(`shakelab-statistics-${metric}-${rows.length}-settings.csv`, new Blob([toCsv(header, lines)], { type: "text/csv" }));
  }

  async function drawSettingPlot() {
    const { rows, differing, metricLabel } = context;
    const fields = differing.filter((p) => rows.some((r) => getPath(r.runs[0].spec, p) !== undefined));
    if (!fields.includes(state.field)) state.field = fields[0] || "";
    const withStats = rows.filter((r) => r.stats?.last);
    if (!fields.length || !withStats.length) {
      clear(plotHead, h("p", { class: "muted", text: fields.length ? "Points appear when runs finish." : "Every setting here has the same spec (seeds aside): nothing to plot against." }));
      clear(plotBox);
      plotBox.hidden = true;
      return;
    }
    plotBox.hidden = false;
    const id = uniqueId("setting-field");
    const select = h("select", { id, onChange: () => { state.field = select.value; drawSettingPlot(); } },
      fields.map((p) => h("option", { value: p, text: fieldLabel(p) })));
    select.value = state.field;
    clear(plotHead, h("div", { class: "field", style: "max-width: 320px" }, h("label", { for: id, text: "Against" }), select));
    const values = withStats.map((r) => getPath(r.runs[0].spec, state.field));
    const numeric = values.every((v) => typeof v === "number");
    const last = withStats.map((r) => r.stats.last);
    const trace = {
      type: "scatter", mode: "markers", x: values.map((v) => (numeric ? v : specValue(v))), y: last.map((s) => s.mean),
      marker: { size: 10, color: withStats.map((r) => r.color) },
      error_y: { type: "data", symmetric: false, array: last.map((s) => (s.ci95 ? s.ci95[1] - s.mean : 0)),
        arrayminus: last.map((s) => (s.ci95 ? s.mean - s.ci95[0] : 0)), thickness: 1.5, width: 6 },
      text: withStats.map((r, i) => `${r.label}<br>n = ${last[i].n}; ${intervalText(last[i])}`),
      hovertemplate: "%{y:.4g}<br>%{text}<extra></extra>", name: "mean and 95% interval",
    };
    const layout = baseLayout({ xTitle: fieldLabel(state.field), yTitle: `${metricLabel} at the last epoch`, legend: false });
    layout.hovermode = "closest";
    if (!numeric) layout.xaxis.type = "category";
    const Plotly = await loadPlotly();
    await Plotly.react(plotBox, [trace], layout, PLOT_CONFIG);
    plotBox.dataset.points = String(withStats.length);
  }

  /** The settings with results and the differing fields they have; null when there is nothing to draw. */
  function parallelData() {
    const { rows, differing } = context;
    const withStats = rows.filter((r) => r.stats?.last);
    const fields = differing.filter((p) => withStats.some((r) => getPath(r.runs[0].spec, p) !== undefined));
    return withStats.length < 2 || !fields.length ? null : { withStats, fields, last: withStats.map((r) => r.stats.last) };
  }

  /** Every differing field at once: one line per setting with results, ending in its n, mean and interval. */
  function drawParallel() {
    const started = performance.now();
    const data = parallelData();
    parallel.hidden = !data;
    if (!data) return;
    const { withStats, fields, last } = data;
    const { metricLabel } = context;
    const axes = fields.map((path) => {
      const values = withStats.map((r) => getPath(r.runs[0].spec, path));
      if (values.every((v) => typeof v === "number")) return numericAxis(fieldLabel(path), values, (v) => specValue(v));
      const names = [...new Set(values.map((v) => specValue(v)))];
      return categoricalAxis(fieldLabel(path), values.map((v) => names.indexOf(specValue(v))), names);
    });
    const means = last.map((st) => st.mean);
    const halves = last.map((st) => (st.ci95 ? (st.ci95[1] - st.ci95[0]) / 2 : 0));
    axes.push(numericAxis("seeds (n)", last.map((st) => st.n)), numericAxis(`${metricLabel}, mean`, means),
      numericAxis("± 95% CI", halves));
    const lines = withStats.map((r, i) => ({
      title: [r.label, ...fields.map((p) => `${fieldLabel(p)}: ${specValue(getPath(r.runs[0].spec, p))}`),
        `n = ${last[i].n}; mean ${fixed(means[i], 3)}; 95% interval ${intervalText(last[i])}`].join("\n"),
    }));
    drawParallelSvg(parallelBox, { axes, lines, colorValues: means, colorLabel: "mean", format: shortNumber });
    parallelBox.dataset.lines = String(withStats.length);
    clear(parallelNote, "One line per setting, coloured by its mean (darkest lowest); hover a line for its values.");
    performance.measure("shakelab:compare-parallel-svg", { start: started }); // for the benchmark
  }

  /** Plotly's parcoords of the same lines: brushing an axis filters them, axes can be dragged. WebGL. */
  async function drawInteractive() {
    const data = parallelData();
    if (!data) return;
    const { withStats, fields, last } = data;
    const { metricLabel } = context;
    const dimensions = fields.map((path) => {
      const values = withStats.map((r) => getPath(r.runs[0].spec, path));
      if (values.every((v) => typeof v === "number")) return { label: fieldLabel(path), values };
      const names = [...new Set(values.map((v) => specValue(v)))];  // categories as positions with their names
      return { label: fieldLabel(path), values: values.map((v) => names.indexOf(specValue(v))),
        tickvals: names.map((_, i) => i), ticktext: names };
    });
    dimensions.push({ label: "seeds (n)", values: last.map((st) => st.n) },
      { label: `${metricLabel}, mean`, values: last.map((st) => st.mean) },
      { label: "± 95% CI", values: last.map((st) => (st.ci95 ? (st.ci95[1] - st.ci95[0]) / 2 : 0)) });
    const trace = { type: "parcoords", dimensions,
      line: { color: last.map((st) => st.mean), colorscale: "Viridis", showscale: true } };
    const layout = baseLayout({ legend: false });
    layout.margin = { l: 60, r: 40, t: 50, b: 30 };
    const Plotly = await loadPlotly();
    await Plotly.react(interactiveBox, [trace], layout, PLOT_CONFIG);
    interactiveBox.dataset.lines = String(withStats.length);
    performance.mark("shakelab:compare-parallel-interactive-drawn"); // for the benchmark
  }

  function drawTwoGroups() {
    const testable = context.rows.map((r, i) => ({ r, i })).filter(({ r }) => (r.stats?.last?.n || 0) >= 2);
    if (testable.length < 2) {
      clear(twoGroups, h("p", { class: "muted", text: "A test needs two settings with at least 2 finished seeds each." }));
      return;
    }
    const keys = testable.map(({ i }) => String(i));
    if (!keys.includes(state.a)) state.a = keys[0];
    if (!keys.includes(state.b) || state.b === state.a) state.b = keys.find((k) => k !== state.a);
    const choose = (label, which) => {
      const id = uniqueId(`group-${which}`);
      const select = h("select", { id, onChange: () => { state[which] = select.value; } },
        testable.map(({ r, i }) => h("option", { value: String(i), text: `${r.label} (n = ${r.stats.last.n})` })));
      select.value = state[which];
      return h("div", { class: "field" }, h("label", { for: id, text: label }), select);
    };
    const result = twoGroups.querySelector(".two-group-result") || h("div", { class: "two-group-result", attrs: { "aria-live": "polite" } });
    clear(twoGroups, h("div", { class: "preset-row" }, choose("Group A", "a"), choose("Group B", "b"),
      h("button", { type: "button", class: "button", text: "Test the difference", onClick: () => runTest(result) })), result);
  }

  async function runTest(result) {
    const a = state.rows[Number(state.a)];
    const b = state.rows[Number(state.b)];
    if (a === b) { clear(result, h("p", { class: "field-error", text: "Choose two different groups." })); return; }
    clear(result, h("p", { class: "muted", text: "Testing…" }));
    try {
      const r = await api.compareGroups({ a: { run_ids: a.counted.map((x) => x.id), label: "A" }, b: { run_ids: b.counted.map((x) => x.id), label: "B" },
        metric: context.metric });
      const d = r.difference;
      clear(result, h("dl", { class: "kv two-group-figures" },
        h("dt", { text: "A − B" }), h("dd", { text: `${fixed(d.estimate, 3)}${d.ci95 ? `, 95% interval [${fixed(d.ci95[0], 3)}, ${fixed(d.ci95[1], 3)}]` : " (no interval: neither group varies)"} · n = ${r.a.n} and ${r.b.n}` }),
        h("dt", { text: r.welch ? r.welch.test : "Welch's t-test" }), h("dd", { text: r.welch ? `p = ${pValue(r.welch.p_value)} (t = ${fixed(r.welch.statistic, 2)}, ${fixed(r.welch.df, 1)} df)` : "not possible: neither group varies" }),
        h("dt", { text: r.rank_test.test }), h("dd", {}, `p = ${pValue(r.rank_test.p_value)}`, h("div", { class: "hint", text: r.rank_test.note }))),
      h("p", { class: "verdict", text: `Verdict: ${r.verdict}.` }));
    } catch (error) {
      clear(result, errorBox(error, { title: "The test could not be run" }));
    }
  }

  function drawPlanner() {
    const input = (id, label, value, hint) => {
      const el = h("input", { id, type: "number", step: "any", value, style: "max-width: 140px", attrs: { placeholder: hint || "" } });
      return [el, h("div", { class: "field", style: "flex: 0 1 auto" }, h("label", { for: id, text: label }), el)];
    };
    const [delta, deltaField] = input("plan-delta", "Difference to tell apart (Δ)", "0.1");
    const [sigma, sigmaField] = input("plan-sigma", "Seed spread σ (empty: pooled)", "", "pooled");
    const [alpha, alphaField] = input("plan-alpha", "Significance α", "0.05");
    const [power, powerField] = input("plan-power", "Power", "0.8");
    const out = h("div", { class: "plan-result", attrs: { "aria-live": "polite" } });
    const plan = async () => {
      clear(out, h("p", { class: "muted", text: "Working it out…" }));
      const body = { delta: Number(delta.value), alpha: Number(alpha.value), power: Number(power.value), metric: context.metric,
        run_ids: context.rows.flatMap((r) => r.counted.map((x) => x.id)).slice(0, 1000) };
      if (sigma.value !== "") body.sigma = Number(sigma.value);
      if (!body.run_ids.length) delete body.run_ids;
      try {
        clear(out, planResult(await api.seedsNeeded(body)));
      } catch (error) {
        clear(out, errorBox(error, { title: "No plan" }));
      }
    };
    clear(planner, h("div", { class: "preset-row" }, deltaField, sigmaField, alphaField, powerField,
      h("button", { type: "button", class: "button", text: "Plan seeds", onClick: plan })), out,
    h("p", { class: "hint", text: "Seeds per setting for a two-sided two-sample t-test to detect a difference Δ between two settings' means (noncentral t). σ empty: pooled over the groups shown. Runs already counted are not planned again." }));
  }

  return { node, update };
}

/** The planner's answer: its sentence, where σ came from, and the cost. */
export function planResult(r) {
  const cost = r.cost;
  return h("div", {},
    h("p", { class: "plan-sentence", text: `${r.sentence}.` }),
    h("p", { class: "hint", text: `σ ${fixed(r.needed.sigma, 3)}: ${r.sigma_source}. ${r.needed.test}, α ${r.needed.alpha}, power ${r.needed.power}`
      + (r.needed.achieved_power ? ` (reached: ${fixed(r.needed.achieved_power, 3)}).` : ".")
      + (cost ? ` The H100 figure is an estimate from the models' FLOPs, not a measurement; this installation's: ${cost.local_basis}.` : "") }));
}

function meanStd(stats) {
  return stats.std == null ? fixed(stats.mean, 3) : `${fixed(stats.mean, 3)} ± ${fixed(stats.std, 3)}`;
}

export function intervalText(stats) {
  if (!stats) return DASH;
  if (!stats.ci95) return "one run: no interval";
  return `[${fixed(stats.ci95[0], 3)}, ${fixed(stats.ci95[1], 3)}]`;
}

function pValue(p) {
  return p < 0.001 ? p.toExponential(1) : fixed(p, 3);
}
