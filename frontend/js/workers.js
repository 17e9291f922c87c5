// Workers: every worker with its GPUs, its state and the runs it trains; then the queue in the order runs start,
// each with why it waits (no worker wide enough, all busy, or the GPUs of the worker that holds it).

import { api, isAbort } from "./api.js";
import { clear, emptyState, errorBox, h, loading, statusBadge } from "./dom.js";
import { DASH, dateTime, duration, number, percent, relativeTime } from "./format.js";
import { poll } from "./poll.js";

const REFRESH_MS = 2000;
const STATE_TEXT = {
  idle: "waiting for a run", stale: "silent: killed, or its machine is down", stopped: "stopped when asked",
};

export function mount(root, ctx) {
  ctx.setTitle("Workers");
  const workers = h("section", { attrs: { "aria-label": "Workers" } }, loading("Loading the workers…"));
  const queue = h("section", { attrs: { "aria-label": "Queue" } });
  clear(root,
    h("div", { class: "page-head" }, h("div", {}, h("h1", { text: "Workers" }),
      h("p", { class: "subtitle", text: "Who trains what, and the runs waiting their turn. Updated live." }))),
    workers, queue);
  const poller = poll(async () => {
    try {
      const [list, waiting] = await Promise.all([api.workers({ signal: ctx.signal }), api.queue({ signal: ctx.signal })]);
      drawWorkers(workers, list);
      drawQueue(queue, waiting, list.some((w) => w.alive));
    } catch (error) {
      if (isAbort(error)) return false;
      clear(workers, errorBox(error, { title: "The workers could not be loaded" }));
    }
    return true;
  }, REFRESH_MS);
  return () => poller.stop();
}

function drawWorkers(section, workers) {
  if (!workers.length) {
    clear(section, emptyState("No worker has run in the last week.",
      h("p", {}, "`make run` starts one beside the server; on a GPU box, ", h("code", { text: "python -m worker --gpu 0" }), " starts one per GPU, and ", h("code", { text: "python -m worker --gpus 0,1,2,3" }), " one that also trains runs on several GPUs.")));
    return;
  }
  clear(section, h("div", { class: "card table-scroll" }, h("table", { class: "data-table workers-table" },
    h("thead", {}, h("tr", {}, ["Worker", "GPU", "State", "Training", "Last sign of life", "Started"].map((t) => h("th", { attrs: { scope: "col" }, text: t })))),
    h("tbody", {}, workers.map((w) => h("tr", { class: w.alive ? "" : "muted", dataset: { worker: w.name, state: w.state } },
      h("td", { dataset: { label: "Worker" } }, h("code", { text: w.name }), w.slots > 1 ? h("div", { class: "cell-sub", text: `${w.slots} runs at once` }) : null),
      h("td", { dataset: { label: "GPU" } }, w.gpu == null ? "CPU" : gpuList(w)),
      h("td", { dataset: { label: "State" } }, h("span", { class: `worker-state worker-${w.state}`, text: w.state }), h("div", { class: "cell-sub", text: w.state === "training" ? `${w.runs.length} of ${w.slots} run${w.slots === 1 ? "" : "s"} at once` : STATE_TEXT[w.state] })),
      h("td", { dataset: { label: "Training" } }, w.runs.length ? w.runs.map(runProgress) : DASH),
      h("td", { dataset: { label: "Last sign of life" } }, h("time", { dateTime: w.last_seen, title: dateTime(w.last_seen), text: relativeTime(w.last_seen) })),
      h("td", { dataset: { label: "Started" } }, h("time", { dateTime: w.started_at, title: dateTime(w.started_at), text: relativeTime(w.started_at) }))))))));
}

/** Its GPUs, each with the runs on it (a run on several GPUs appears on each). */
function gpuList(worker) {
  const gpus = worker.placement?.gpus ?? worker.gpu.split(",").map((label) => ({ label, runs: [] }));
  if (gpus.length === 1) return gpus[0].label;
  return h("ul", { class: "gpu-list" }, gpus.map((g) => h("li", { dataset: { gpu: g.label } },
    `GPU ${g.label}: `, g.runs.length ? g.runs.map((id, i) => [i ? ", " : "", h("a", { href: `#/runs/${id}`, text: `#${id}` })]) : "free")));
}

function runProgress(run) {
  return h("div", { class: "progress" },
    h("a", { href: `#/runs/${run.id}`, text: `#${run.id} ${run.name}` }),
    h("div", { class: "progress-bar", attrs: { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(run.epochs), "aria-valuenow": String(run.epochs_done), "aria-label": `Run ${run.id} progress` } },
      h("span", { style: `width: ${Math.round(run.progress * 100)}%` })),
    h("div", { class: "cell-sub", text: `epoch ${number(run.epochs_done)} of ${number(run.epochs)}${run.last_test_error != null ? ` · test error ${percent(run.last_test_error)}` : ""}` }));
}

function drawQueue(section, queue, anyWorker) {
  const title = h("h2", { text: `Queue (${number(queue.total)})` });
  if (!queue.total) {
    clear(section, title, h("p", { class: "muted", text: "No run is waiting." }));
    return;
  }
  clear(section, title,
    anyWorker ? null : h("p", { class: "alert alert-warn", text: "No worker is alive: these runs wait until one starts." }),
    h("div", { class: "card table-scroll" }, h("table", { class: "data-table queue-table" },
      h("thead", {}, h("tr", {}, ["#", "Run", "GPUs", "Epochs", "Waiting", "Why it waits"].map((t) => h("th", { attrs: { scope: "col" }, text: t })))),
      h("tbody", {}, queue.runs.map((item) => h("tr", { dataset: { run: String(item.run.id) } },
        h("td", { class: "num", dataset: { label: "Position" }, text: String(item.position) }),
        h("td", { dataset: { label: "Run" } }, h("a", { href: `#/runs/${item.run.id}`, text: item.run.name }), h("div", { class: "cell-sub", text: `#${item.run.id} · seed ${item.run.seed}` })),
        h("td", { class: "num", dataset: { label: "GPUs" }, text: String(item.run.gpus) }),
        h("td", { class: "num", dataset: { label: "Epochs" }, text: item.run.epochs_done ? `${number(item.run.epochs_done)} of ${number(item.run.epochs)} (resumes)` : number(item.run.epochs) }),
        h("td", { dataset: { label: "Waiting" }, text: duration(item.waited_seconds) }),
        h("td", { class: "queue-reason", dataset: { label: "Why it waits" } }, statusBadge("queued"), h("div", { class: "cell-sub", text: item.waiting_for }))))))),
    queue.total > queue.runs.length ? h("p", { class: "muted", text: `${number(queue.runs.length)} of ${number(queue.total)} shown.` }) : null);
}
