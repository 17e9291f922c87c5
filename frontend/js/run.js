// One run: its curves growing live as epochs land, its spec, timings, throughput, and why it failed.

import { api, isAbort } from "./api.js";
import { baseLayout, loadPlotly, PALETTE, PLOT_CONFIG } from "./charts.js";
import { downloadNotice } from "./datasets.js";
import { clear, download, errorBox, h, loading, statusBadge, toast } from "./dom.js";
import { dateTime, duration, number, percent, relativeTime, specValue } from "./format.js";
import { datasetLabel, methodLabel, modelName } from "./labels.js";
import { poll } from "./poll.js";
import { cancelButton, deleteRuns, isActive, rerunButton, setArchived } from "./run-actions.js";
import { bestEpoch as chosenEpoch } from "./series.js";
import { flattenSpec } from "./spec-paths.js";

const REFRESH_MS = 2000;
const TRAIN = PALETTE[0];
const TEST = PALETTE[1];
const VALIDATION = PALETTE[4];
// Columns that only runs with a validation split (dataset.validation > 0) record.
const VALIDATION_COLUMNS = new Set(["val_error", "val_loss"]);

// Each chart: its traces as [metric column, name, colour]; the error chart also marks the best test error.
const CHARTS = [
  { id: "error", title: "Error (%)", yTitle: "error (%)", traces: [["train_error", "train", TRAIN], ["val_error", "validation", VALIDATION], ["test_error", "test", TEST]], best: true, logToggle: true },
  { id: "loss", title: "Loss", yTitle: "cross-entropy", traces: [["train_loss", "train", TRAIN], ["val_loss", "validation", VALIDATION], ["test_loss", "test", TEST]], logToggle: true },
  { id: "lr", title: "Learning rate", yTitle: "learning rate", traces: [["lr", "learning rate", PALETTE[4]]] },
  { id: "speed", title: "Throughput", yTitle: "images / s", traces: [["images_per_second", "images/s", PALETTE[6]]] },
];

export function mount(root, ctx) {
  const runId = Number(ctx.params.id);
  ctx.setTitle(`Run #${runId}`);
  const metrics = emptyMetrics();
  const view = {};
  let run = null;
  let poller = null;
  let chartsDrawn = false;

  root.append(loading(`Loading run #${runId}…`));
  start();
  return () => poller?.stop();

  async function start() {
    try {
      // The run before its metrics: a run that ends in between still shows every epoch it recorded.
      run = await api.getRun(runId, { signal: ctx.signal });
      appendRows(await api.metrics(runId, {}, { signal: ctx.signal }));
      layout();
      drawRun();
      await drawCharts();
      findSiblings();
      poller = poll(refresh, REFRESH_MS);
    } catch (error) {
      if (isAbort(error)) return;
      const title = error.status === 404 ? `There is no run #${runId}` : `Run #${runId} could not be loaded`;
      clear(root, errorBox(error, { title, retry: error.status === 404 ? null : () => { clear(root, loading()); start(); } }),
        h("p", {}, h("a", { href: "#/runs", text: "← All runs" })));
    }
  }

  /** Only the epochs after the last one we hold come over the wire. */
  async function refresh() {
    if (!isActive(run)) return false;
    try {
      const fresh = await api.getRun(runId, { signal: ctx.signal });
      const rows = await api.metrics(runId, { after_epoch: metrics.epoch.at(-1) || 0 }, { signal: ctx.signal });
      const statusChanged = fresh.status !== run.status || fresh.cancel_requested !== run.cancel_requested;
      run = fresh;
      clear(view.problem);
      if (rows.epoch.length) {
        appendRows(rows);
        await growCharts(rows);
      }
      drawRun(statusChanged);
      if (statusChanged && !metrics.epoch.length) await drawCharts();
      return isActive(run);
    } catch (error) {
      if (isAbort(error)) return false;
      clear(view.problem, h("p", { class: "alert alert-warn", text: `Live updates paused: ${error.message}` }));
      return true;
    }
  }

  function appendRows(rows) {
    for (const key of Object.keys(metrics)) metrics[key].push(...(rows[key] || []));
  }

  // ------------------------------------------------------------------------------------ layout

  function layout() {
    view.title = h("h1");
    view.subtitle = h("p", { class: "subtitle" });
    view.actions = h("div", { class: "actions" });
    view.problem = h("div", { attrs: { role: "status", "aria-live": "polite" } });
    view.notice = h("div");
    view.stats = h("div", { class: "stats" });
    view.charts = h("div", { class: "charts" }, CHARTS.map(chartCard));
    view.noCharts = h("div");
    view.spec = h("div", { class: "card" });
    view.details = h("div", { class: "card" });
    clear(root,
      h("p", { class: "muted", style: "margin-bottom: 6px" }, h("a", { href: "#/runs", text: "← All runs" })),
      h("div", { class: "page-head" }, h("div", {}, view.title, view.subtitle), view.actions),
      view.problem, view.notice, view.stats, view.noCharts, view.charts,
      h("div", { class: "two-col details-spec" }, view.details, view.spec));
    drawSpec();
  }

  function chartCard(chart) {
    const box = h("div", { class: "chart", id: `chart-${chart.id}`, attrs: { role: "img", "aria-label": `${chart.title} by epoch` } });
    view[`chart-${chart.id}`] = box;
    const log = chart.logToggle && h("label", { class: "field checkbox", style: "margin: 0; font-size: 0.8125rem" },
      h("input", { type: "checkbox", onChange: (e) => setLogScale(box, e.target.checked) }), "Log scale");
    return h("section", { class: "chart-card", attrs: { "aria-label": chart.title } },
      h("div", { class: "section-head" }, h("h2", { text: chart.title }), log), box);
  }

  async function setLogScale(box, on) {
    if (!chartsDrawn) return;
    const Plotly = await loadPlotly();
    Plotly.relayout(box, { "yaxis.type": on ? "log" : "linear" });
  }

  function drawRun(statusChanged = true) {
    ctx.setTitle(`${run.name} (#${run.id})`);
    view.title.textContent = run.name;
    clear(view.subtitle, statusBadge(run.status), " ",
      `#${run.id} · ${modelName(run.spec.model)} · ${methodLabel(run.method)} · ${datasetLabel(run.dataset)} · seed ${run.seed}`,
      run.tags.length ? h("span", {}, " · ", run.tags.map((t) => h("a", { class: "tag", href: `#/runs?tag=${encodeURIComponent(t)}`, text: t }))) : null);
    if (statusChanged) drawActions();
    drawNotice();
    drawStats();
    drawDetails();
  }

  function drawActions() {
    clear(view.actions,
      isActive(run) && !run.cancel_requested ? cancelButton(run, (updated) => { run = updated; drawRun(); poller?.now(); }) : null,
      rerunButton(run, (created) => { location.hash = `#/runs/${created.id}`; }),
      rerunButton(run, (created) => { location.hash = `#/runs/${created.id}`; }, { newSeed: true }),
      h("a", { class: "button small", href: `#/launch?from=${run.id}`, text: "Edit as new run" }),
      view.siblings || null,
      h("button", { type: "button", class: "button small", text: "Edit name, tags, notes", onClick: editDetails }),
      h("button", { type: "button", class: "button small", text: run.archived_at ? "Restore" : "Archive",
        title: run.archived_at ? "Bring it back to the list of active runs" : "Take it out of the default runs list (nothing else changes)",
        onClick: toggleArchived }),
      isActive(run) ? null : h("button", { type: "button", class: "button small danger", text: "Delete", onClick: deleteRun }));
  }

  async function toggleArchived() {
    if ((await setArchived([run.id], !run.archived_at)).length) {
      run = await api.getRun(run.id);
      drawRun();
    }
  }

  async function deleteRun() {
    if ((await deleteRuns([run])).length) location.hash = "#/runs";
  }

  /** A small form over the page: what a person wrote about the run. The spec never changes here. */
  function editDetails() {
    const name = h("input", { id: "edit-name", value: run.name, required: true, maxLength: 200 });
    const tags = h("input", { id: "edit-tags", value: run.tags.join(", "), placeholder: "e.g. baseline, pn110", attrs: { autocomplete: "off" } });
    const notes = h("textarea", { id: "edit-notes", rows: 5, value: run.notes, maxLength: 10000 });
    const problem = h("div", { attrs: { role: "alert" } });
    const dialog = h("dialog", { class: "dialog", attrs: { "aria-label": `Edit run ${run.id}` } },
      h("form", { class: "dialog-body", onSubmit: save },
        h("h2", { text: `Edit run #${run.id}` }),
        h("label", { for: "edit-name", text: "Name" }), name,
        h("label", { for: "edit-tags", text: "Tags" }), tags,
        h("p", { class: "hint", text: "Separated by commas; letters, digits and . : + - = _" }),
        h("label", { for: "edit-notes", text: "Notes" }), notes,
        problem,
        h("div", { class: "dialog-actions" },
          h("button", { type: "button", class: "button secondary", text: "Cancel", onClick: () => dialog.close() }),
          h("button", { type: "submit", class: "button primary", text: "Save" }))));
    dialog.addEventListener("close", () => dialog.remove(), { once: true });
    document.body.append(dialog);
    dialog.showModal();

    async function save(event) {
      event.preventDefault();
      const tagList = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
      try {
        run = await api.editRun(run.id, { name: name.value.trim(), tags: tagList, notes: notes.value });
        dialog.close();
        drawRun();
        toast(`Run #${run.id} saved.`);
      } catch (error) {
        clear(problem, h("p", { class: "alert alert-error", text: error.fields.length
          ? error.fields.map((f) => `${f.field.replace(/^tags\.\d+$/, "tags")}: ${f.message}`).join("; ") : error.message }));
      }
    }
  }

  async function saveFile(name) {
    try {
      download(`run-${run.id}-${name}`, await api.runFile(run.id, name));
    } catch (error) {
      toast(`Could not download ${name}: ${error.message}`);
    }
  }

  function drawNotice() {
    let notice = null;
    if (run.status === "failed") {
      notice = h("div", { class: "alert alert-error", attrs: { role: "alert" } },
        h("h2", { text: "This run failed" }), h("pre", { class: "error-text", text: run.error || "The worker recorded no error text." }));
    } else if (run.status === "pruned") {
      notice = h("div", { class: "alert alert-warn" }, h("h2", { text: "Its search stopped this run early" }), h("p", { text: run.error || "pruned" }),
        run.search_id ? h("p", {}, h("a", { href: `#/searches/${run.search_id}`, text: `Search #${run.search_id}` })) : null);
    } else if (run.status === "cancelled") {
      notice = h("div", { class: "alert alert-warn" }, h("h2", { text: "This run was cancelled" }), run.error ? h("p", { text: run.error }) : null);
    } else if (run.status === "running" && run.cancel_requested) {
      notice = h("div", { class: "alert alert-warn", text: "Cancel requested: the worker stops this run within seconds." });
    } else if (run.status === "running" && run.download) {
      notice = downloadNotice(run.download);
    } else if (run.status === "queued" && run.error) {
      notice = h("div", { class: "alert alert-info", text: `Back in the queue (${run.error}); it resumes from its last checkpoint.` });
    } else if (run.status === "queued") {
      notice = h("div", { class: "alert alert-info", text: "Waiting for a worker. The charts start when the first epoch finishes." });
    }
    clear(view.notice, notice);
  }

  function drawStats() {
    const best = bestEpoch();
    const ended = run.finished_at && run.started_at ? (new Date(run.finished_at) - new Date(run.started_at)) / 1000 : null;
    const barClass = { succeeded: "done", failed: "failed", cancelled: "cancelled", pruned: "pruned" }[run.status] || "";
    clear(view.stats,
      stat("Progress", `${number(run.epochs_done)} / ${number(run.epochs)}`,
        h("div", { class: `progress-bar ${barClass}`, attrs: { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(run.epochs), "aria-valuenow": String(run.epochs_done), "aria-label": "Epochs done" } },
          h("span", { style: `width: ${Math.round(run.progress * 100)}%` })),
        run.eta_seconds != null ? `ETA ${duration(run.eta_seconds)}` : `${Math.round(run.progress * 100)}% of the epochs`),
      // The last epoch leads, as the papers report; the best epoch is said to be chosen, and on what.
      stat("Test error (last epoch)", percent(run.last_test_error), run.epochs_done ? `epoch ${number(run.epochs_done)}` : "no epoch yet"),
      best?.on === "validation"
        ? stat("Best epoch (chosen on validation)", percent(best.testError), `test error at epoch ${number(best.epoch)}, the lowest validation error`)
        : stat("Best epoch (chosen on the test set)", percent(run.best_test_error), best ? `epoch ${number(best.epoch)}; picked by its test error, so optimistic` : ""),
      stat("Last train error", percent(run.last_train_error), ""),
      hasValidation() ? stat("Last validation error", percent(run.last_val_error), `${number(run.spec.dataset.validation)} held-out images`) : null,
      stat("Throughput", run.images_per_second ? `${number(run.images_per_second)}` : "—", "images / s, last epoch"),
      stat("Training time", duration(run.train_seconds), ended ? `${duration(ended)} from start to end` : "in recorded epochs"));
  }

  function stat(label, value, ...sub) {
    return h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value", text: value }),
      ...sub.filter(Boolean).map((s) => (s instanceof Node ? s : h("div", { class: "stat-sub", text: s }))));
  }

  /** The best epoch: on the validation split where the run has one, else on the test set. */
  function bestEpoch() {
    return chosenEpoch(metrics);
  }

  function drawDetails() {
    const row = (k, v) => [h("dt", { text: k }), h("dd", {}, v)];
    const time = (iso) => (iso ? h("time", { dateTime: iso, title: dateTime(iso), text: `${dateTime(iso)} (${relativeTime(iso)})` }) : "—");
    clear(view.details, h("h2", { text: "Details" }),
      h("dl", { class: "kv" },
        row("Status", statusBadge(run.status)),
        row("Created", time(run.created_at)),
        row("Started", time(run.started_at)),
        row("Finished", time(run.finished_at)),
        row("Last heartbeat", time(run.heartbeat_at)),
        row("GPUs", run.gpus > 1 ? `${run.gpus} at once${run.gpu ? ` (${run.gpu})` : ""}` : "1"),
        row("Worker", run.worker ? `${run.worker}${run.gpu ? ` · ${run.gpu}` : ""}` : "—"),
        row("Attempts", String(run.attempts)),
        row("Epoch time", metrics.seconds.length ? `${duration(metrics.seconds.at(-1))} (last)` : "—"),
        row("Experiment", run.experiment_id ? `experiment ${run.experiment_id}` : "—"),
        row("Spec key", h("code", { title: "runs that differ only by seed share this key", text: run.spec_key.slice(0, 12) })),
        run.archived_at ? row("Archived", time(run.archived_at)) : null,
        row("Files", run.epochs_done ? h("div", { class: "actions" },
          h("button", { type: "button", class: "button small", text: "checkpoint.pt", onClick: () => saveFile("checkpoint.pt"),
            title: isActive(run) ? "The weights after the last finished epoch, with the spec" : "The final weights, with the spec (see the README to load them)" }),
          h("button", { type: "button", class: "button small", text: "metrics.jsonl", onClick: () => saveFile("metrics.jsonl"),
            title: "One JSON object per finished epoch" })) : "none until the first epoch ends")),
      run.notes ? [h("h3", { text: "Notes", style: "margin-top: 14px" }), h("p", { class: "notes", text: run.notes })] : null);
  }

  function drawSpec() {
    const sections = new Map();
    for (const [path, value] of Object.entries(flattenSpec(run.spec))) {
      const [top, ...rest] = path.includes(".") ? path.split(".") : ["run", path];
      if (!sections.has(top)) sections.set(top, []);
      sections.get(top).push([rest.join("."), value]);
    }
    const json = JSON.stringify(run.spec, null, 2);
    clear(view.spec,
      h("div", { class: "section-head" }, h("h2", { text: "Spec" }),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "button small", text: "Copy JSON", onClick: () => copy(json) }),
          h("button", { type: "button", class: "button small", text: "Download JSON", onClick: () => download(`run-${run.id}-spec.json`, new Blob([json], { type: "application/json" })) }))),
      h("div", { class: "spec-grid" }, [...sections].map(([section, entries]) => h("section", {},
        h("h3", { text: section }),
        h("dl", { class: "kv spec-kv" }, entries.map(([key, value]) => [h("dt", { text: key }), h("dd", { class: "diff-value", text: specValue(value) })]))))),
      h("p", { class: "hint", style: "margin-top: 12px" }, "Train it from a shell: ", h("code", { text: `python -m worker.engine train spec.json --out runs/${run.id}` })));
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      toast("Spec copied.");
    } catch {
      toast("The browser refused the clipboard; use Download JSON.");
    }
  }

  /** Other runs of the same spec: a link to compare them as one group, counted as compare counts them
   *  (finished runs, each seed once). */
  async function findSiblings() {
    try {
      const group = await api.seedGroup(run.id, { signal: ctx.signal });
      if (group.run_ids.length < 2) return;
      const ids = [...group.run_ids].sort((a, b) => a - b);
      const counted = group.counted_run_ids.length;
      const text = counted === ids.length ? `Compare ${counted} seeds` : `Compare ${counted} seed${counted === 1 ? "" : "s"} (${ids.length} runs)`;
      view.siblings = h("a", { class: "button small", href: `#/compare?ids=${ids.join(",")}`, text, title: group.summary });
      drawActions();
    } catch {
      // optional; the page is complete without it
    }
  }

  // ------------------------------------------------------------------------------------ charts

  async function drawCharts() {
    // No epochs yet: one line saying why instead of four empty charts; they appear with the first epoch.
    view.charts.hidden = !metrics.epoch.length;
    clear(view.noCharts, metrics.epoch.length ? null : emptyChart());
    if (!metrics.epoch.length) return;
    const Plotly = await loadPlotly();
    for (const chart of CHARTS) {
      const box = view[`chart-${chart.id}`];
      clear(box);
      const layout = baseLayout({ xTitle: "epoch", yTitle: chart.yTitle, legend: tracesShown(chart).length > 1 });
      // Top left: Plotly's toolbar takes the top right corner.
      layout.legend = { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom", font: { size: 11 } };
      layout.margin.t = 24;
      await Plotly.newPlot(box, tracesOf(chart), layout, PLOT_CONFIG);
    }
    chartsDrawn = true;
  }

  function emptyChart() {
    const text = run.status === "queued" ? "No epochs yet: this run is waiting for a worker."
      : run.status === "running" ? "The first epoch is training; its point appears here when it ends."
        : "This run recorded no epochs.";
    return h("div", { class: "card state", text });
  }

  function tracesOf(chart) {
    const traces = tracesShown(chart).map(([key, name, color]) => ({
      type: "scatter", mode: "lines", name, x: [...metrics.epoch], y: [...metrics[key]],
      line: { color, width: 2 }, hovertemplate: `%{y:.4g}<extra>${name}</extra>`,
    }));
    if (chart.best) {
      const on = bestEpoch()?.on === "validation" ? "validation" : "the test set";
      traces.push({ type: "scatter", mode: "markers", name: `best epoch (chosen on ${on})`, ...bestPoint(),
        marker: { symbol: "star", size: 12, color: TEST, line: { color: "#fff", width: 1 } }, hovertemplate: `test %{y:.2f}% at the best epoch (chosen on ${on})<extra></extra>` });
    }
    return traces;
  }

  /** The validation curves only for a run that holds images out; older runs have none. */
  function hasValidation() {
    return Boolean(run.spec.dataset?.validation);
  }

  function tracesShown(chart) {
    return chart.traces.filter(([key]) => hasValidation() || !VALIDATION_COLUMNS.has(key));
  }

  function bestPoint() {
    const best = bestEpoch();
    return best ? { x: [best.epoch], y: [best.testError] } : { x: [], y: [] };
  }

  async function growCharts(rows) {
    if (!chartsDrawn) return drawCharts();
    const Plotly = await loadPlotly();
    for (const chart of CHARTS) {
      const box = view[`chart-${chart.id}`];
      const shown = tracesShown(chart);
      const indices = shown.map((_, i) => i);
      await Plotly.extendTraces(box, { x: shown.map(() => rows.epoch), y: shown.map(([key]) => rows[key]) }, indices);
      if (chart.best) {
        const best = bestPoint();
        await Plotly.restyle(box, { x: [best.x], y: [best.y] }, [shown.length]);
      }
    }
    return undefined;
  }
}

function emptyMetrics() {
  return { epoch: [], train_loss: [], train_error: [], test_loss: [], test_error: [], val_loss: [], val_error: [], lr: [], seconds: [], images_per_second: [], wall_seconds: [] };
}
