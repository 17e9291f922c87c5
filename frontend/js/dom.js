// Building the page from data. Text always goes in as text nodes: run names, notes and error texts are
// user input, so nothing here ever parses a string as HTML.

/**
 * h("a", {href: "#/runs", class: "link", onClick: fn, dataset: {id: 3}, attrs: {"aria-label": "x"}}, "text", child)
 * Children: nodes, strings, numbers, arrays of them; null, undefined and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "attrs") for (const [name, v] of Object.entries(value)) { if (v != null) element.setAttribute(name, v); }
    else if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key in element) element[key] = value;
    else element.setAttribute(key, value);
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let uniqueCounter = 0;
export function uniqueId(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

// ------------------------------------------------------------------------------ states every page shows

export function loading(text = "Loading…") {
  return h("p", { class: "state loading", attrs: { role: "status" } }, h("span", { class: "spinner", attrs: { "aria-hidden": "true" } }), text);
}

export function emptyState(title, ...body) {
  return h("div", { class: "state empty" }, h("p", { class: "state-title", text: title }), ...body);
}

/** An error said plainly; `retry` adds a button. */
export function errorBox(error, { title = "Something went wrong", retry } = {}) {
  return h("div", { class: "state error", attrs: { role: "alert" } },
    h("p", { class: "state-title", text: title }),
    h("p", { text: error?.message || String(error) }),
    retry && h("button", { class: "button secondary", type: "button", onClick: retry, text: "Try again" }));
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, h("span", { class: "status-dot", attrs: { "aria-hidden": "true" } }), status);
}

/** A short message in the corner (e.g. "Run 12 queued"), gone after a few seconds. */
export function toast(...content) {
  let region = document.getElementById("toasts");
  if (!region) {
    region = h("div", { id: "toasts", class: "toasts", attrs: { role: "status", "aria-live": "polite" } });
    document.body.append(region);
  }
  const item = h("div", { class: "toast" }, ...content);
  region.append(item);
  setTimeout(() => item.remove(), 6000);
}

/** Save a Blob as a file (CSV export and the like). */
export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, class: "visually-hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
