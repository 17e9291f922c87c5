// The REST API, and nothing else: every page talks to the server through these functions.

const KEY_STORAGE = "shakelab.apiKey";

/** An API failure with a message fit to show as it is. `fields` holds a 422's per-field messages. */
export class ApiError extends Error {
  constructor(status, message, detail = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.fields = status === 422 && Array.isArray(detail)
      ? detail.map((d) => ({ field: d.field ?? (d.loc || []).slice(1).join("."), message: d.msg }))
      : [];
  }
}

export function isAbort(error) {
  return error?.name === "AbortError";
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function plainMessage(status, detail) {
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => (d.field ? `${d.field}: ${d.msg}` : d.msg)).join("; ");
  }
  if (status === 404) return "Not found.";
  if (status === 503) return "The server is up but its database is not answering. Try again shortly.";
  if (status >= 500) return `The server failed to answer (HTTP ${status}). Its log says why.`;
  return `The request failed (HTTP ${status}).`;
}

// ------------------------------------------------------------------------------------------ API key

let pendingKeyPrompt = null;
// Where reads need the key too (SHAKELAB_PROTECT_READS) every poll gets a 401: once the person has
// dismissed the dialog, reads fail quietly instead of asking again; an action of theirs still asks.
let readPromptDismissed = false;

/** Ask for the key once, however many requests got a 401 at the same time. */
function askForApiKey(reason) {
  if (pendingKeyPrompt) return pendingKeyPrompt;
  const dialog = document.getElementById("api-key-dialog");
  const input = document.getElementById("api-key-input");
  document.getElementById("api-key-reason").textContent = reason;
  input.value = "";
  pendingKeyPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      pendingKeyPrompt = null;
      const key = dialog.returnValue === "ok" ? input.value.trim() : "";
      if (key) localStorage.setItem(KEY_STORAGE, key);
      resolve(key);
    }, { once: true });
    dialog.showModal();
  });
  return pendingKeyPrompt;
}

// ------------------------------------------------------------------------------------------ requests

/** `asText`: the answer is a file (a table's export), returned as text; errors are JSON as everywhere. */
async function request(method, path, { query, body, signal, asText = false, retried = false } = {}) {
  const headers = { Accept: asText ? "*/*" : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const key = localStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(`/api${path}${queryString(query)}`, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, "Cannot reach the ShakeLab server. Is it running? Retrying…");
  }
  const payload = asText && response.ok ? await response.text() : await response.json().catch(() => null);
  const isRead = method === "GET";
  if (response.status === 401 && !retried && !(isRead && readPromptDismissed && !key)) {
    const reason = key ? "The saved API key was refused. Enter the current one."
      : isRead ? "This server shows its runs and results only with its API key." : plainMessage(401, payload?.detail);
    if (key) localStorage.removeItem(KEY_STORAGE);
    if (await askForApiKey(reason)) {
      readPromptDismissed = false;
      return request(method, path, { query, body, signal, asText, retried: true });
    }
    if (isRead) readPromptDismissed = true;
  }
  if (!response.ok) throw new ApiError(response.status, plainMessage(response.status, payload?.detail), payload?.detail);
  return payload;
}

/** A run's file (checkpoint.pt, metrics.jsonl) as a Blob, with the key where the server wants one. */
async function fetchFile(path, retried = false) {
  const key = localStorage.getItem(KEY_STORAGE);
  let response;
  try {
    response = await fetch(`/api${path}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  } catch {
    throw new ApiError(0, "Cannot reach the ShakeLab server. Is it running?");
  }
  if (response.status === 401 && !retried) {
    if (key) localStorage.removeItem(KEY_STORAGE);
    if (await askForApiKey("This server shares its files only with its API key.")) return fetchFile(path, true);
  }
  if (!response.ok) {
    const payload = await response.json().catch(() => null);
    throw new ApiError(response.status, plainMessage(response.status, payload?.detail), payload?.detail);
  }
  return response.blob();
}

let catalogPromise = null;

export const api = {
  health: (opts) => request("GET", "/health", opts),
  datasets: (opts) => request("GET", "/datasets", opts),
  /** The catalog never changes while the server runs: fetch it once per page load. */
  catalog() {
    catalogPromise ??= request("GET", "/catalog").catch((error) => { catalogPromise = null; throw error; });
    return catalogPromise;
  },
  listRuns: (query, opts) => request("GET", "/runs", { query, ...opts }),
  getRun: (id, opts) => request("GET", `/runs/${id}`, opts),
  metrics: (id, query, opts) => request("GET", `/runs/${id}/metrics`, { query, ...opts }),
  compare: (ids, maxPoints, opts, columns) => request("GET", "/compare", { query: { ids, max_points: maxPoints, columns }, ...opts }),
  createRun: (body) => request("POST", "/runs", { body }),
  createExperiment: (body) => request("POST", "/experiments", { body }),
  cancelRun: (id) => request("POST", `/runs/${id}/cancel`),
  /** body: any of {name, tags, notes, archived}. */
  editRun: (id, body) => request("PATCH", `/runs/${id}`, { body }),
  deleteRun: (id) => request("DELETE", `/runs/${id}`),
  runFile: (id, name) => fetchFile(`/runs/${id}/files/${name}`),
  workers: (opts) => request("GET", "/workers", opts),
  queue: (opts) => request("GET", "/queue", opts),
  createSearch: (body) => request("POST", "/searches", { body }),
  dryRunSearch: (body, opts) => request("POST", "/searches/dry-run", { body, ...opts }),
  listSearches: (query, opts) => request("GET", "/searches", { query, ...opts }),
  getSearch: (id, opts) => request("GET", `/searches/${id}`, opts),
  searchCurves: (id, opts) => request("GET", `/searches/${id}/curves`, opts),
  stopSearch: (id, running) => request("POST", `/searches/${id}/stop`, { body: { running } }),
  createNas: (body) => request("POST", "/nas", { body }),
  listNas: (query, opts) => request("GET", "/nas", { query, ...opts }),
  getNas: (id, opts) => request("GET", `/nas/${id}`, opts),
  stopNas: (id, running) => request("POST", `/nas/${id}/stop`, { body: { running } }),
  rerun: (id, { newSeed = false } = {}) => request("POST", `/runs/${id}/rerun`, { body: { new_seed: newSeed } }),
  seedGroup: (id, opts) => request("GET", `/runs/${id}/seeds`, opts),
  compareGroups: (body, opts) => request("POST", "/stats/compare", { body, ...opts }),
  seedsNeeded: (body, opts) => request("POST", "/stats/seeds-needed", { body, ...opts }),
  resolveSpec: (spec) => request("POST", "/specs/resolve", { body: { spec } }),
  tables: (opts) => request("GET", "/tables", opts),
  table: (id, profile, opts) => request("GET", `/tables/${encodeURIComponent(id)}`, { query: { profile }, ...opts }),
  reproduceTable: (id, body) => request("POST", `/tables/${encodeURIComponent(id)}/reproduce`, { body }),
  tableExportUrl: (id, format, profile) => `/api/tables/${encodeURIComponent(id)}/export${queryString({ format, profile })}`,
  /** The export's text, fetched with the saved key (a plain link would get 401 where reads need the key). */
  tableExport: (id, format, profile) => request("GET", `/tables/${encodeURIComponent(id)}/export`,
    { query: { format, profile }, asText: true }),
};
