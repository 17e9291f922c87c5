// Specs as flat dotted paths ("model.depth": 272), for the spec table and the compare page's "fields that
// differ". Arrays are values (alpha_range [-1, 1]), not branches.

export function flattenSpec(spec, prefix = "", out = {}) {
  for (const [key, value] of Object.entries(spec || {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) flattenSpec(value, path, out);
    else out[path] = value;
  }
  return out;
}

/** Paths whose values are not the same in every spec (a path missing from some spec counts as differing). */
export function differingPaths(specs, { ignore = [] } = {}) {
  const flat = specs.map((s) => flattenSpec(s));
  const paths = [...new Set(flat.flatMap((f) => Object.keys(f)))];
  return paths.filter((path) => !ignore.includes(path)
    && new Set(flat.map((f) => JSON.stringify(f[path] ?? null))).size > 1);
}

export function getPath(object, path) {
  return path.split(".").reduce((node, key) => (node == null ? undefined : node[key]), object);
}

export function setPath(object, path, value) {
  const keys = path.split(".");
  let node = object;
  for (const key of keys.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== "object") node[key] = {};
    node = node[key];
  }
  node[keys.at(-1)] = value;
}
