// Whether the workers have a dataset, said before anything is queued (GET /api/datasets): "CIFAR-10 is on the
// workers", "… will be downloaded by the worker (163 MB) before the first epoch", or, with downloads off, the
// command that fetches it. The API words the sentence; this only shows it.

import { api } from "./api.js";
import { clear, h } from "./dom.js";

const FRESH_MS = 5000;
const TONE = { present: "muted", download: "alert alert-info", missing: "alert alert-warn", no_workers: "muted" };

let cached = null;

/** The workers' answer, asked at most every few seconds however often a form redraws. */
function availability() {
  if (!cached || Date.now() - cached.at > FRESH_MS) {
    cached = { at: Date.now(), answer: api.datasets().catch(() => { cached = null; return []; }) };
  }
  return cached.answer;
}

/** An element that fills in with what the workers say of `names` (dataset names; bundled ones say nothing). */
export function datasetNote(names) {
  const note = h("div", { class: "dataset-note", attrs: { role: "status", "aria-live": "polite" } });
  const wanted = new Set(Array.isArray(names) ? names : [names]);
  availability().then((datasets) => {
    clear(note, datasets.filter((d) => wanted.has(d.name) && d.message)
      .map((d) => h("p", { class: TONE[d.state] || "muted", dataset: { dataset: d.name, state: d.state }, text: d.message })));
  });
  return note;
}

/** A running run's worker fetching its dataset before the first epoch: "downloading CIFAR-10: 43%", with a bar. */
export function downloadNotice(download) {
  return h("div", { class: "alert alert-info download-notice" },
    h("p", { text: `${capitalized(download.message)}; the first epoch starts once it is in place.` }),
    download.percent !== null
      ? h("progress", { max: 100, value: download.percent, attrs: { "aria-label": download.message } })
      : null);
}

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
