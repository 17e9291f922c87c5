// Numbers, durations and dates as people read them; "—" where there is nothing yet.

export const DASH = "—";

export function percent(value, digits = 2) {
  return value === null || value === undefined || Number.isNaN(value) ? DASH : `${value.toFixed(digits)}%`;
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return DASH;
  return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/**
 * `value` with `digits` decimals, half away from zero on its shortest decimal form (what it prints as):
 * 78.125 → 78.13, 1.005 → 1.01 (toFixed gives 1.00), never "-0.00". The tables' exports use the same rule
 * (backend/tables/rounding.py), so the page and a downloaded table show the same digits.
 */
export function fixed(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return DASH;
  const [mantissa, exponent = "0"] = String(Math.abs(value)).split("e");
  // Shifting by the decimal exponent in the string is exact: "1.005e2" parses as 100.5.
  const units = Math.round(Number(`${mantissa}e${Number(exponent) + digits}`));
  const text = (units / 10 ** digits).toFixed(digits);
  return value < 0 && units !== 0 ? `-${text}` : text;
}

/** 42 s, 12 min, 3 h 5 min, 2 d 4 h. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return DASH;
  if (seconds < 9.95) return `${Math.max(0, seconds).toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min${s % 60 && minutes < 10 ? ` ${s % 60} s` : ""}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
  const days = Math.floor(hours / 24);
  return `${days} d${hours % 24 ? ` ${hours % 24} h` : ""}`;
}

export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString() : DASH;
}

export function relativeTime(iso) {
  if (!iso) return DASH;
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 7 * 86400) return `${Math.round(seconds / 86400)} d ago`;
  return new Date(iso).toLocaleDateString();
}

/** A spec value as a short string: [-1, 1], true, 0.0001, null as "none". */
export function specValue(value) {
  if (value === null || value === undefined) return "none";
  if (Array.isArray(value)) return `[${value.map(specValue).join(", ")}]`;
  if (typeof value === "number") return String(Number(value.toPrecision(6)));
  return String(value);
}
