// The search page's seed-aware plots: each proposal is one setting, drawn once with the 95% interval of its
// seeds' objective (the server's statistics, backend/stats.py), and n beside it.

/** Plotly error bars from each proposal's 95% interval; a proposal with one seed gets none. */
export function intervalErrorBars(proposals) {
  const stats = proposals.map((p) => p.stats);
  if (!stats.some((s) => s?.ci95)) return undefined;
  return { type: "data", symmetric: false, thickness: 1.5, width: 5,
    array: stats.map((s) => (s?.ci95 ? s.ci95[1] - s.mean : 0)), arrayminus: stats.map((s) => (s?.ci95 ? s.mean - s.ci95[0] : 0)) };
}

/** "n = 3, 95% CI [2.80, 2.95]" or "n = 1: no interval", for hover text. */
export function intervalHover(proposal) {
  const s = proposal.stats;
  if (!s) return "no finished seed";
  return s.ci95 ? `n = ${s.n}, 95% CI [${s.ci95[0].toPrecision(4)}, ${s.ci95[1].toPrecision(4)}]` : `n = ${s.n}: no interval`;
}

/** Parallel-coordinate axes after the objective: the seeds counted and the interval's half-width. */
export function intervalDimensions(proposals) {
  if (!proposals.some((p) => (p.stats?.n || 0) > 1)) return [];
  return [
    { label: "seeds (n)", values: proposals.map((p) => p.stats?.n || 0) },
    { label: "± 95% CI", values: proposals.map((p) => (p.stats?.ci95 ? (p.stats.ci95[1] - p.stats.ci95[0]) / 2 : 0)) },
  ];
}
