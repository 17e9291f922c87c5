// The single-page app: hash routes to one module per page, the server's health in the corner.
//
// A page module exports mount(root, context) and may return a cleanup function, called when the user
// leaves the page (it stops that page's polling). context: {params, query, signal, setQuery, setTitle}.

import { api, isAbort } from "./api.js";
import { clear, errorBox, h, loading } from "./dom.js";
import { poll } from "./poll.js";

const ROUTES = [
  { pattern: /^\/runs$/, nav: "runs", load: () => import("./runs.js") },
  { pattern: /^\/runs\/(?<id>\d+)$/, nav: "runs", load: () => import("./run.js") },
  { pattern: /^\/launch$/, nav: "launch", load: () => import("./launch.js") },
  { pattern: /^\/compare$/, nav: "compare", load: () => import("./compare.js") },
  { pattern: /^\/searches$/, nav: "searches", load: () => import("./searches.js") },
  { pattern: /^\/searches\/(?<id>\d+)$/, nav: "searches", load: () => import("./search.js") },
  { pattern: /^\/nas$/, nav: "nas", load: () => import("./nas-searches.js") },
  { pattern: /^\/nas\/(?<id>\d+)$/, nav: "nas", load: () => import("./nas.js") },
  { pattern: /^\/tables$/, nav: "tables", load: () => import("./tables.js") },
  { pattern: /^\/tables\/(?<id>[\w.-]+)$/, nav: "tables", load: () => import("./table.js") },
  { pattern: /^\/workers$/, nav: "workers", load: () => import("./workers.js") },
];

const main = document.getElementById("main");
let current = { cleanup: null, controller: null };

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/runs";
  const [path, search = ""] = raw.split("?");
  return { path: path.replace(/\/+$/, "") || "/runs", query: new URLSearchParams(search) };
}

function leaveCurrentPage() {
  current.controller?.abort();
  try {
    current.cleanup?.();
  } catch (error) {
    console.warn("cleanup failed", error);
  }
  current = { cleanup: null, controller: null };
}

async function route() {
  leaveCurrentPage();
  const { path, query } = parseHash();
  if (!location.hash) history.replaceState(null, "", "#/runs");
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  highlightNav(match?.r.nav);
  if (!match) {
    document.title = "Not found · ShakeLab";
    clear(main, h("h1", { text: "Page not found" }),
      h("p", {}, "There is no page at ", h("code", { text: `#${path}` }), ". ", h("a", { href: "#/runs", text: "Go to the runs" }), "."));
    return;
  }
  const controller = new AbortController();
  current.controller = controller;
  clear(main, loading());
  try {
    const page = await match.r.load();
    if (controller.signal.aborted) return;
    clear(main);
    const context = {
      params: match.m.groups || {},
      query,
      signal: controller.signal,
      setTitle: (title) => { document.title = `${title} · ShakeLab`; },
      setQuery: (params) => replaceQuery(path, params),
    };
    current.cleanup = page.mount(main, context) || null;
    main.focus({ preventScroll: true });
  } catch (error) {
    if (isAbort(error)) return;
    console.warn(error);
    clear(main, errorBox(error, { title: "This page could not be shown", retry: route }));
  }
}

/** Keep a page's state (filters, selection) in the address, without re-mounting the page. */
function replaceQuery(path, params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "" && value !== false) search.set(key, String(value));
  }
  const text = search.toString();
  history.replaceState(null, "", `#${path}${text ? `?${text}` : ""}`);
}

function highlightNav(section) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// ------------------------------------------------------------------------------------ server health

const healthChip = document.getElementById("health");
const workersChip = document.getElementById("workers");
const banner = document.getElementById("banner");

async function checkHealth() {
  try {
    const health = await api.health();
    showHealth(health.status === "ok" ? "ok" : "warn",
      health.status === "ok" ? "Connected" : "Broker down: runs wait in the queue", null);
    showWorkers(health.workers);
  } catch (error) {
    showWorkers(null);
    if (error.status === 503) showHealth("bad", "Database down", error.message);
    else showHealth("bad", "Server unreachable", "Cannot reach the ShakeLab server. Pages will refresh once it answers again.");
  }
}

/** How many workers will train: with none, queued runs wait, and the chip says how to start one. */
function showWorkers(count) {
  workersChip.hidden = count === null || count === undefined;
  if (workersChip.hidden) return;
  workersChip.className = `health health-${count ? "ok" : "warn"}`;
  workersChip.title = count ? "Workers alive now (GET /api/workers)" : "Queued runs wait until a worker starts: `make run` starts one, or `python -m worker --gpu N`";
  clear(workersChip, h("span", { class: "status-dot", attrs: { "aria-hidden": "true" } }),
    count ? `${count} worker${count === 1 ? "" : "s"}` : "No worker running");
}

function showHealth(level, text, bannerText) {
  healthChip.className = `health health-${level}`;
  clear(healthChip, h("span", { class: "status-dot", attrs: { "aria-hidden": "true" } }), text);
  banner.hidden = !bannerText;
  banner.textContent = bannerText || "";
}

window.addEventListener("hashchange", route);
route();
poll(checkHealth, 10000);
