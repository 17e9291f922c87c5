// A NASNet cell drawn as a graph (SVG): its two inputs h_i and h_{i-1} on the left, each block as its two
// operations feeding a combine node (+ add, ‖ concat), edges from the states each operation reads, and the
// states the cell concatenates joined in the output on the right. Built from the genotype alone.

const SVG = "http://www.w3.org/2000/svg";
const COLUMN = 150;
const ROW = 64;
const OP_W = 104;
const OP_H = 24;

const OP_LABELS = {
  identity: "identity", conv_1x3_3x1: "1x3 → 3x1 conv", conv_1x7_7x1: "1x7 → 7x1 conv", dil_conv_3x3: "3x3 dil conv",
  avg_pool_3x3: "3x3 avg pool", max_pool_3x3: "3x3 max pool", max_pool_5x5: "5x5 max pool", max_pool_7x7: "7x7 max pool",
  conv_1x1: "1x1 conv", conv_3x3: "3x3 conv", sep_conv_3x3: "3x3 sep conv", sep_conv_5x5: "5x5 sep conv", sep_conv_7x7: "7x7 sep conv",
};

export function opLabel(name) {
  return OP_LABELS[name] || name;
}

function el(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** The concatenated states: the genotype's list, or the block results no block reads (the paper's rule). */
export function concatOf(cell) {
  if (cell.concat) return cell.concat;
  const read = new Set(cell.blocks.flatMap((b) => [b.input_1, b.input_2]));
  return cell.blocks.map((_, b) => b + 2).filter((s) => !read.has(s));
}

/** An <svg> of one cell; `title` names it for screen readers (e.g. "Normal cell of child 12"). */
export function cellGraph(cell, title) {
  const blocks = cell.blocks;
  const height = 3.4 * ROW;
  const width = 80 + blocks.length * COLUMN + 90;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "cell-graph", role: "img", "aria-label": title });
  svg.append(el("title", {}, title));
  // Where each state's arrow starts: the inputs on the left, a block's result at its combine node.
  const at = { 0: { x: 52, y: height / 2 - ROW / 2 }, 1: { x: 52, y: height / 2 + ROW / 2 } };
  const edges = el("g", { class: "edges" });
  const nodes = el("g", { class: "nodes" });
  svg.append(edges, nodes);
  for (const [state, label] of [[0, "h_i"], [1, "h_i-1"]]) {
    nodes.append(el("rect", { x: 4, y: at[state].y - 13, width: 48, height: 26, rx: 5, class: "cell-input" }),
      el("text", { x: 28, y: at[state].y + 4, "text-anchor": "middle" }, label));
  }
  const curve = (from, to) => edges.append(el("path", {
    d: `M${from.x},${from.y} C${(from.x + to.x) / 2},${from.y} ${(from.x + to.x) / 2},${to.y} ${to.x},${to.y}`, class: "cell-edge" }));
  blocks.forEach((block, b) => {
    const x = 80 + b * COLUMN;
    const mid = 10 + (b % 2 ? 0.62 : 0.38) * (height - 20);
    const ops = [[block.input_1, block.op_1, mid - 22], [block.input_2, block.op_2, mid + 22]];
    const combine = { x: x + OP_W + 26, y: mid };
    for (const [input, op, y] of ops) {
      curve(at[input], { x, y });
      curve({ x: x + OP_W, y }, { x: combine.x - 10, y: combine.y });
      nodes.append(el("rect", { x, y: y - OP_H / 2, width: OP_W, height: OP_H, rx: 4, class: `cell-op op-${op.split("_")[0]}` }),
        el("text", { x: x + OP_W / 2, y: y + 4, "text-anchor": "middle" }, opLabel(op)));
    }
    nodes.append(el("circle", { cx: combine.x, cy: combine.y, r: 10, class: "cell-combine" }),
      el("text", { x: combine.x, y: combine.y + 4, "text-anchor": "middle" }, block.combine === "concat" ? "‖" : "+"));
    nodes.append(el("text", { x: combine.x, y: combine.y - 14, "text-anchor": "middle", class: "cell-state" }, String(b + 2)));
    at[b + 2] = { x: combine.x + 10, y: combine.y };
  });
  const out = { x: width - 70, y: height / 2 };
  for (const state of concatOf(cell)) curve(at[state], { x: out.x, y: out.y });
  nodes.append(el("rect", { x: out.x, y: out.y - 13, width: 62, height: 26, rx: 5, class: "cell-output" }),
    el("text", { x: out.x + 31, y: out.y + 4, "text-anchor": "middle" }, "concat"));
  return svg;
}
