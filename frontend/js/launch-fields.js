// One form control per catalog field: the catalog says the type, bounds, choices and default; this module
// turns that into an <input> or <select> with a real <label>, a hint, a default note and an error slot.

import { h } from "./dom.js";
import { specValue } from "./format.js";
import { DATASET_LABELS, fieldLabel } from "./labels.js";

const CHOICE_LABELS = {
  "dataset.name": DATASET_LABELS,
  "schedule.kind": { cosine: "Cosine", multistep: "Multistep (step decay)", constant: "Constant" },
  // Short enough not to be cut off in a form column; the field's hint says what "auto" picks.
  "precision": { auto: "Auto", fp32: "fp32", bf16: "bf16" },
};

const NULL_CHOICE_LABELS = { "regularization.gate_level": "Same as Level" };

export function inputId(path) {
  return `f-${path.replaceAll(".", "-").replaceAll("_", "-")}`;
}

/** How a field is edited, from its JSON-schema description. */
function kindOf(field) {
  if (field.enum) return "choice";
  if (field.type === "boolean") return "checkbox";
  if (field.type === "array" && field.prefixItems?.length === 2) return "range";
  if (field.type === "array") return "list";
  if (field.type === "integer" || field.type === "number") return "number";
  return "text";
}

/**
 * A control for `field` at `path`. Returns {element, read(), write(value), showError(msg), showDefault(value)}.
 * `onInput(path, value)` fires on every edit.
 */
export function fieldControl(field, path, value, onInput, { label = fieldLabel(path), hint = field.description } = {}) {
  const id = inputId(path);
  const kind = kindOf(field);
  const hintId = hint != null ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ");
  const control = BUILDERS[kind](field, path, id, describedBy);
  const hintElement = hint != null ? h("p", { class: "hint", id: hintId, text: hint }) : null;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const defaultNote = h("div", { class: "default-note", hidden: true });
  const labelElement = h("label", { for: id, text: label });
  const element = kind === "checkbox"
    ? h("div", { class: "field checkbox", dataset: { path } }, control.node, labelElement, defaultNote, hintElement, error)
    : h("div", { class: `field${kind === "range" ? " field-range" : ""}`, dataset: { path } }, labelElement, control.node,
      hintElement, defaultNote, error);
  control.write(value);
  for (const input of control.inputs) {
    input.addEventListener(kind === "choice" || kind === "checkbox" ? "change" : "input", () => onInput(path, control.read()));
  }
  return {
    element,
    focus: () => control.inputs[0].focus(),
    read: control.read,
    write: control.write,
    setHint(text) {
      if (hintElement) hintElement.textContent = text;
    },
    showError(message) {
      error.hidden = !message;
      error.textContent = message || "";
      for (const input of control.inputs) {
        if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
      }
    },
    /** "default: 1800 · Reset" when the value differs from the default; nothing otherwise. */
    showDefault(defaultValue, onReset) {
      const differs = JSON.stringify(control.read()) !== JSON.stringify(defaultValue ?? null);
      defaultNote.hidden = !differs;
      defaultNote.replaceChildren();
      if (differs) {
        // A blank optional number means "the engine's default" (1024 images) or "off" (no clipping).
        const text = defaultValue == null && kind === "number" ? placeholderOf(field) : choiceText(path, defaultValue);
        defaultNote.append(`default: ${text} · `,
          h("button", { type: "button", class: "link-button", text: "reset", attrs: { "aria-label": `Reset ${label} to ${text}` }, onClick: onReset }));
      }
    },
  };
}

function choiceText(path, value) {
  if (value === null || value === undefined) return NULL_CHOICE_LABELS[path] ? NULL_CHOICE_LABELS[path].toLowerCase() : "none";
  return CHOICE_LABELS[path]?.[value] ?? specValue(value);
}

// ------------------------------------------------------------------------------------ builders

const BUILDERS = {
  choice(field, path, id, describedBy) {
    const options = field.enum.map((value) => h("option", { value, text: choiceText(path, value) }));
    if (field.nullable) options.unshift(h("option", { value: "", text: NULL_CHOICE_LABELS[path] || "None" }));
    const select = h("select", { id, name: path, attrs: { "aria-describedby": describedBy } }, options);
    return {
      node: select, inputs: [select],
      read: () => (select.value === "" && field.nullable ? null : select.value),
      write: (v) => { select.value = v ?? ""; },
    };
  },

  checkbox(field, path, id, describedBy) {
    const box = h("input", { id, name: path, type: "checkbox", attrs: { "aria-describedby": describedBy } });
    return { node: box, inputs: [box], read: () => box.checked, write: (v) => { box.checked = Boolean(v); } };
  },

  number(field, path, id, describedBy) {
    const input = numberInput(field, { id, name: path, attrs: { "aria-describedby": describedBy } });
    if (field.nullable) input.placeholder = placeholderOf(field);
    return {
      node: input, inputs: [input],
      read: () => readNumber(input),
      write: (v) => { input.value = v === null || v === undefined ? "" : String(v); },
    };
  },

  // Two numbers, [low, high] (ShakeDrop's alpha and beta ranges).
  range(field, path, id, describedBy) {
    const item = field.prefixItems[0];
    const low = numberInput(item, { id, name: `${path}.0`, attrs: { "aria-describedby": describedBy } });
    const highId = `${id}-high`;
    const high = numberInput(item, { id: highId, name: `${path}.1`, attrs: { "aria-describedby": describedBy } });
    const node = h("div", { class: "range-inputs" }, low,
      h("label", { for: highId, class: "visually-hidden", text: `${fieldLabel(path)}, upper end` }),
      h("span", { text: "to", attrs: { "aria-hidden": "true" } }), high);
    return {
      node, inputs: [low, high],
      read: () => [readNumber(low), readNumber(high)],
      write: (v) => { low.value = v?.[0] ?? ""; high.value = v?.[1] ?? ""; },
    };
  },

  // A list of numbers typed as "0.5, 0.75" (multistep milestones).
  list(field, path, id, describedBy) {
    const input = h("input", { id, name: path, type: "text", inputMode: "decimal", placeholder: "e.g. 0.5, 0.75",
      attrs: { "aria-describedby": describedBy, autocomplete: "off" } });
    return {
      node: input, inputs: [input],
      read: () => input.value.split(/[\s,;]+/).filter(Boolean).map((t) => (Number.isNaN(Number(t)) ? t : Number(t))),
      write: (v) => { input.value = (v || []).join(", "); },
    };
  },

  text(field, path, id, describedBy) {
    const input = h("input", { id, name: path, type: "text", attrs: { "aria-describedby": describedBy } });
    return { node: input, inputs: [input], read: () => input.value, write: (v) => { input.value = v ?? ""; } };
  },
};

function numberInput(field, props) {
  const integer = field.type === "integer";
  return h("input", {
    ...props, type: "number", step: integer ? "1" : "any", inputMode: integer ? "numeric" : "decimal",
    // Bounds are left to the API, whose messages say more than the browser's; they still guide the spinner.
    min: field.minimum ?? field.exclusiveMinimum, max: field.maximum ?? field.exclusiveMaximum,
  });
}

/** Blank is null: "off" for optional fields; for required ones the API's 422 names the field. */
function readNumber(input) {
  if (input.value === "") return null;
  const value = Number(input.value);
  return Number.isNaN(value) ? input.value : value;
}

function placeholderOf(field) {
  const match = /default (\d+)/.exec(field.description || "");
  return match ? match[1] : "off";
}
