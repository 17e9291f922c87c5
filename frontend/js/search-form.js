// "New search": the launch form's spec editor, with a range or a list of choices beside each numeric or
// enumerated field, the search's settings (objective, sampler, pruner, limits), and the dry run's largest
// cost in the summary. The launch form (launch.js) calls decorate(), afterUpdate() and submit().

import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { number } from "./format.js";
import { fieldLabel } from "./labels.js";
import { getPath } from "./spec-paths.js";

// The dataset is what proposals are judged on, the seed is set by "Seeds"; arch and method change which
// fields exist.
const NOT_SEARCHED = /^(dataset\.|seed$|model\.arch$|regularization\.method$)/;
const DRY_RUN_DELAY_MS = 400;

const SETTINGS = [
  { key: "objective", label: "Objective", choices: [["val_error", "Validation error (%), last epoch"], ["val_loss", "Validation loss, last epoch"]],
    hint: "Minimised; measured on the validation images (set Validation images above), never on the test set." },
  { key: "sampler", label: "Sampler", choices: [["tpe", "TPE (Optuna)"], ["random", "Random"], ["grid", "Grid (every point)"]] },
  { key: "pruner", label: "Pruner", choices: [["none", "None: every run to its end"], ["asha", "ASHA (successive halving)"], ["median", "Median"]],
    hint: "Stops hopeless runs early. On long cosine schedules early epochs predict the end weakly: prune late." },
  { key: "min_epochs_fraction", label: "First rung (fraction of the schedule)", number: { min: 0.01, max: 1, step: "any" } },
  { key: "reduction", label: "ASHA reduction", number: { min: 2, max: 10, step: 1 }, hint: "each rung keeps the best 1/reduction" },
  { key: "max_runs", label: "Max runs", number: { min: 1, max: 10000, step: 1 } },
  { key: "max_concurrent", label: "Max concurrent runs", number: { min: 1, max: 1000, step: 1 } },
  { key: "budget_gpu_hours", label: "Budget (GPU-hours)", number: { min: 0, step: "any" }, hint: "blank: no limit" },
];

export class SearchExtension {
  constructor(form) {
    this.form = form;
    this.space = {}; // path -> {"float"|"int": [low, high], log?} or {choice: [...]}
    this.settings = { objective: "val_error", sampler: "tpe", pruner: "none", min_epochs_fraction: 0.25, reduction: 3,
      max_runs: 20, max_concurrent: 2, budget_gpu_hours: null };
    this.cost = h("div", { class: "search-cost", attrs: { "aria-live": "polite" } });
    this.timer = null;
  }

  // ------------------------------------------------------------------------------------ the editor

  /** After the form drew its sections: a "Search" switch beside every searchable field, and our section. */
  decorate() {
    const form = this.form;
    form.ctx.setTitle("New search");
    const title = form.root.querySelector(".page-head h1");
    if (title) title.textContent = "New search";
    form.launchButton.textContent = "Start search";
    for (const path of Object.keys(this.space)) if (!this.fieldAt(path)) delete this.space[path]; // another arch's
    for (const [path, control] of form.controls) {
      const field = control.element && this.fieldAt(path);
      if (field && !NOT_SEARCHED.test(path)) control.element.append(this.rangeEditor(path, field));
    }
    form.sections.append(this.settingsSection());
  }

  /** The catalog's description of the field at a spec path (for its type, bounds and choices). */
  fieldAt(path) {
    const { catalog, spec } = this.form;
    const [section, name] = path.split(".");
    let fields = catalog.sections[section];
    if (section === "model") fields = catalog.archs.find((a) => a.arch === spec.model.arch)?.fields;
    if (section === "regularization") fields = catalog.methods.find((m) => m.method === spec.regularization.method)?.fields;
    const field = fields?.find((f) => f.name === name);
    if (!field || !(field.enum || ["number", "integer", "boolean"].includes(field.type))) return null;
    return field.type === "boolean" ? { ...field, enum: [true, false] } : field;
  }

  rangeEditor(path, field) {
    const id = `s-${path.replaceAll(".", "-").replaceAll("_", "-")}`;
    const label = fieldLabel(path);
    const box = h("div", { class: "search-range" });
    const toggle = h("input", { type: "checkbox", id, checked: path in this.space });
    const draw = () => {
      clear(box);
      if (!toggle.checked) return;
      const entry = this.space[path];
      if (field.enum) {
        box.append(h("fieldset", { class: "search-choices" }, h("legend", { class: "visually-hidden", text: `${label}: values to try` }),
          field.enum.map((value) => {
            const check = h("input", { type: "checkbox", id: `${id}-${value}`, checked: entry.choice.includes(value),
              onChange: () => { entry.choice = field.enum.filter((v) => document.getElementById(`${id}-${v}`)?.checked); this.changed(); } });
            return h("label", { class: "checkbox-inline", for: `${id}-${value}` }, check, String(value));
          })));
        return;
      }
      const kind = field.type === "integer" ? "int" : "float";
      const bound = (i, text) => {
        const input = h("input", { type: "number", id: `${id}-${i ? "high" : "low"}`, step: "any", value: entry[kind][i],
          onInput: () => { entry[kind][i] = input.value === "" ? null : Number(input.value); this.changed(); } });
        return [h("label", { for: input.id, text }), input];
      };
      const log = kind === "float" && h("label", { class: "checkbox-inline", for: `${id}-log` },
        h("input", { type: "checkbox", id: `${id}-log`, checked: Boolean(entry.log), onChange: (e) => { entry.log = e.target.checked; this.changed(); } }),
        "log scale");
      box.append(h("div", { class: "search-bounds" }, bound(0, `${label} from`), bound(1, "to"), log));
    };
    toggle.addEventListener("change", () => {
      if (toggle.checked) this.space[path] = this.defaultEntry(path, field);
      else delete this.space[path];
      draw();
      this.changed();
    });
    draw();
    return h("div", { class: "search-toggle" },
      h("label", { class: "checkbox-inline", for: id }, toggle, `Search ${label}`), box);
  }

  /** A first range around the current value: a decade each way for positive floats (log), else ±50%. */
  defaultEntry(path, field) {
    const value = getPath(this.form.spec, path);
    if (field.enum) return { choice: value != null ? [value] : [field.enum[0]] };
    if (field.type === "integer") {
      const v = Number(value) || 1;
      return { int: [Math.max(field.minimum ?? 0, Math.round(v / 2)), Math.round(v * 2)] };
    }
    const v = Number(value) || 0.1;
    return v > 0 ? { float: [round(v / 10), round(Math.min(v * 10, field.maximum ?? v * 10))], log: true } : { float: [0, 1] };
  }

  settingsSection() {
    const controls = SETTINGS.map((s) => {
      const id = `s-${s.key.replaceAll("_", "-")}`;
      const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
      let input;
      if (s.choices) {
        input = h("select", { id, onChange: () => { this.settings[s.key] = input.value; this.changed(); } },
          s.choices.map(([value, text]) => h("option", { value, text })));
        input.value = this.settings[s.key];
      } else {
        input = h("input", { id, type: "number", ...s.number, value: this.settings[s.key] ?? "",
          onInput: () => { this.settings[s.key] = input.value === "" ? null : Number(input.value); this.changed(); } });
      }
      input.setAttribute("aria-describedby", `${id}-error`);
      this.form.controls.set(`meta.${s.key}`, { element: null, focus: () => input.focus(),
        showError: (m) => { error.hidden = !m; error.textContent = m || ""; } });
      return h("div", { class: "field" }, h("label", { for: id, text: s.label }), input,
        s.hint && h("p", { class: "hint", text: s.hint }), error);
    });
    return h("fieldset", { class: "form-section" }, h("legend", { text: "Search" }),
      h("p", { class: "section-note", text: "Tick “Search …” beside a field to give it a range or choices. Seeds above is the runs per proposal; the objective is their mean." }),
      h("div", { class: "form-grid" }, controls));
  }

  // ------------------------------------------------------------------------------------ cost and launch

  body() {
    const form = this.form;
    const s = this.settings;
    const pruner = { kind: s.pruner };
    if (s.pruner !== "none") Object.assign(pruner, { min_epochs_fraction: s.min_epochs_fraction, reduction: s.reduction });
    return {
      name: form.meta.name.trim() || `search over ${Object.keys(this.space).join(", ") || "nothing yet"}`.slice(0, 200),
      notes: form.meta.notes, spec: form.builtSpec(), space: this.space, objective: s.objective, sampler: s.sampler,
      pruner, seeds: Number(form.meta.seeds) || 1, max_runs: s.max_runs, max_concurrent: s.max_concurrent,
      budget_gpu_hours: s.budget_gpu_hours || null,
    };
  }

  changed() {
    this.form.update();
  }

  /** After each form update: the largest cost, from the server's dry run (a moment after the last edit). */
  afterUpdate() {
    this.form.summary.append(this.cost);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.dryRun(), DRY_RUN_DELAY_MS);
  }

  async dryRun() {
    if (!Object.keys(this.space).length) {
      clear(this.cost, h("p", { class: "muted", text: "Tick “Search …” beside at least one field." }));
      return;
    }
    try {
      const cost = await api.dryRunSearch(this.body());
      clear(this.cost, h("p", { class: "search-cost-line" }, h("strong", { text: "Largest cost: " }),
        cost.largest_gpu_hours == null ? "unknown" : `${number(cost.largest_gpu_hours, 2)} GPU-hours`),
      h("p", { class: "muted", text: `${cost.max_proposals} proposals × ${this.body().seeds} seed(s), at most ${cost.gpu_hours_per_run_max == null ? "?" : number(cost.gpu_hours_per_run_max, 3)} h a run${cost.budget_gpu_hours ? `; budget ${number(cost.budget_gpu_hours, 2)} h` : ""}. ${cost.basis}.` }));
    } catch (error) {
      clear(this.cost, h("p", { class: "muted", text: `No estimate yet: ${error.message}` }));
    }
  }

  async submit() {
    const form = this.form;
    form.clearAllErrors();
    form.launchButton.disabled = true;
    form.launchButton.textContent = "Starting…";
    try {
      const search = await api.createSearch(this.body());
      location.hash = `#/searches/${search.id}`;
    } catch (error) {
      form.launchButton.disabled = false;
      form.launchButton.textContent = "Start search";
      // space.<path> is the field's own control; the search's settings are ours (meta.<key>).
      if (error.fields?.length) {
        form.showErrors(error.fields.map((f) => ({ field: f.field.replace(/^space\./, "spec.").replace(/^(objective|sampler|pruner|max_runs|max_concurrent|budget_gpu_hours)(\..*)?$/, "meta.$1"), message: f.message })));
      } else {
        clear(form.errors, h("div", { class: "alert alert-error", attrs: { role: "alert" } }, h("strong", { text: "No search was started. " }), error.message));
      }
    }
  }
}

function round(value) {
  return Number(value.toPrecision(3));
}
