// Compare: any runs overlaid; runs that differ only by seed as one mean line with a band; epoch or
// training-time axis; log scale; smoothing drawn over the faint raw curve; the spec fields that differ;
// best values; PNG and CSV export.

import { api, isAbort } from "./api.js";
import { baseLayout, loadPlotly, PLOT_CONFIG, seriesStyle, withAlpha } from "./charts.js";
import { clear, download, emptyState, errorBox, h, loading, statusBadge, uniqueId } from "./dom.js";
import { duration, number, percent, specValue } from "./format.js";
import { datasetLabel, fieldLabel, methodLabel, modelName } from "./labels.js";
import { poll } from "./poll.js";
import { argMin, aggregate, bestEpoch, meanStd, parseIds, seriesOf, smooth, thinGroup, toCsv } from "./series.js";
import { differingPaths, getPath } from "./spec-paths.js";
import { statsPanel } from "./stats-panel.js";

const METRICS = [
  ["test_error", "Test error (%)"], ["train_error", "Train error (%)"], ["test_loss", "Test loss"],
  ["train_loss", "Train loss"], ["lr", "Learning rate"], ["images_per_second", "Throughput (images/s)"],
];
const LOWER_IS_BETTER = new Set(["test_error", "train_error", "test_loss", "train_loss"]);
// Points per run asked of the server, which thins each stretch keeping its lowest and highest error.
const RESOLUTIONS = [["250", "250 per run"], ["500", "500 per run"], ["1000", "1,000 per run"], ["all", "Every epoch"]];
const ALL_POINTS = 100000;
const REFRESH_MS = 5000;
const MAX_LEGEND = 16;
// Beyond 40 curves (10 colours x 4 dashes) no style is a curve's own anyway: lines are drawn 1 px and solid, which
// Chromium rasterises much faster than 1.8 px dashed ones (200 curves: the whole page drawn in 0.5 s, not 1 s).
const DENSE_CURVES = 40;

export function mount(root, ctx) {
  const ids = parseIds(ctx.query.get("ids"));
  ctx.setTitle("Compare");
  if (!ids.length) return mountPicker(root, ctx);
  return new ComparePage(root, ctx, ids).start();
}

function readOptions(query) {
  const metric = METRICS.some(([k]) => k === query.get("metric")) ? query.get("metric") : "test_error";
  return {
    metric,
    x: query.get("x") === "time" ? "time" : "epoch",
    log: query.get("log") === "1",
    group: query.get("group") !== "0",
    band: query.get("band") === "std" ? "std" : "minmax",
    smoothing: Math.min(0.99, Math.max(0, Number(query.get("smooth")) || 0)),
    points: RESOLUTIONS.some(([k]) => k === query.get("points")) ? query.get("points") : "500",
  };
}

class ComparePage {
  constructor(root, ctx, ids) {
    this.root = root;
    this.ctx = ctx;
    this.ids = ids;
    this.options = readOptions(ctx.query);
    this.data = null;
    this.poller = null;
  }

  start() {
    this.root.append(loading(`Loading ${this.ids.length} run${this.ids.length > 1 ? "s" : ""}…`));
    this.load().then((ok) => { if (ok && this.anyActive()) this.poller = poll(() => this.refresh(), REFRESH_MS); });
    return () => this.poller?.stop();
  }

  /** The metric columns the page draws: the chosen metric, test and validation error (the table's best epoch)
   * and wall time (the time axis). The others come only for the CSV: a third of the answer to build and send. */
  shownColumns() {
    return [...new Set([this.options.metric, "test_error", "val_error", "wall_seconds"])];
  }

  async fetch(columns = this.shownColumns()) {
    const points = this.options.points === "all" ? ALL_POINTS : Number(this.options.points);
    const data = await api.compare(this.ids, points, { signal: this.ctx.signal }, columns);
    data.columns = columns; // null: every column
    data.metricsById = new Map(data.metrics.map((m) => [m.run_id, m]));
    return data;
  }

  /** The API answers 404 when one id is unknown: find which, and compare the others. */
  async dropUnknownIds() {
    const page = await api.listRuns({ ids: this.ids, limit: 1000 }, { signal: this.ctx.signal });
    const known = new Set(page.runs.map((r) => r.id));
    this.missing = this.ids.filter((id) => !known.has(id));
    this.ids = this.ids.filter((id) => known.has(id));
    return this.ids.length > 0;
  }

  async load() {
    try {
      try {
        this.data = await this.fetch();
      } catch (error) {
        if (error.status !== 404 || !(await this.dropUnknownIds())) throw error;
        this.data = await this.fetch();
      }
      this.layout();
      await this.draw();
      window.dispatchEvent(new CustomEvent("shakelab:chart-drawn", { detail: { runs: this.data.runs.length } }));
      return true;
    } catch (error) {
      if (isAbort(error)) return false;
      clear(this.root, h("div", { class: "page-head" }, h("h1", { text: "Compare" })),
        errorBox(error, { title: error.status === 404 ? `No run with ${this.ids.length > 1 ? "any of these ids" : "this id"} exists` : "The runs could not be loaded",
          retry: error.status === 404 ? null : () => { clear(this.root); this.start(); } }),
        this.idsForm());
      return false;
    }
  }

  async refresh() {
    try {
      const data = await this.fetch();
      // An answer asked for before the metric changed lacks its column: the newer request draws.
      if (!hasColumn(data, this.options.metric)) return this.anyActive();
      this.data = data;
      clear(this.problem);
      await this.draw();
      return this.anyActive();
    } catch (error) {
      if (isAbort(error)) return false;
      this.warn(error, "Live updates paused");
      return true;
    }
  }

  warn(error, what) {
    if (!isAbort(error)) clear(this.problem, h("p", { class: "alert alert-warn", text: `${what}: ${error.message}` }));
  }

  anyActive() {
    return this.data?.runs.some((r) => r.status === "queued" || r.status === "running");
  }

  setOption(key, value, { refetch = false } = {}) {
    this.options[key] = value;
    const o = this.options;
    this.ctx.setQuery({ ids: this.ids.join(","), metric: o.metric === "test_error" ? "" : o.metric, x: o.x === "time" ? "time" : "",
      log: o.log ? "1" : "", group: o.group ? "" : "0", band: o.band === "std" ? "std" : "", smooth: o.smoothing || "",
      points: o.points === "500" ? "" : o.points });
    this.syncControls();
    if (refetch || key === "metric") this.refresh();
    else this.draw();
  }

  // ------------------------------------------------------------------------------------ layout

  layout() {
    this.chart = h("div", { class: "chart chart-large", id: "compare-chart", attrs: { role: "img", "aria-label": "Curves of the compared runs" } });
    this.chartNote = h("p", { class: "chart-note" });
    this.subtitle = h("p", { class: "subtitle" });
    this.problem = h("div", { attrs: { role: "status", "aria-live": "polite" } });
    this.noEpochs = h("div", { class: "state", hidden: true });
    this.table = h("div");
    this.stats = statsPanel();
    this.controls = this.controlsBar();
    const missing = this.missing?.length
      ? h("p", { class: "alert alert-warn", attrs: { role: "status" },
        text: `${this.missing.length === 1 ? "Run" : "Runs"} ${this.missing.map((id) => `#${id}`).join(", ")} ${this.missing.length === 1 ? "was" : "were"} not found; showing the other ${this.ids.length}.` })
      : null;
    // A second setting launched from here joins this comparison instead of replacing it.
    const addSetting = `#/launch?from=${this.ids[0]}&compare=${this.ids.join(",")}`;
    clear(this.root,
      h("div", { class: "page-head" }, h("div", {}, h("h1", { text: "Compare" }), this.subtitle),
        h("div", { class: "actions" },
          h("a", { class: "button", href: addSetting, text: "Add a setting…", title: "Launch a changed copy of the first run; its runs join this comparison" }),
          h("button", { type: "button", class: "button", text: "Download PNG", onClick: () => this.downloadPng() }),
          h("button", { type: "button", class: "button", text: "Download CSV", onClick: () => this.downloadCsv().catch((error) => this.warn(error, "The CSV could not be made")) }))),
      missing,
      this.problem,
      h("div", { class: "card" }, this.controls, this.noEpochs, this.chart, this.chartNote),
      h("div", { class: "card" }, this.table),
      h("div", { class: "card" }, this.stats.node),
      this.idsForm());
    this.syncControls();
  }

  controlsBar() {
    const field = (label, control, extraClass = "") => {
      const id = control.id || (control.id = uniqueId("ctl"));
      return h("div", { class: `field ${extraClass}` }, h("label", { for: id, text: label }), control);
    };
    this.metricSelect = h("select", { id: "compare-metric", onChange: () => this.setOption("metric", this.metricSelect.value) },
      METRICS.map(([value, text]) => h("option", { value, text })));
    this.xButtons = segmented("X axis", [["epoch", "Epoch"], ["time", "Training time"]], (v) => this.setOption("x", v));
    this.bandButtons = segmented("Band", [["minmax", "Min–max"], ["std", "±1 std"]], (v) => this.setOption("band", v));
    this.logBox = h("input", { type: "checkbox", id: "compare-log", onChange: () => this.setOption("log", this.logBox.checked) });
    this.groupBox = h("input", { type: "checkbox", id: "compare-group", onChange: () => this.setOption("group", this.groupBox.checked) });
    this.smoothRange = h("input", { type: "range", id: "compare-smoothing", min: 0, max: 0.99, step: 0.01,
      attrs: { "aria-describedby": "compare-smoothing-value" } });
    this.smoothOutput = h("output", { id: "compare-smoothing-value", htmlFor: "compare-smoothing" });
    this.smoothRange.addEventListener("input", () => {
      this.smoothOutput.textContent = Number(this.smoothRange.value).toFixed(2);
      clearTimeout(this.smoothTimer); // redraw at most every 80 ms while the slider moves
      this.smoothTimer = setTimeout(() => this.setOption("smoothing", Number(this.smoothRange.value)), 80);
    });
    this.pointsSelect = h("select", { id: "compare-points", onChange: () => this.setOption("points", this.pointsSelect.value, { refetch: true }) },
      RESOLUTIONS.map(([value, text]) => h("option", { value, text })));
    this.bandField = h("div", { class: "field" }, this.bandButtons.label, this.bandButtons.node);
    return h("div", { class: "controls" },
      field("Metric", this.metricSelect),
      h("div", { class: "field" }, this.xButtons.label, this.xButtons.node),
      h("div", { class: "field smoothing" }, h("label", { for: "compare-smoothing" }, "Smoothing ", this.smoothOutput), this.smoothRange),
      h("label", { class: "field checkbox", for: "compare-log" }, this.logBox, "Log scale"),
      h("label", { class: "field checkbox", for: "compare-group" }, this.groupBox, "Group seeds"),
      this.bandField,
      field("Points", this.pointsSelect));
  }

  syncControls() {
    const o = this.options;
    this.metricSelect.value = o.metric;
    this.xButtons.set(o.x);
    this.bandButtons.set(o.band);
    this.logBox.checked = o.log;
    this.groupBox.checked = o.group;
    this.smoothRange.value = String(o.smoothing);
    this.smoothOutput.textContent = o.smoothing.toFixed(2);
    this.pointsSelect.value = o.points;
    this.bandField.hidden = !o.group;
  }

  idsForm() {
    const input = h("input", { id: "compare-ids", type: "text", value: this.ids.join(", "), placeholder: "e.g. 3, 4, 10-12", attrs: { autocomplete: "off" } });
    return h("form", { class: "card", onSubmit: (e) => { e.preventDefault(); goCompare(parseIds(input.value)); } },
      h("div", { class: "preset-row" },
        h("div", { class: "field" }, h("label", { for: "compare-ids", text: "Run ids" }), input,
          h("p", { class: "hint", text: "Add or remove runs: ids separated by commas, ranges like 10-12." })),
        h("button", { type: "submit", class: "button", text: "Show" })));
  }

  // ------------------------------------------------------------------------------------ the chart

  currentSeries(data = this.data, o = this.options) {
    const { runs, metricsById, groups } = data;
    const series = seriesOf(runs, metricsById, { group: o.group, groups });
    const differing = differingPaths(runs.map((r) => r.spec), { ignore: ["seed"] }); // seeds have their own column
    series.forEach((s, i) => {
      s.style = seriesStyle(i);
      s.label = seriesLabel(s, differing, o.group);
    });
    return { series, differing };
  }

  /** Draws this.data with the options of this moment. A later draw supersedes this one at its next await, and
   * a metric whose column has not arrived yet is left to the refresh that fetches it. */
  async draw() {
    const generation = this.drawGeneration = (this.drawGeneration || 0) + 1;
    const stale = () => generation !== this.drawGeneration;
    const data = this.data;
    const o = { ...this.options };
    if (!hasColumn(data, o.metric)) return;
    const { series, differing } = this.currentSeries(data, o);
    const runs = data.runs;
    const grouped = series.filter((s) => s.runs.length > 1).length;
    this.subtitle.textContent = `${runs.length} run${runs.length > 1 ? "s" : ""}`
      + (grouped ? ` in ${series.length} series (${grouped} seed group${grouped > 1 ? "s" : ""})` : "")
      + (this.anyActive() ? " · updating live" : "");
    drawTable(this.table, series, differing, data.metricsById, o);
    const metricLabel = METRICS.find(([k]) => k === o.metric)[1];
    const drawStats = () => this.stats.update({ groups: data.groups, runs, series, differing, metric: o.metric, metricLabel });
    // Before the first epoch: say so, rather than drawing empty axes; the chart appears with the first epoch.
    const anyEpoch = data.metrics.some((m) => m.epoch.length);
    this.noEpochs.hidden = anyEpoch;
    this.chart.hidden = !anyEpoch;
    if (!anyEpoch) {
      const running = runs.some((r) => r.status === "running");
      this.noEpochs.textContent = running ? "No epochs yet: the first epoch is training; the curves appear when it ends."
        : this.anyActive() ? "No epochs yet: these runs are waiting for a worker." : "These runs recorded no epochs.";
      this.chartNote.textContent = "";
      drawStats();
      return;
    }
    const Plotly = await loadPlotly();
    if (stale()) return;
    const { traces, unit } = this.traces(series, data, o);
    const layout = baseLayout({ xTitle: o.x === "time" ? `training time (${unit.name})` : "epoch", yTitle: metricLabel, logY: o.log });
    layout.hovermode = series.length <= 8 ? "x unified" : "closest";
    layout.showlegend = series.length <= MAX_LEGEND;
    layout.margin.b = 56;
    layout.uirevision = `${o.metric}|${o.x}|${o.log}`; // keep the user's zoom across live updates
    await Plotly.react(this.chart, traces, layout, PLOT_CONFIG);
    if (stale()) return;
    this.chartNote.textContent = note(series, data, o);
    // The chart on screen first (the next frame paints it), then the statistics panel below it (its numbers and
    // SVG parallel coordinates in this task, its Plotly scatter next; the WebGL parallel coordinates only when opened).
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    if (stale()) return;
    performance.mark("shakelab:compare-chart-painted"); // for the benchmark
    this.chart.dataset.drawn = String(Number(this.chart.dataset.drawn || 0) + 1); // for tests and the benchmark
    drawStats();
  }

  traces(series, data, o) {
    const key = o.metric;
    const maxWall = Math.max(1, ...data.metrics.map((m) => m.wall_seconds.at(-1) || 0));
    const unit = maxWall > 7200 ? { name: "h", div: 3600 } : maxWall > 120 ? { name: "min", div: 60 } : { name: "s", div: 1 };
    const traces = [];
    const best = { x: [], y: [], color: [], text: [] };
    const dense = series.length > DENSE_CURVES;
    for (const s of series) {
      const { color } = s.style;
      const dash = dense ? "solid" : s.style.dash;
      // A seed group's line is the mean over its counted runs (finished, each seed once); its other
      // members are drawn faint and dotted, outside the mean. With no run counted yet, all are drawn faint.
      const grouped = s.runs.length > 1;
      const counted = grouped ? s.countedMetrics.filter((m) => m?.epoch.length) : [s.metrics[0]];
      if (grouped) {
        s.runs.forEach((run, k) => {
          const m = s.metrics[k];
          const left = s.notCounted.get(run.id);
          if (!left || !m?.epoch.length) return;
          const xs = o.x === "time" ? m.wall_seconds.map((v) => v / unit.div) : m.epoch;
          traces.push({ type: "scatter", mode: xs.length <= 40 ? "lines+markers" : "lines", marker: { size: 3 }, x: xs, y: m[key],
            name: `#${run.id} (not counted)`, legendgroup: s.key, showlegend: false,
            line: { color: withAlpha(color, 0.55), width: 1, dash: "dot" },
            hovertemplate: `%{y:.4g}<extra>${escapeHover(`#${run.id} seed ${run.seed}: not counted, ${left.detail}`)}</extra>` });
        });
        if (!counted.length) continue;
      }
      const group = grouped ? thinGroup(aggregate(counted, key), o.points === "all" ? Infinity : Number(o.points)) : null;
      const m = s.metrics[0];
      const xRaw = group ? (o.x === "time" ? group.wall : group.epoch) : (o.x === "time" ? m.wall_seconds : m.epoch);
      const x = o.x === "time" ? xRaw.map((v) => v / unit.div) : xRaw;
      const y = group ? group.mean : m[key];
      if (group && counted.length > 1) traces.push(...bandTraces(s, group, x, o.band, color));
      const smoothed = o.smoothing ? smooth(y, o.smoothing) : null;
      // A group's hover says over how many counted seeds the mean is taken (seeds still training count less).
      const hover = group ? `mean %{y:.4g} over %{customdata} counted seed(s)<extra>${escapeHover(s.label)}</extra>`
        : `%{y:.4g}<extra>${escapeHover(s.label)}</extra>`;
      traces.push({
        type: "scatter", mode: x.length <= 40 ? "lines+markers" : "lines", marker: { size: 5 }, x, y, name: s.label,
        customdata: group ? group.n : undefined, legendgroup: s.key, showlegend: !smoothed,
        line: { color: smoothed ? withAlpha(color, 0.3) : color, width: smoothed || dense ? 1 : 1.8, dash },
        hovertemplate: hover, hoverinfo: smoothed ? "skip" : undefined,
      });
      if (smoothed) {
        traces.push({ type: "scatter", mode: "lines", x, y: smoothed, name: s.label, legendgroup: s.key,
          line: { color, width: dense ? 1 : 2.2, dash }, hovertemplate: `%{y:.4g} (smoothed)<extra>${escapeHover(s.label)}</extra>` });
      }
      if (LOWER_IS_BETTER.has(key)) {
        const i = argMin(y);
        if (i >= 0) { best.x.push(x[i]); best.y.push(y[i]); best.color.push(color); best.text.push(s.label); }
      }
    }
    if (best.x.length) {
      traces.push({ type: "scatter", mode: "markers", x: best.x, y: best.y, name: "best", showlegend: false, text: best.text,
        marker: { symbol: "star", size: 12, color: best.color, line: { color: "#fff", width: 1 } },
        hovertemplate: `lowest %{y:.4g}${key === "test_error" ? " (an epoch chosen on the test set)" : ""}<extra>%{text}</extra>` });
    }
    return { traces, unit };
  }

  // ------------------------------------------------------------------------------------ export

  async downloadPng() {
    const Plotly = await loadPlotly();
    await Plotly.downloadImage(this.chart, { format: "png", width: 1600, height: 800, filename: this.filename() });
  }

  /** One row per run and recorded (possibly thinned) epoch, every metric, plus the shown smoothing. */
  async downloadCsv() {
    const { series } = this.currentSeries(await this.fetch(null));
    const key = this.options.metric;
    const columns = ["epoch", "wall_seconds", "train_loss", "train_error", "test_loss", "test_error", "lr", "images_per_second"];
    const smoothedColumn = this.options.smoothing ? [`${key}_smoothed_${this.options.smoothing}`] : [];
    const rows = [];
    for (const s of series) {
      s.runs.forEach((run, k) => {
        const m = s.metrics[k];
        const smoothed = this.options.smoothing ? smooth(m[key], this.options.smoothing) : null;
        m.epoch.forEach((_, i) => rows.push([run.id, run.name, s.label, run.seed, run.spec_key.slice(0, 12),
          ...columns.map((c) => m[c][i]), ...(smoothed ? [smoothed[i]] : [])]));
      });
    }
    const csv = toCsv(["run_id", "run_name", "series", "seed", "spec_key", ...columns, ...smoothedColumn], rows);
    download(`${this.filename()}.csv`, new Blob([csv], { type: "text/csv" }));
  }

  filename() {
    const ids = this.ids.length > 6 ? `${this.ids.slice(0, 6).join("-")}-and-${this.ids.length - 6}-more` : this.ids.join("-");
    return `shakelab-compare-${this.options.metric}-runs-${ids}`;
  }
}

// ------------------------------------------------------------------------------------ pieces

function note(series, data, o) {
  const thinned = data.metrics.filter((m) => m.downsampled).length;
  const parts = [];
  if (thinned) parts.push(`${thinned} of ${data.metrics.length} runs thinned on the server to about ${o.points} points (each stretch's lowest and highest train and test error kept); choose "Every epoch" under Points for all.`);
  if (o.smoothing) parts.push("Bold lines are smoothed; the faint lines under them are the raw values.");
  if (series.some((s) => s.runs.length > 1)) {
    parts.push(`Seed groups: mean over the counted runs (finished, each seed once), shaded ${o.band === "std" ? "±1 standard deviation" : "from the lowest to the highest seed"}.`);
    if (series.some((s) => s.notCounted.size)) parts.push("Dotted lines: runs shown but not counted (unfinished, or a seed already counted).");
  }
  if (LOWER_IS_BETTER.has(o.metric)) {
    parts.push(o.metric === "test_error"
      ? "★ marks each curve's lowest point: an epoch picked by its test error, so optimistic; the table leads with the last epoch, as the papers report."
      : "★ marks each curve's lowest point.");
  }
  if (series.length > MAX_LEGEND) parts.push("Colours and names are in the table below; hover a curve for its name.");
  return parts.join(" ");
}

function hasColumn(data, key) {
  return !data.columns || data.columns.includes(key);
}

function bandTraces(s, group, x, band, color) {
  const lower = band === "std" ? group.mean.map((v, i) => v - group.std[i]) : group.min;
  const upper = band === "std" ? group.mean.map((v, i) => v + group.std[i]) : group.max;
  const common = { type: "scatter", mode: "lines", x, legendgroup: s.key, showlegend: false, hoverinfo: "skip", line: { width: 0, color } };
  return [
    { ...common, y: lower, name: `${s.label} (low)` },
    { ...common, y: upper, name: `${s.label} (high)`, fill: "tonexty", fillcolor: withAlpha(color, 0.18) },
  ];
}

function segmented(label, choices, onChoose) {
  const labelId = uniqueId("seg");
  const buttons = choices.map(([value, text]) => h("button", { type: "button", text, dataset: { value }, attrs: { "aria-pressed": "false" }, onClick: () => onChoose(value) }));
  return {
    label: h("span", { class: "field-label", id: labelId, text: label }),
    node: h("div", { class: "segmented", attrs: { role: "group", "aria-labelledby": labelId } }, buttons),
    set: (value) => buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.value === value))),
  };
}

/**
 * A series' name: a run's own; for a seed group, what sets it apart from the other series, naming only the
 * differing fields this group has a value for, then how many of its runs count.
 */
function seriesLabel(s, differing, grouped) {
  const run = s.runs[0];
  if (!grouped || s.runs.length === 1) return `#${run.id} ${run.name}`;
  const counted = s.counted.length;
  const count = counted === s.runs.length ? `${counted} seeds` : `${counted} of ${s.runs.length} runs counted`;
  return `${settingLabel(run, differing)} (${count})`;
}

/** "ShakeDrop · p_last 0.5, alpha_range [-1, 1]": model, method and dataset by name when they differ, then
 *  the other differing fields that this run's spec has (a field its method lacks, or one at none, is left out). */
export function settingLabel(run, differing) {
  const parts = [];
  if (differing.some((p) => p.startsWith("model."))) parts.push(modelName(run.spec.model));
  if (differing.includes("regularization.method")) parts.push(methodLabel(run.method));
  if (differing.includes("dataset.name")) parts.push(datasetLabel(run.dataset));
  const others = differingValues(run, differing.filter((p) => !p.startsWith("model.") && p !== "regularization.method" && p !== "dataset.name"));
  if (others.length) parts.push(others.map(([name, value]) => `${name} ${value}`).join(", "));
  if (!parts.length) parts.push(`${modelName(run.spec.model)} ${methodLabel(run.method)}`);
  return parts.join(" · ");
}

/** [short name, value] of each path that this run's spec holds with a value. */
function differingValues(run, paths) {
  return paths.map((p) => [p.split(".").pop(), getPath(run.spec, p)])
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([name, v]) => [name, specValue(v)]);
}

/** Plotly reads <extra> contents as HTML-ish markup: keep run names plain text. */
function escapeHover(text) {
  return text.replace(/[<>&]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" }[c]));
}

/**
 * One row per series, results first: the last epoch's test error (the papers' protocol), then the best
 * epoch with what chose it, then seeds, status and time, and last the spec fields that differ, compactly.
 * A seed group's figures are over its counted runs only (finished, each seed once), from the server.
 */
function drawTable(container, series, differing, metricsById, options) {
  const rows = series.map((s) => ({ s, last: lastOf(s), best: bestOf(s, metricsById) }));
  const lowest = Math.min(...rows.filter((r) => r.last).map((r) => r.last.mean)); // ties share the star
  const bestOn = rows.some((r) => r.best?.on === "validation") ? "validation" : "test";
  const header = [["Series", ""], ["Last test error", "num"],
    [bestOn === "validation" ? "Best epoch (chosen on validation)" : "Best epoch (chosen on the test set)", "num best-col"],
    [options.group ? "Seeds" : "Seed", ""], ["Status", ""], ["Training time", "num"],
    ...(differing.length ? [["Differs", ""]] : [])];
  const body = rows.map(({ s, last, best }) => {
    const run = s.runs[0];
    const single = s.runs.length === 1;
    return h("tr", {},
      h("td", {}, h("span", { class: "swatch", style: `background: ${s.style.color}` }),
        single ? h("a", { class: "run-name", href: `#/runs/${run.id}`, text: s.label }) : h("span", { class: "run-name", text: s.label }),
        single ? null : h("div", { class: "cell-sub" }, s.runs.map((r, k) => [k ? " " : "", memberLink(r, s.notCounted.get(r.id))]))),
      h("td", { class: "num" }, spread(last, rows.length > 1 && last?.mean === lowest)),
      h("td", { class: "num" }, spread(best), best?.epoch ? h("div", { class: "cell-sub", text: `epoch ${number(best.epoch)}` }) : null),
      h("td", {}, seedsCell(s)),
      h("td", {}, statusSummary(s.runs),
        h("div", { class: "cell-sub nowrap", text: `epochs ${s.runs.map((r) => `${number(r.epochs_done)}/${number(r.epochs)}`).filter((v, k, a) => a.indexOf(v) === k).join(", ")}` })),
      h("td", { class: "num", text: duration(meanStd(s.counted.map((r) => r.train_seconds))?.mean) }),
      differing.length ? h("td", { class: "diff-values" }, differingValues(run, differing).map(([name, value]) =>
        h("span", { class: "diff-pair" }, h("span", { class: "diff-name", text: name }), " ", h("span", { class: "diff-value", text: value })))) : null);
  });
  const note = differing.length
    ? h("p", { class: "muted" }, "Spec fields that differ (seed aside): ",
      differing.map((p, k) => [k ? ", " : "", h("code", { text: p, title: fieldLabel(p) })]), ".")
    : h("p", { class: "muted", text: "Every spec is the same apart from the seed." });
  clear(container, h("h2", { text: "Runs in this comparison" }), note,
    h("div", { class: "table-scroll" }, h("table", { class: "data-table compare-table" },
      h("thead", {}, h("tr", {}, header.map(([text, cls]) => h("th", { class: cls, attrs: { scope: "col" }, text })))),
      h("tbody", {}, body))),
    h("p", { class: "hint", text: `Test error at the last epoch is what the papers report. The best epoch is picked by its ${bestOn === "validation" ? "validation error (the test error shown is at that epoch)" : "test error, which makes it optimistic"}. Seed groups: mean ± sample std over the counted runs (finished, each seed once), with n and a 95% confidence interval; exact values from the run rows, never thinned.` }));
}

/** The last epoch's test error: the run's own, or the group's statistics over its counted runs. */
function lastOf(s) {
  if (s.runs.length === 1) return meanStd([s.runs[0].last_test_error]);
  return s.group?.last_test_error || null;
}

/** The best epoch's test error, and what picked it (validation where the runs have a split). */
function bestOf(s, metricsById) {
  const runs = s.runs.length === 1 ? s.runs : s.counted;
  const picks = runs.map((r) => ({ run: r, pick: bestEpoch(metricsById.get(r.id)) }));
  if (picks.some((p) => p.pick?.on === "validation")) {
    const stats = meanStd(picks.map((p) => p.pick?.testError));
    return stats && { ...stats, on: "validation", epoch: runs.length === 1 ? picks[0].pick?.epoch : null };
  }
  const stats = s.runs.length === 1 ? meanStd([s.runs[0].best_test_error]) : s.group?.best_test_error;
  return stats && { ...stats, on: "test", epoch: runs.length === 1 ? picks[0].pick?.epoch : null };
}

function memberLink(run, notCounted) {
  if (!notCounted) return h("a", { href: `#/runs/${run.id}`, text: `#${run.id}`, title: `seed ${run.seed}, counted` });
  return h("a", { class: "not-counted", href: `#/runs/${run.id}`, text: `#${run.id}`, title: `seed ${run.seed}: not counted, ${notCounted.detail}` });
}

function seedsCell(s) {
  if (s.runs.length === 1) return h("span", { class: "num", text: String(s.runs[0].seed) });
  const g = s.group;
  const left = [...s.notCounted.values()];
  return [
    h("div", { text: g.summary }),
    g.seeds.length ? h("div", { class: "cell-sub", text: `counted: seed${g.seeds.length > 1 ? "s" : ""} ${g.seeds.join(", ")}` }) : null,
    left.length ? h("div", { class: "cell-sub" }, "not counted: ", left.map((n, k) => [k ? ", " : "",
      h("span", { class: "nowrap", title: n.detail, text: `#${n.run_id} (${n.reason === "duplicate seed" ? duplicateNote(s, n) : n.detail.split(",")[0]})` })])) : null,
  ];
}

/** "seed 0 again, #14 counted": which run stands for a seed that ran twice. */
function duplicateNote(s, n) {
  const used = s.counted.find((r) => r.seed === n.seed);
  return `seed ${n.seed} again${used ? `, #${used.id} counted` : ""}`;
}

function spread(stats, winner = false) {
  if (!stats) return "—";
  const text = stats.n > 1 ? `${percent(stats.mean)} ± ${stats.std.toFixed(2)}` : percent(stats.mean);
  const sub = stats.n > 1 ? h("div", { class: "cell-sub", text: `n = ${stats.n}${stats.ci95 ? ` · 95% CI ${stats.ci95[0].toFixed(2)}–${stats.ci95[1].toFixed(2)}` : ""}` }) : null;
  const value = winner ? h("strong", { title: "lowest in this comparison", text: `★ ${text}` }) : text;
  return sub ? [value, sub] : value;
}

function statusSummary(runs) {
  if (runs.length === 1) return statusBadge(runs[0].status);
  const counts = {};
  for (const r of runs) counts[r.status] = (counts[r.status] || 0) + 1;
  return Object.entries(counts).map(([status, n]) => h("div", { class: "nowrap" }, statusBadge(status), ` ×${n}`));
}

function goCompare(ids) {
  location.hash = ids.length ? `#/compare?ids=${ids.join(",")}` : "#/compare";
}

// ------------------------------------------------------------------------------------ no runs chosen yet

function mountPicker(root, ctx) {
  const selected = new Set();
  const list = h("div", {}, loading("Loading the latest runs…"));
  const button = h("button", { type: "button", class: "button primary", text: "Compare selected", disabled: true, onClick: () => goCompare([...selected]) });
  const input = h("input", { id: "compare-ids", type: "text", placeholder: "e.g. 3, 4, 10-12", attrs: { autocomplete: "off" } });
  root.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", { text: "Compare" }),
      h("p", { class: "subtitle", text: "Overlay runs, group seeds into a mean with a band, see which spec fields differ." }))),
    emptyState("Choose runs to compare",
      h("p", {}, "Tick runs on the ", h("a", { href: "#/runs", text: "Runs" }), " page and press Compare selected, pick from the latest runs below, or type run ids.")),
    h("form", { class: "card", style: "margin-top: 16px", onSubmit: (e) => { e.preventDefault(); goCompare(parseIds(input.value)); } },
      h("div", { class: "preset-row" },
        h("div", { class: "field" }, h("label", { for: "compare-ids", text: "Run ids" }), input),
        h("button", { type: "submit", class: "button", text: "Show" }))),
    h("div", { class: "card" }, h("div", { class: "section-head" }, h("h2", { text: "Latest runs" }), button), list));
  api.listRuns({ limit: 30 }, { signal: ctx.signal }).then((page) => {
    if (!page.runs.length) {
      clear(list, h("p", { class: "muted" }, "No runs yet — ", h("a", { href: "#/launch", text: "launch one" }), "."));
      return;
    }
    clear(list, h("div", { class: "table-scroll" }, h("table", { class: "data-table" }, h("tbody", {}, page.runs.map((run) => h("tr", {},
      h("td", {}, h("input", { type: "checkbox", attrs: { "aria-label": `Select run ${run.id} (${run.name})` }, onChange: (e) => {
        if (e.target.checked) selected.add(run.id); else selected.delete(run.id);
        button.disabled = !selected.size;
        button.textContent = selected.size ? `Compare selected (${selected.size})` : "Compare selected";
      } })),
      h("td", {}, statusBadge(run.status)),
      h("td", {}, h("a", { href: `#/runs/${run.id}`, class: "run-name", text: `#${run.id} ${run.name}` })),
      h("td", { text: `${modelName(run.spec.model)} · ${methodLabel(run.method)}` }),
      h("td", { class: "num", title: "test error at the last epoch", text: percent(run.last_test_error) })))))));
  }).catch((error) => { if (!isAbort(error)) clear(list, errorBox(error, { title: "The latest runs could not be loaded" })); });
  return null;
}
