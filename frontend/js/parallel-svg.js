// Parallel coordinates drawn as plain SVG: one vertical axis per dimension, one polyline per item, coloured
// by a value with its colour bar. A few milliseconds for the compare page's 40 settings, where Plotly's
// `parcoords` (WebGL) takes a second in a browser without a GPU (docs/benchmarks.md). Hovering a line brings
// it forward and names it with its values (the line's <title>); the interactive WebGL version, with brushing
// and axes to reorder, stays one click away on the compare page.

const SVG = "http://www.w3.org/2000/svg";
// Viridis (matplotlib's), dark to light; the top end is cut at 0.85 so that no line is pale yellow on white.
const VIRIDIS = [[0, [68, 1, 84]], [0.25, [59, 82, 139]], [0.5, [33, 145, 140]], [0.75, [94, 201, 98]], [1, [253, 231, 37]]];
const TOP = 0.85;
const MARGIN = { top: 40, right: 104, bottom: 16, left: 56 };

let gradientCounter = 0;

function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value != null) element.setAttribute(name, String(value));
  for (const child of children.flat()) if (child != null) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

/** Viridis at t in [0, 1] as "rgb(r,g,b)". */
export function viridis(t) {
  const x = Math.min(1, Math.max(0, t));
  let i = 1;
  while (i < VIRIDIS.length - 1 && VIRIDIS[i][0] < x) i += 1;
  const [x0, c0] = VIRIDIS[i - 1];
  const [x1, c1] = VIRIDIS[i];
  const f = (x - x0) / (x1 - x0);
  return `rgb(${c0.map((c, k) => Math.round(c + f * (c1[k] - c))).join(",")})`;
}

/** "0.00012", "3.5", "120": three significant digits, no exponent for the usual ranges. */
export function shortNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-4) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

/**
 * An axis' scale from its values: linear, or log10 when every value is positive and they span 20× or more;
 * a single value is centred. Ticks: each distinct value when there are at most 8, else 5 evenly spaced.
 */
export function numericAxis(label, values, format = shortNumber) {
  const finite = values.filter(Number.isFinite);
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const log = finite.length > 0 && lo > 0 && hi / lo >= 20;
  const f = log ? Math.log10 : (v) => v;
  let [a, b] = [f(lo), f(hi)];
  if (!(b > a)) { const pad = Math.abs(a) * 0.1 || 1; a -= pad; b += pad; }
  const distinct = [...new Set(finite)].sort((x, y) => x - y);
  const tickValues = distinct.length <= 8 ? distinct
    : Array.from({ length: 5 }, (_, k) => (log ? 10 ** (f(lo) + (k / 4) * (f(hi) - f(lo))) : lo + (k / 4) * (hi - lo)));
  return {
    label: log ? `${label} (log)` : label, values,
    position: (v) => (Number.isFinite(v) ? (f(v) - a) / (b - a) : null),
    ticks: tickValues.map((v) => ({ at: (f(v) - a) / (b - a), text: format(v) })),
  };
}

/** Categories at even steps, in the order given. */
export function categoricalAxis(label, values, names) {
  const step = names.length > 1 ? 1 / (names.length - 1) : 0;
  const at = (i) => (names.length > 1 ? i * step : 0.5);
  return { label, values, position: (i) => (i >= 0 ? at(i) : null), ticks: names.map((text, i) => ({ at: at(i), text })) };
}

/**
 * Draw into `box` (its content replaced): `axes` from numericAxis/categoricalAxis (values per line, in the
 * order of `lines`), `lines` as [{title}] (the hover text), `colorValues` a number per line for the colour
 * (lowest darkest), named `colorLabel` on the bar. Returns the <svg>.
 */
export function drawParallelSvg(box, { axes, lines, colorValues, colorLabel, format = shortNumber }) {
  const width = Math.max(480, box.clientWidth || 800);
  const height = Math.max(240, box.clientHeight || 300);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const xOf = (k) => MARGIN.left + (axes.length > 1 ? (k / (axes.length - 1)) * plotW : plotW / 2);
  const yOf = (p) => MARGIN.top + (1 - p) * plotH;
  const finite = colorValues.filter(Number.isFinite);
  const cLo = Math.min(...finite);
  const cHi = Math.max(...finite);
  const tOf = (v) => (Number.isFinite(v) ? (cHi > cLo ? ((v - cLo) / (cHi - cLo)) * TOP : TOP / 2) : null);

  // Lines: the highest value first, so that the lowest (darkest; the best for an error) lie on top.
  const order = lines.map((_, i) => i).sort((i, j) => (colorValues[j] ?? -Infinity) - (colorValues[i] ?? -Infinity));
  const lineNodes = order.map((i) => {
    const points = axes.map((axis, k) => [xOf(k), axis.position(axis.values[i])]).filter(([, p]) => p !== null)
      .map(([x, p]) => `${x.toFixed(1)},${yOf(p).toFixed(1)}`);
    const t = tOf(colorValues[i]);
    const color = t === null ? "#9aa1ab" : viridis(t);
    const d = `M${points.join("L")}`;
    return s("g", { class: "pc-line", "data-index": i },
      s("title", {}, lines[i].title),
      s("path", { class: "pc-hit", d }),
      s("path", { class: "pc-stroke", d, stroke: color }));
  });

  const axisNodes = axes.map((axis, k) => {
    const x = xOf(k);
    let lastY = Infinity; // ticks closer than 11 px to the one below are left out, so no labels overlap
    const ticks = [...axis.ticks].sort((p, q) => p.at - q.at).flatMap((tick) => {
      const y = yOf(tick.at);
      if (lastY - y < 11 && lastY !== Infinity) return [];
      lastY = y;
      return [s("line", { x1: x - 4, x2: x, y1: y, y2: y }), s("text", { x: x - 6, y: y + 4, "text-anchor": "end" }, tick.text)];
    });
    return s("g", { class: "pc-axis" },
      s("line", { class: "pc-axis-line", x1: x, x2: x, y1: MARGIN.top, y2: MARGIN.top + plotH }), ticks,
      // Labels on two rows, alternately, so that neighbours do not run into each other.
      s("text", { class: "pc-axis-label", x, y: k % 2 ? 26 : 12, "text-anchor": "middle" }, axis.label));
  });

  const gradientId = `pc-gradient-${(gradientCounter += 1)}`;
  const barX = width - MARGIN.right + 40;
  const stops = Array.from({ length: 6 }, (_, k) => s("stop", { offset: `${k * 20}%`, "stop-color": viridis(TOP * (1 - k / 5)) }));
  const colorBar = finite.length ? s("g", { class: "pc-colorbar" },
    s("defs", {}, s("linearGradient", { id: gradientId, x1: 0, x2: 0, y1: 0, y2: 1 }, stops)),
    s("rect", { x: barX, y: MARGIN.top, width: 12, height: plotH, fill: `url(#${gradientId})` }),
    s("text", { x: barX + 16, y: MARGIN.top + 4 }, format(cHi)),
    s("text", { x: barX + 16, y: MARGIN.top + plotH }, format(cLo)),
    s("text", { class: "pc-colorbar-label", x: barX + 60, y: MARGIN.top + plotH / 2, "text-anchor": "middle",
      transform: `rotate(-90 ${barX + 60} ${MARGIN.top + plotH / 2})` }, colorLabel)) : null;

  const svg = s("svg", { class: "parallel-svg", viewBox: `0 0 ${width} ${height}`, width: "100%", height: "100%",
    preserveAspectRatio: "xMidYMid meet", "aria-hidden": "true" },
  s("g", { class: "pc-lines" }, lineNodes), axisNodes, colorBar);
  box.replaceChildren(svg);
  return svg;
}
