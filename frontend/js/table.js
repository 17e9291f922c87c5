// One paper table: the reported number beside ours (mean ± std, n, difference, 95% interval and verdict), the
// profile's label on every number of ours, cell status filling in live, Reproduce with its cost first.

import { api, isAbort } from "./api.js";
import { datasetNote } from "./datasets.js";
import { clear, download, errorBox, h, loading, toast } from "./dom.js";
import { fixed, number } from "./format.js";
import { poll } from "./poll.js";
import { seedsPlanner, verdictLine } from "./table-stats.js";
import { CELL_STATUSES, summaryBar, verificationLegend } from "./tables.js";

const REFRESH_MS = 3000;
const DEFAULT_SEEDS = 3;

export function mount(root, ctx) {
  const id = ctx.params.id;
  let profile = ctx.query.get("profile") || "full";
  let table = null;
  let poller = null;
  const view = {};
  ctx.setTitle("Table");
  root.append(loading("Loading the table…"));
  start();
  return () => poller?.stop();

  async function start() {
    try {
      table = await api.table(id, profile, { signal: ctx.signal });
      layout();
      draw();
      watch();
    } catch (error) {
      if (isAbort(error)) return;
      clear(root, errorBox(error, { title: error.status === 404 ? `There is no table “${id}”` : "The table could not be loaded",
        retry: error.status === 404 ? null : () => { clear(root, loading()); start(); } }),
      h("p", {}, h("a", { href: "#/tables", text: "← All tables" })));
    }
  }

  /** Poll while runs of this table are queued or running, so cells fill in as they finish. */
  function watch() {
    poller?.stop();
    poller = poll(async () => {
      try {
        const fresh = await api.table(id, profile, { signal: ctx.signal });
        if (fresh.profile.name !== profile) return true;  // asked before the profile changed: the switch redraws
        table = fresh;
        clear(view.problem);
        draw();
      } catch (error) {
        if (isAbort(error)) return false;
        clear(view.problem, h("p", { class: "alert alert-warn", text: `Live updates paused: ${error.message}` }));
      }
      return table.summary.running + table.summary.queued > 0;
    }, REFRESH_MS);
  }

  function layout() {
    ctx.setTitle(table.title);
    view.profileSelect = h("select", { id: "table-profile", onChange: () => switchProfile(view.profileSelect.value) },
      table.profiles.map((p) => h("option", { value: p.name, text: p.name })));
    view.exports = h("div", { class: "actions" });
    view.profileNote = h("div");
    view.problem = h("div", { attrs: { role: "status", "aria-live": "polite" } });
    view.summary = h("div");
    view.table = h("div", { class: "table-scroll" });
    view.reproduce = h("div");
    view.notes = h("div");
    view.legend = h("div");
    clear(root,
      h("p", { class: "muted", style: "margin-bottom: 6px" }, h("a", { href: "#/tables", text: "← All tables" })),
      h("div", { class: "page-head" },
        h("div", {}, h("h1", { text: table.title }),
          h("p", { class: "subtitle", text: `${table.source} · dataset ${table.dataset} · verification: ${table.verification}` })),
        h("div", { class: "actions" },
          h("div", { class: "field", style: "margin: 0" }, h("label", { for: "table-profile", text: "Profile" }), view.profileSelect),
          view.reproduceButton = h("button", { type: "button", class: "button primary", text: "Reproduce…", style: "align-self: flex-end", onClick: openReproduce }))),
      view.problem, view.profileNote, view.reproduce,
      h("div", { class: "card" }, view.summary, h("div", { style: "margin-top: 12px" }, view.table), view.exports),
      view.legend, view.notes);
  }

  function switchProfile(name) {
    profile = name;
    ctx.setQuery({ profile: name === "full" ? "" : name });
    clear(view.reproduce);
    // Reproduce waits for the new profile's table: a click in between would price the old profile's runs.
    view.reproduceButton.disabled = true;
    api.table(id, profile, { signal: ctx.signal })
      .then((fresh) => { if (fresh.profile.name === profile) { table = fresh; draw(); watch(); } })
      .catch((error) => { if (!isAbort(error)) clear(view.problem, errorBox(error, { title: "That profile could not be loaded" })); })
      .finally(() => { if (profile === name) view.reproduceButton.disabled = false; });
  }

  function draw() {
    view.profileSelect.value = table.profile.name;
    const comparable = table.profile.comparable;
    clear(view.profileNote, h("div", { class: `alert ${table.profile.name === "full" ? "alert-info" : "alert-warn"}` },
      h("strong", { text: `Profile ${table.profile.label}. ` }), table.profile.description,
      comparable ? null : " Its numbers are not compared with the paper's."));
    clear(view.summary, summaryBar(table.summary));
    clear(view.table, paperTable(table, table.verification_levels || {}));
    clear(view.exports, h("span", { class: "muted", text: "Export:" }),
      ["csv", "markdown", "latex"].map((format) => exportLink(format)));
    view.exports.style.marginTop = "12px";
    clear(view.notes, notesCard());
    clear(view.legend, verificationLegend(table.verification_levels));
  }

  /** A link to the export, saved through the API client: it carries the key where reads need one. */
  function exportLink(format) {
    const { id, profile } = { id: table.id, profile: table.profile.name };
    const filename = `${id}-${profile}.${{ csv: "csv", markdown: "md", latex: "tex" }[format]}`;
    const save = (event) => {
      event.preventDefault();
      api.tableExport(id, format, profile)
        .then((text) => download(filename, new Blob([text], { type: "text/plain;charset=utf-8" })))
        .catch((error) => toast(`Could not export the table: ${error.message}`));
    };
    return h("a", { class: "button small", href: api.tableExportUrl(id, format, profile), download: filename, onClick: save,
      text: { csv: "CSV", markdown: "Markdown", latex: "LaTeX" }[format] });
  }

  /** The notes and settings of the chosen profile: the API says what the profile changes. */
  function notesCard() {
    const config = Object.entries(table.config || {});
    if (!table.notes?.length && !config.length) return null;
    return h("div", { class: "card" },
      h("h2", { text: "Notes and settings" }),
      table.notes?.length ? h("ul", {}, table.notes.map((n) => h("li", { text: n }))) : null,
      config.length ? h("dl", { class: "kv" }, config.map(([k, v]) => [h("dt", { text: k.replaceAll("_", " ") }), h("dd", { text: String(v) })])) : null);
  }

  // ------------------------------------------------------------------------------------ reproduce

  /** First the dry run's cost; the runs are queued only on the second click. */
  async function openReproduce() {
    const seedsInput = h("input", { id: "reproduce-seeds", type: "number", min: 1, max: 20, step: 1, value: DEFAULT_SEEDS, style: "max-width: 120px" });
    const plan = h("div", {}, loading("Working out the cost…"));
    const panel = h("section", { class: "card", attrs: { "aria-label": "Reproduce this table" } },
      h("div", { class: "section-head" }, h("h2", { text: `Reproduce under profile “${table.profile.name}”` }),
        h("button", { type: "button", class: "button small", text: "Close", onClick: () => clear(view.reproduce) })),
      h("div", { class: "preset-row" },
        h("div", { class: "field", style: "flex: 0 1 auto" }, h("label", { for: "reproduce-seeds", text: "Seeds per cell" }), seedsInput)),
      plan,
      seedsPlanner(table, (n) => { seedsInput.value = String(n); estimate(); }));
    clear(view.reproduce, panel);
    let timer = null;
    seedsInput.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(estimate, 300); });
    await estimate();

    async function estimate() {
      const seeds = Number(seedsInput.value);
      if (!Number.isInteger(seeds) || seeds < 1 || seeds > 20) {
        clear(plan, h("p", { class: "field-error", text: "Seeds per cell: a whole number from 1 to 20." }));
        return;
      }
      try {
        const dry = await api.reproduceTable(table.id, { seeds, profile: table.profile.name, dry_run: true });
        clear(plan, costSummary(dry), datasetNote(dry.datasets || []), dry.runs
          ? h("div", { class: "actions", style: "margin-top: 12px" },
            h("button", { type: "button", class: "button primary", text: `Queue ${dry.runs} run${dry.runs > 1 ? "s" : ""}`, onClick: (e) => queue(e.target, seeds) }))
          : h("p", { text: "Nothing to queue: every cell already has these seeds (queued, running or done)." }));
      } catch (error) {
        clear(plan, errorBox(error, { title: "The cost could not be worked out" }));
      }
    }

    async function queue(button, seeds) {
      button.disabled = true;
      button.textContent = "Queueing…";
      try {
        const done = await api.reproduceTable(table.id, { seeds, profile: table.profile.name, dry_run: false });
        toast(`Queued ${done.created_run_ids.length} runs for this table.`);
        clear(view.reproduce);
        table = await api.table(id, profile, { signal: ctx.signal });
        draw();
        watch();
      } catch (error) {
        button.disabled = false;
        button.textContent = "Queue the runs";
        clear(plan, errorBox(error, { title: "Nothing was queued" }));
      }
    }
  }
}

function costSummary(dry) {
  const local = dry.local;
  const here = local?.hours === null || local?.hours === undefined ? "—" : hoursText(local.wall_hours ?? local.hours, false);
  return h("div", {},
    h("div", { class: "stats", style: "margin-bottom: 8px" },
      stat("Runs", number(dry.runs)), stat("Epochs", number(dry.epochs)),
      stat("Hours on this installation", here), stat("GPU-hours on one H100 (estimate)", hoursText(dry.gpu_hours, false))),
    local ? h("p", { class: "local-estimate" }, localText(local, dry.runs)) : null,
    h("p", { class: "muted", style: "font-size: 0.8125rem" },
      `On one H100: about ${hoursText(dry.gpu_hours)}, an estimate from the models' FLOPs at an assumed share of its peak, not a measurement. Profile ${dry.profile_label}.`),
    h("details", {}, h("summary", { text: "How these times are worked out" }),
      h("ul", { style: "font-size: 0.8125rem" },
        (local?.rates || []).map((r) => h("li", {}, h("strong", { text: "this installation: " }),
          `${number(r.images_per_second, r.images_per_second < 10 ? 1 : 0)} images/s for ${plural(r.runs, "run")} of ${modelText(r.model)} at batch ${r.batch_size}, `,
          r.method === "same model" ? "the median of finished runs of this model at this batch size: " : "finished runs' training speed scaled by FLOPs per image: ",
          runLinks(r.measured_run_ids))),
        (dry.estimate_sources || []).map((s) => h("li", {}, h("strong", { text: "one H100: " }),
          `${number(s.images_per_second)} images/s for ${plural(s.runs, "run")} of ${modelText(s.model)}: ${s.basis}`)))));
}

/** Where the runs would train, plainly: whether the workers are CPUs, and which runs measured the speed. */
function localText(local, runs) {
  const { workers } = local;
  const names = (list) => list.join(", ");
  const device = {
    none: "No worker is running: nothing trains until one starts.",
    cpu: `This installation's ${workers.cpu.length > 1 ? `workers (${names(workers.cpu)}) are CPUs` : `only worker, ${names(workers.cpu)}, is a CPU`}: no GPU.`,
    gpu: `This installation's workers have GPUs (${names(workers.gpu)}).`,
    "cpu and gpu": `This installation has GPU workers (${names(workers.gpu)}) and CPU workers (${names(workers.cpu)}).`,
  }[local.device];
  if (!runs) return [device];
  const parts = [device, " "];
  if (local.hours === null) {
    parts.push("No finished run (of a preset's or a table's model, whose FLOPs are known) has measured its speed yet, so the time there is unknown: finish one, such as the digits demo (minutes on a CPU), and it appears here.");
    return parts;
  }
  const together = local.wall_hours !== null && workers.slots > 1
    ? `, about ${hoursText(local.wall_hours)} with ${workers.slots} runs training at once` : "";
  const scaled = local.rates.some((r) => r.method === "scaled by FLOPs");
  parts.push(`At the speed its finished runs measured, ${runs === 1 ? "this run" : "these runs"} would take about ${hoursText(local.hours)} of training there${together}. Measured from `,
    runLinks(local.measured_run_ids), ` on ${names(local.measured_on)}`,
    scaled ? ", scaled by FLOPs per image to the models not yet trained here" : "",
    local.on_workers_alive ? "." : "; those workers are not running now.",
    local.runs_without_rate ? ` ${plural(local.runs_without_rate, "run")} left out: no FLOPs figure for ${local.runs_without_rate > 1 ? "their models" : "its model"}.` : "");
  return parts;
}

function runLinks(ids) {
  const shown = ids.slice(0, 8);
  return [ids.length > 1 ? "runs " : "run ", ...shown.flatMap((id, i) => [i ? ", " : "", h("a", { href: `#/runs/${id}`, text: `#${id}` })]),
    ids.length > shown.length ? ` and ${ids.length - shown.length} more` : ""];
}

/** 0.25 h, 61 h, 1,460 h (61 days), 1,459,470 h (167 years); `long: false` leaves out the days and years. */
function hoursText(hours, long = true) {
  if (hours < 0.01) return "< 0.01 h";
  const text = `${number(hours, hours < 10 ? 2 : 0)} h`;
  if (!long || hours < 48) return text;
  return hours < 2 * 8766 ? `${text} (${number(hours / 24, 0)} days)` : `${text} (${number(hours / 8766, 0)} years)`;
}

function plural(n, word) {
  return `${number(n)} ${word}${n === 1 ? "" : "s"}`;
}

function modelText(model) {
  return Object.entries(model).map(([k, v]) => (k === "arch" ? v : `${k} ${v}`)).join(" ");
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value", text: value }));
}

// ------------------------------------------------------------------------------------ the table itself

function paperTable(table, levels) {
  return h("table", { class: "data-table paper-table" },
    h("caption", { class: "visually-hidden", text: `${table.title}: reported beside reproduced, profile ${table.profile.label}` }),
    h("thead", {}, h("tr", {}, h("th", { attrs: { scope: "col" }, text: "" }), table.columns.map((c) => h("th", { attrs: { scope: "col" }, text: c.label })))),
    h("tbody", {}, table.rows.map((row) => h("tr", {},
      h("th", { attrs: { scope: "row" }, text: row.label }),
      row.cells.map((cell) => (cell ? paperCell(cell, table.profile, levels) : h("td", { class: "muted", title: "the paper has no number here", text: "–" })))))));
}

function paperCell(cell, profile, levels) {
  const statusText = CELL_STATUSES.find(([s]) => s === cell.status)?.[1] || cell.status;
  const unverified = cell.verification === "UNVERIFIED";
  return h("td", { class: `paper-cell cell-${cell.status}`, dataset: { cell: cell.key, status: cell.status } }, h("div", { class: "cell-box" },
    h("div", { class: "cell-line" }, h("span", { class: "k", text: "Paper" }),
      cell.reported === null ? h("span", { class: "muted", text: "not retrieved" })
        : h("span", {}, h("span", { class: "v", text: fixed(cell.reported) }), " ",
          unverified ? h("span", { class: "unverified", title: `UNVERIFIED: ${levels.UNVERIFIED || "not confirmed"}`, text: "UNVERIFIED" })
            : h("span", { class: "muted", style: "font-size: 0.6875rem", title: `${cell.verification}: ${levels[cell.verification] || "verification level"}`, text: cell.verification }))),
    h("div", { class: "cell-line" }, h("span", { class: "k", text: "Ours" }), reproducedText(cell.reproduced)),
    cell.reproduced ? h("div", { class: "cell-meta" }, profileChip(profile), differenceText(cell.reproduced)) : null,
    verdictLine(cell.reproduced),
    h("div", { class: "cell-meta" },
      h("span", { class: `swatch cell-${cell.status} bg-cell`, style: "margin-right: 0", attrs: { "aria-hidden": "true" } }), statusText,
      countsText(cell.counts),
      cell.reproduced?.run_ids?.length ? h("a", { href: `#/compare?ids=${cell.reproduced.run_ids.join(",")}`, text: "curves" }) : null),
    cell.note ? h("div", { class: "cell-meta", text: cell.note }) : null));
}

function reproducedText(r) {
  if (!r) return h("span", { class: "muted", text: "—" });
  const std = r.std === null ? "" : ` ± ${fixed(r.std)}`;
  return h("span", { class: "v", title: `min ${fixed(r.min)}, max ${fixed(r.max)}; runs ${r.run_ids.join(", ")}` }, `${fixed(r.mean)}${std}`,
    h("span", { class: "muted", style: "font-weight: 400", text: ` n=${r.count}` }));
}

function profileChip(profile) {
  return h("span", { class: `profile-chip${profile.name === "full" ? " full" : ""}`, title: profile.label, text: profile.label });
}

function differenceText(r) {
  if (r.diff === null || r.diff === undefined) return null;
  const text = fixed(r.diff);
  const sign = r.diff > 0 && text !== "0.00" ? "+" : "";
  // Whether the difference matters is the verdict's to say (verdictLine): with its interval, not the spread.
  const ci = r.verdict?.difference_ci95;
  if (!ci) return h("span", { class: "cell-difference", title: "ours − the paper's", text: `Δ ${sign}${text}` });
  return h("span", { class: "cell-difference", title: "ours − the paper's, and the 95% interval of that difference",
    text: `Δ ${sign}${text} [${fixed(ci[0])}, ${fixed(ci[1])}]` });
}

function countsText(counts) {
  const parts = Object.entries(counts || {}).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`);
  return parts.length ? h("span", { text: `(${parts.join(", ")})` }) : null;
}
