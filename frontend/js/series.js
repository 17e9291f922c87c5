// The compare page's arithmetic, free of the DOM: seed groups, their mean and spread, smoothing, CSV.

/**
 * Exponential moving average with TensorBoard's debiasing (the first points are not pulled towards 0).
 * weight 0 returns the values unchanged.
 */
export function smooth(values, weight) {
  if (!weight) return values.slice();
  const out = new Array(values.length);
  let last = 0;
  let norm = 0;
  for (let i = 0; i < values.length; i += 1) {
    const v = values[i];
    if (v === null || Number.isNaN(v)) { out[i] = null; continue; }
    last = last * weight + (1 - weight) * v;
    norm = norm * weight + (1 - weight);
    out[i] = last / norm;
  }
  return out;
}

/**
 * The series to draw. Without grouping, one per run. With grouping, one per seed group as the server
 * computed it (/api/compare's `groups`): `counted` holds the runs its statistics use (finished, each seed
 * once), `notCounted` maps every other member's id to why it is left out.
 */
export function seriesOf(runs, metricsById, { group, groups = [] }) {
  const single = (run) => ({ key: `run-${run.id}`, runs: [run], metrics: [metricsById.get(run.id)], counted: [run],
    countedMetrics: [metricsById.get(run.id)], group: null, notCounted: new Map() });
  if (!group) return runs.map(single);
  const byId = new Map(runs.map((r) => [r.id, r]));
  return groups.map((g) => {
    const members = g.run_ids.map((id) => byId.get(id));
    if (members.length === 1) return { ...single(members[0]), group: g };
    const counted = g.counted_run_ids.map((id) => byId.get(id));
    return {
      key: `spec-${g.spec_key}`, runs: members, metrics: members.map((r) => metricsById.get(r.id)),
      counted, countedMetrics: counted.map((r) => metricsById.get(r.id)), group: g,
      notCounted: new Map(g.not_counted.map((n) => [n.run_id, n])),
    };
  });
}

/**
 * The epoch a run would be reported at if one picked its best: on the validation split where the run has
 * one (lowest val_error), else on the test set (lowest test error, which flatters the run). The papers'
 * protocol is the last epoch; this is the secondary figure.
 */
export function bestEpoch(metrics) {
  const val = metrics?.val_error;
  if (val && val.some((v) => v !== null && v !== undefined)) {
    const i = argMin(val);
    return { epoch: metrics.epoch[i], testError: metrics.test_error[i], on: "validation" };
  }
  const i = argMin(metrics?.test_error || []);
  return i < 0 ? null : { epoch: metrics.epoch[i], testError: metrics.test_error[i], on: "test" };
}

/**
 * A group's curve: at every epoch any member recorded, the members' values there (linearly interpolated
 * between a member's own recorded epochs, which thinning can space out), their mean, min, max and std.
 * Members that have not reached an epoch yet are left out of it; `n` says how many counted.
 */
export function aggregate(members, key) {
  const epochs = [...new Set(members.flatMap((m) => m.epoch))].sort((a, b) => a - b);
  const cursors = members.map(() => 0);
  const out = { epoch: [], wall: [], mean: [], min: [], max: [], std: [], n: [] };
  for (const epoch of epochs) {
    const values = [];
    const walls = [];
    members.forEach((m, i) => {
      const at = valueAt(m, key, epoch, cursors, i);
      if (at) { values.push(at.value); walls.push(at.wall); }
    });
    if (!values.length) continue;
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.length > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1) : 0;
    out.epoch.push(epoch);
    out.wall.push(walls.reduce((a, b) => a + b, 0) / walls.length);
    out.mean.push(mean);
    out.min.push(Math.min(...values));
    out.max.push(Math.max(...values));
    out.std.push(Math.sqrt(variance));
    out.n.push(values.length);
  }
  return out;
}

/**
 * A group's curve cut to about `maxPoints` epochs for drawing: the first, the last, and in each of
 * maxPoints/4 equal stretches the epochs of the lowest and highest mean, the lowest low and the highest
 * high, so the band's extremes and the best mean stay (as the server's thinning keeps each run's). The
 * union of five thinned seeds has ~3x a run's points: this keeps the chart at the points per run asked for.
 */
export function thinGroup(group, maxPoints) {
  const n = group.epoch.length;
  if (!(n > maxPoints)) return group;
  const buckets = Math.max(1, Math.floor((maxPoints - 2) / 4));
  const size = (n - 2) / buckets;
  const keep = new Set([0, n - 1]);
  for (let b = 0; b < buckets; b += 1) {
    const start = 1 + Math.floor(b * size);
    const stop = 1 + Math.floor((b + 1) * size);
    if (start >= stop) continue;
    let lowMean = start; let highMean = start; let low = start; let high = start;
    for (let i = start + 1; i < stop; i += 1) {
      if (group.mean[i] < group.mean[lowMean]) lowMean = i;
      if (group.mean[i] > group.mean[highMean]) highMean = i;
      if (group.min[i] < group.min[low]) low = i;
      if (group.max[i] > group.max[high]) high = i;
    }
    keep.add(lowMean).add(highMean).add(low).add(high);
  }
  const rows = [...keep].sort((a, b) => a - b);
  const out = {};
  for (const [name, values] of Object.entries(group)) out[name] = rows.map((i) => values[i]);
  return out;
}

/** Member m's value at `epoch` (exact or interpolated), advancing a cursor: epochs arrive in order. */
function valueAt(m, key, epoch, cursors, i) {
  const xs = m.epoch;
  if (!xs.length || epoch < xs[0] || epoch > xs[xs.length - 1]) return null;
  let j = cursors[i];
  while (j < xs.length - 1 && xs[j + 1] <= epoch) j += 1;
  cursors[i] = j;
  if (xs[j] === epoch) return { value: m[key][j], wall: m.wall_seconds[j] };
  const t = (epoch - xs[j]) / (xs[j + 1] - xs[j]);
  return { value: m[key][j] + t * (m[key][j + 1] - m[key][j]), wall: m.wall_seconds[j] + t * (m.wall_seconds[j + 1] - m.wall_seconds[j]) };
}

/** Index of the lowest value (the best epoch of an error or a loss); -1 when there is none. */
export function argMin(values) {
  let best = -1;
  for (let i = 0; i < values.length; i += 1) {
    if (values[i] !== null && values[i] !== undefined && (best < 0 || values[i] < values[best])) best = i;
  }
  return best;
}

export function meanStd(values) {
  const xs = values.filter((v) => v !== null && v !== undefined);
  if (!xs.length) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std, min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** RFC 4180 CSV: fields with commas, quotes or newlines are quoted. */
export function toCsv(header, rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return "";
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

/** "1, 2, 5-8" -> [1, 2, 5, 6, 7, 8] (deduplicated, in order). */
export function parseIds(text) {
  const ids = [];
  for (const part of String(text || "").split(/[\s,]+/).filter(Boolean)) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      for (let i = Math.min(a, b); i <= Math.max(a, b) && ids.length < 500; i += 1) ids.push(i);
    } else if (/^\d+$/.test(part)) ids.push(Number(part));
  }
  return [...new Set(ids)].filter((id) => id > 0);
}
