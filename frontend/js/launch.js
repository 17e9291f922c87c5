// Launch: a run spec built from the catalog (only the fields of the chosen arch and method), the papers'
// presets, the papers' defaults shown for the chosen arch, the API's 422 messages beside their fields.

import { api, isAbort } from "./api.js";
import { datasetNote } from "./datasets.js";
import { clear, errorBox, h, loading, toast } from "./dom.js";
import { fixed, specValue } from "./format.js";
import { fieldControl, inputId } from "./launch-fields.js";
import { archLabel, datasetLabel, fieldLabel, methodLabel, modelName } from "./labels.js";
import { parseIds } from "./series.js";
import { SearchExtension } from "./search-form.js";
import { flattenSpec, getPath, setPath } from "./spec-paths.js";

// Fields that only mean something in some settings; hidden ones are sent with a neutral value.
const SHOWN_WHEN = {
  "dataset.train_size": (spec) => spec.dataset.name === "synthetic",
  "dataset.test_size": (spec) => spec.dataset.name === "synthetic",
  "schedule.milestones": (spec) => spec.schedule.kind === "multistep",
  "schedule.gamma": (spec) => spec.schedule.kind === "multistep",
};
const VALUE_WHEN_HIDDEN = { "dataset.train_size": null, "dataset.test_size": null, "schedule.milestones": [] };

// Changing one of these changes which fields exist or what their defaults are.
const STRUCTURAL = new Set(["model.arch", "regularization.method", "dataset.name", "schedule.kind"]);

// A 422 on a whole section is shown at the control that chooses it.
const SECTION_FIELD = { model: "model.arch", regularization: "regularization.method", dataset: "dataset.name",
  optim: "optim.nesterov", schedule: "schedule.kind", augment: "augment.crop_padding" };

const MAX_SEEDS = 100;

// Hints where the catalog's description would repeat the label or say too much for a form.
const HINTS = {
  "dataset.name": "CIFAR is read from the workers' data directory, downloaded there once if missing; Digits and Synthetic are built in.",
  "regularization.p_last": "linear decay from 1 at the first block to p_L at the last",
  "model.depth": "",
};

export function mount(root, ctx) {
  ctx.setTitle("Launch a run");
  root.append(loading("Loading the catalog…"));
  const fromRun = ctx.query.get("from");
  Promise.all([api.catalog(), fromRun ? api.getRun(Number(fromRun), { signal: ctx.signal }) : null])
    .then(([catalog, run]) => new LaunchForm(root, ctx, catalog, parseIds(ctx.query.get("compare"))).start({ run, presetId: ctx.query.get("preset") }))
    .catch((error) => {
      if (isAbort(error)) return;
      clear(root, errorBox(error, { title: "The launch form could not be loaded", retry: () => { clear(root); mount(root, ctx); } }));
    });
}

class LaunchForm {
  /** `joinCompare`: ids of the comparison this form was opened from; what it launches is added to it. */
  constructor(root, ctx, catalog, joinCompare = []) {
    this.root = root;
    this.ctx = ctx;
    this.catalog = catalog;
    this.joinCompare = joinCompare;
    this.spec = null;
    this.touched = new Set();
    this.controls = new Map();
    this.meta = { name: "", tags: "", notes: "", seeds: 1, gpus: 1 };
    // "New search" (#/launch?mode=search): the same editor, with ranges beside the fields (search-form.js).
    this.search = ctx.query.get("mode") === "search" ? new SearchExtension(this) : null;
  }

  start({ run, presetId }) {
    const preset = this.catalog.presets.find((p) => p.id === presetId);
    if (run) this.loadSpec(run.spec, Object.keys(flattenSpec(run.spec)), { tags: run.tags.join(" "), notes: run.notes, gpus: run.gpus });
    else if (preset) this.loadPreset(preset);
    else this.loadSpec(this.defaultSpec("pyramidnet", "shakedrop", "cifar10"), []);
    this.layout(run ? `from-run` : preset?.id || "");
    if (run) toast(`Form filled from run #${run.id}; change what you like, then Launch.`);
  }

  // ------------------------------------------------------------------------------------ the spec's defaults

  archEntry(arch) {
    return this.catalog.archs.find((a) => a.arch === arch);
  }

  methodEntry(method) {
    return this.catalog.methods.find((m) => m.method === method);
  }

  /** Every field at its default for this arch and dataset: the catalog's field defaults, then the paper's. */
  defaultSpec(arch, method, dataset) {
    const spec = {};
    for (const [section, fields] of Object.entries(this.catalog.sections)) {
      for (const field of fields) setPath(spec, `${section}.${field.name}`, clone(field.default ?? (field.type === "array" ? [] : null)));
    }
    // The paper's settings as the engine fills them for this dataset (no flips on digits, Cutout 8 on CIFAR-100).
    for (const [section, values] of Object.entries(this.archEntry(arch).paper_defaults_by_dataset[dataset])) {
      for (const [key, value] of Object.entries(values)) setPath(spec, `${section}.${key}`, clone(value));
    }
    spec.dataset.name = dataset;
    spec.model = { arch, ...fieldDefaults(this.archEntry(arch).fields) };
    spec.regularization = { method, ...fieldDefaults(this.methodEntry(method).fields) };
    for (const field of this.catalog.run) spec[field.name] = clone(field.default);
    return spec;
  }

  defaultAt(path) {
    return getPath(this.defaultSpec(this.spec.model.arch, this.spec.regularization.method, this.spec.dataset.name), path);
  }

  loadSpec(spec, touchedPaths, meta = {}) {
    const base = this.defaultSpec(spec.model.arch, spec.regularization?.method || "none", spec.dataset?.name || "cifar10");
    for (const [path, value] of Object.entries(flattenSpec(spec))) setPath(base, path, clone(value));
    this.spec = base;
    this.touched = new Set(touchedPaths);
    Object.assign(this.meta, meta);
  }

  loadPreset(preset) {
    this.loadSpec(preset.resolved, Object.keys(flattenSpec(preset.spec)));
  }

  /** Arch, method or dataset changed: new model/method fields at their defaults, untouched fields follow. */
  restructure(path, value) {
    const spec = this.spec;
    if (path === "model.arch") {
      const methods = this.archEntry(value).methods;
      const method = methods.includes(spec.regularization.method) ? spec.regularization.method
        : methods.find((m) => m !== "none") || "none";
      for (const p of [...this.touched]) if (p.startsWith("model.") || (method !== spec.regularization.method && p.startsWith("regularization."))) this.touched.delete(p);
      spec.model = { arch: value, ...fieldDefaults(this.archEntry(value).fields) };
      if (method !== spec.regularization.method) spec.regularization = { method, ...fieldDefaults(this.methodEntry(method).fields) };
    } else if (path === "regularization.method") {
      for (const p of [...this.touched]) if (p.startsWith("regularization.")) this.touched.delete(p);
      spec.regularization = { method: value, ...fieldDefaults(this.methodEntry(value).fields) };
    } else {
      setPath(spec, path, value);
      this.touched.add(path);
    }
    const defaults = this.defaultSpec(spec.model.arch, spec.regularization.method, spec.dataset.name);
    for (const section of ["dataset", "augment", "optim", "schedule"]) {
      for (const [p, v] of Object.entries(flattenSpec(defaults[section], section))) {
        if (!this.touched.has(p) && p !== "dataset.name") setPath(spec, p, clone(v));
      }
    }
    // A batch size of one's own is one replica group unless the split is set too (as the engine fills it).
    if (this.touched.has("optim.batch_size") && !this.touched.has("optim.replica_batch")) spec.optim.replica_batch = spec.optim.batch_size;
    // A schedule switched to multistep by hand needs milestones; offer the arch's or a common pair.
    if (spec.schedule.kind === "multistep" && !spec.schedule.milestones?.length) spec.schedule.milestones = [0.5, 0.75];
  }

  // ------------------------------------------------------------------------------------ layout

  layout(presetValue) {
    this.presetSelect = h("select", { id: "preset", onChange: () => this.choosePreset(this.presetSelect.value) },
      h("option", { value: "", text: "Custom (paper defaults for the chosen architecture)" }),
      presetValue === "from-run" && h("option", { value: "from-run", text: "Copied from a run" }),
      this.catalog.presets.map((p) => h("option", { value: p.id, text: p.label })));
    this.presetSelect.value = presetValue;
    this.sections = h("div");
    this.summary = h("div");
    this.errors = h("div", { attrs: { "aria-live": "assertive" } });
    this.preview = h("pre", { class: "json-preview mono" });
    this.launchButton = h("button", { type: "submit", class: "button primary large", text: "Launch" });
    this.form = h("form", { class: "launch-layout", noValidate: true, attrs: { "aria-label": "Launch runs" }, onSubmit: (e) => { e.preventDefault(); this.submit(); } },
      h("div", {},
        h("div", { class: "card" },
          h("div", { class: "preset-row" },
            h("div", { class: "field" }, h("label", { for: "preset", text: "Preset" }), this.presetSelect,
              h("p", { class: "hint", text: "The papers' headline runs, with their exact settings. Choosing one fills the form." })))),
        this.sections),
      h("aside", { class: "launch-side" },
        h("div", { class: "card" }, h("h2", { text: "Summary" }), this.summary, this.errors,
          h("div", { class: "launch-bar" }, this.launchButton),
          this.joinCompare.length ? h("p", { class: "hint", text: `What you launch joins the comparison of runs ${this.joinCompare.map((id) => `#${id}`).join(", ")}.` }) : null),
        h("div", { class: "card" }, h("details", {}, h("summary", { text: "The spec as JSON" }), this.preview,
          h("p", { class: "hint", text: "What Launch sends. The same file trains from a shell: python -m worker.engine train spec.json --out DIR" })))));
    // Enter in a field must not launch (the form opens on an 1800-epoch PyramidNet-272): only the button does.
    this.form.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.target instanceof HTMLInputElement) e.preventDefault();
    });
    clear(this.root,
      h("div", { class: "page-head" }, h("div", {}, h("h1", { text: "Launch a run" }),
        h("p", { class: "subtitle", text: "Sections you leave alone keep the paper's settings for the architecture. Fields marked “default: …” were changed." })),
      this.search ? h("a", { class: "button small", href: "#/launch", text: "Launch a single run" })
        : h("a", { class: "button small", href: "#/launch?mode=search", text: "New search" })),
      this.form);
    this.drawSections();
  }

  choosePreset(id) {
    const preset = this.catalog.presets.find((p) => p.id === id);
    if (preset) this.loadPreset(preset);
    else if (id === "") this.loadSpec(this.defaultSpec(this.spec.model.arch, this.spec.regularization.method, this.spec.dataset.name), []);
    this.ctx.setQuery({ mode: this.search ? "search" : "", preset: preset ? id : "" });
    this.drawSections();
  }

  drawSections() {
    const focused = document.activeElement?.id;
    this.controls.clear();
    const arch = this.archEntry(this.spec.model.arch);
    const method = this.methodEntry(this.spec.regularization.method);
    clear(this.sections,
      this.section("Data", null, this.catalog.sections.dataset.map((f) => [f, `dataset.${f.name}`])),
      this.section("Model", arch.description, [
        [{ enum: this.catalog.archs.map((a) => a.arch), type: "string" }, "model.arch", { label: "Architecture", choices: archLabel }],
        ...arch.fields.map((f) => [f, `model.${f.name}`])]),
      this.section("Regularization", method.description, [
        [{ enum: arch.methods, type: "string" }, "regularization.method", { label: "Regularization", choices: methodLabel }],
        ...method.fields.map((f) => [f, `regularization.${f.name}`])]),
      this.section("Optimizer and schedule", "SGD; the learning rate follows the schedule per iteration.", [
        ...this.catalog.sections.optim.map((f) => [f, `optim.${f.name}`]),
        ...this.catalog.sections.schedule.map((f) => [f, `schedule.${f.name}`])]),
      this.section("Augmentation", null, this.catalog.sections.augment.map((f) => [f, `augment.${f.name}`])),
      this.runSection());
    this.search?.decorate();
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    this.update();
  }

  section(title, note, fields) {
    const controls = fields.filter(([, path]) => (SHOWN_WHEN[path] ? SHOWN_WHEN[path](this.spec) : true))
      .map(([field, path, options]) => this.control(field, path, options));
    return h("fieldset", { class: "form-section" }, h("legend", { text: title }),
      note && h("p", { class: "section-note", text: note }),
      h("div", { class: "form-grid" }, controls));
  }

  control(field, path, options = {}) {
    const hint = path in HINTS ? HINTS[path] : field.description;
    const control = fieldControl(field, path, getPath(this.spec, path), (p, v) => this.edit(p, v), { label: options.label, hint });
    if (options.choices) {
      for (const option of control.element.querySelectorAll("option")) option.textContent = options.choices(option.value);
    }
    this.controls.set(path, control);
    return control.element;
  }

  runSection() {
    const seeds = h("input", { id: "f-seeds", type: "number", min: 1, max: MAX_SEEDS, step: 1, value: this.meta.seeds, inputMode: "numeric", attrs: { "aria-describedby": "f-seeds-hint f-seeds-error" } });
    seeds.addEventListener("input", () => { this.meta.seeds = seeds.value; this.clearError("meta.seeds"); this.update(); });
    const gpus = h("input", { id: "f-gpus", type: "number", min: 1, max: 64, step: 1, value: this.meta.gpus, inputMode: "numeric", attrs: { "aria-describedby": "f-gpus-hint f-gpus-error" } });
    gpus.addEventListener("input", () => { this.meta.gpus = gpus.value; this.clearError("meta.gpus"); this.update(); });
    const name = h("input", { id: "f-name", type: "text", value: this.meta.name, maxLength: 200, placeholder: "optional", attrs: { autocomplete: "off", "aria-describedby": "f-name-error" } });
    name.addEventListener("input", () => { this.meta.name = name.value; this.clearError("meta.name"); this.update(); });
    const tags = h("input", { id: "f-tags", type: "text", value: this.meta.tags, placeholder: "e.g. baseline cifar10-sweep", attrs: { autocomplete: "off", "aria-describedby": "f-tags-hint f-tags-error" } });
    tags.addEventListener("input", () => { this.meta.tags = tags.value; this.clearError("meta.tags"); this.update(); });
    const notes = h("textarea", { id: "f-notes", value: this.meta.notes, rows: 3, attrs: { "aria-describedby": "f-notes-error" } });
    notes.addEventListener("input", () => { this.meta.notes = notes.value; this.update(); });
    const metaField = (path, label, input, hint, wide) => {
      const id = input.id;
      const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
      this.controls.set(path, { element: null, focus: () => input.focus(), showError: (m) => { error.hidden = !m; error.textContent = m || ""; if (m) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid"); } });
      return h("div", { class: `field${wide ? " wide" : ""}` }, h("label", { for: id, text: label }), input,
        hint && h("p", { class: "hint", id: `${id}-hint`, text: hint }), error);
    };
    const seedFields = this.catalog.run.map((f) => this.control(f, f.name, f.name === "seed"
      ? { label: "First seed" } : {}));
    return h("fieldset", { class: "form-section" }, h("legend", { text: "Run" }),
      h("div", { class: "form-grid" },
        metaField("meta.seeds", "Seeds", seeds, "How many runs to launch, one per seed (first seed, +1, +2…); they are grouped on the compare page."),
        ...seedFields,
        // A search's runs are proposed one GPU each.
        this.search ? null : metaField("meta.gpus", "GPUs", gpus, "GPUs each run trains on at once (a worker started with --gpus owning as many); the run is the same on any number."),
        metaField("meta.name", "Name", name),
        metaField("meta.tags", "Tags", tags, "Separated by spaces or commas; letters, digits and . : + - = _"),
        metaField("meta.notes", "Notes", notes, null, true)));
  }

  // ------------------------------------------------------------------------------------ editing

  edit(path, value) {
    this.clearError(path);
    if (this.presetSelect.value) this.presetSelect.value = "";
    if (STRUCTURAL.has(path)) {
      this.restructure(path, value);
      this.drawSections();
      return;
    }
    setPath(this.spec, path, value);
    this.touched.add(path);
    this.update();
  }

  /** Refresh what depends on every value: default notes, the summary, the JSON preview. */
  update() {
    const defaults = this.defaultSpec(this.spec.model.arch, this.spec.regularization.method, this.spec.dataset.name);
    for (const [path, control] of this.controls) {
      if (!control.showDefault || STRUCTURAL.has(path)) continue;
      control.showDefault(getPath(defaults, path), () => {
        setPath(this.spec, path, clone(getPath(defaults, path)));
        this.touched.delete(path);
        control.write(getPath(defaults, path));
        this.update();
      });
    }
    this.controls.get("model.depth")?.setHint(this.depthHint());
    const spec = this.builtSpec();
    this.preview.textContent = JSON.stringify(spec, null, 2);
    this.drawSummary(spec, defaults);
    this.search?.afterUpdate();
  }

  drawSummary(spec, defaults) {
    const seeds = this.seedList();
    // A paper preset is a cell of the papers' tables: say which, so its settings read as the cell's.
    const cell = this.catalog.presets.find((p) => p.id === this.presetSelect?.value)?.table;
    const changed = ["augment", "optim", "schedule"].flatMap((section) => Object.entries(flattenSpec(spec[section], section))
      .filter(([p, v]) => JSON.stringify(v) !== JSON.stringify(getPath(defaults, p)))
      .map(([p, v]) => `${fieldLabel(p)} ${specValue(getPath(defaults, p))} → ${specValue(v)}`));
    clear(this.summary,
      h("p", { style: "font-weight: 600; margin-bottom: 4px" }, `${modelName(spec.model)} · ${methodLabel(spec.regularization.method)}`),
      h("p", { class: "muted", style: "margin-bottom: 8px" },
        `${datasetLabel(spec.dataset.name)} · ${spec.optim.epochs} epochs · batch ${spec.optim.batch_size} · lr ${specValue(spec.optim.lr)} ${spec.schedule.kind}`),
      h("p", { style: "margin-bottom: 8px" }, seeds
        ? (seeds.length === 1 ? `1 run, seed ${seeds[0]}` : `${seeds.length} runs, seeds ${seeds[0]}–${seeds.at(-1)}`)
        : "Seeds: enter a count from 1 to 100."),
      cell ? h("p", { class: "table-cell-note", style: "margin-bottom: 8px" },
        `The settings of a table cell: ${cell.title}, paper ${fixed(cell.reported)}%. A finished run fills that cell on `,
        h("a", { href: `#/tables/${encodeURIComponent(cell.id)}`, text: "its table" }), ".") : null,
      changed.length
        ? h("details", {}, h("summary", { text: `${changed.length} setting${changed.length > 1 ? "s differ" : " differs"} from the paper's` }),
          h("ul", { class: "muted", style: "margin: 0 0 8px; padding-left: 18px; font-size: 0.8125rem" }, changed.map((c) => h("li", { text: c }))))
        : h("p", { class: "muted", style: "font-size: 0.8125rem", text: "Training settings: the paper's, unchanged." }),
      datasetNote(spec.dataset.name));
  }

  /** "valid: 11, 20, 29, …" from the catalog, for the block kind chosen. */
  depthHint() {
    const depths = this.archEntry(this.spec.model.arch).depths;
    if (!depths) return "";
    const list = depths.any || (this.spec.model.bottleneck ? depths.bottleneck : depths.basic);
    return list?.length ? `valid: ${list.join(", ")}, …` : "";
  }

  seedList() {
    const count = Number(this.meta.seeds);
    if (!Number.isInteger(count) || count < 1 || count > MAX_SEEDS) return null;
    const first = Number(this.spec.seed) || 0;
    return Array.from({ length: count }, (_, i) => first + i);
  }

  /** The spec Launch sends: every visible field; hidden ones at a value that means "not used". */
  builtSpec() {
    const spec = clone(this.spec);
    for (const [path, shown] of Object.entries(SHOWN_WHEN)) {
      if (!shown(spec) && path in VALUE_WHEN_HIDDEN) setPath(spec, path, clone(VALUE_WHEN_HIDDEN[path]));
    }
    return spec;
  }

  // ------------------------------------------------------------------------------------ launching

  /**
   * Every bad field in one round: the seed count (the form's own field) with the API's word on the spec.
   * One run: POST /api/runs checks spec, name and tags at once. Several: the experiments route checks the
   * spec only once the rest of the body passes, so its other messages are joined by POST /api/specs/resolve's.
   */
  async submit() {
    if (this.search) return this.search.submit();
    this.clearAllErrors();
    const seeds = this.seedList();
    const spec = this.builtSpec();
    const tags = this.meta.tags.split(/[\s,]+/).filter(Boolean);
    const name = this.meta.name.trim() || undefined;
    // Sent as typed: the API names a bad count ("gpus") and the form shows it beside the field.
    const gpus = /^\d+$/.test(String(this.meta.gpus).trim()) ? Number(this.meta.gpus) : this.meta.gpus;
    this.launchButton.disabled = true;
    this.launchButton.textContent = "Launching…";
    try {
      let ids;
      if (!seeds) {
        throw new FieldErrors([{ field: "meta.seeds", message: `Enter how many runs to launch: a whole number from 1 to ${MAX_SEEDS}.` },
          ...(await this.specErrors(spec))]);
      } else if (seeds.length === 1) {
        ids = [(await api.createRun({ spec, gpus, name, tags, notes: this.meta.notes })).id];
      } else {
        const experiment = await this.withSpecErrors(spec, () => api.createExperiment({
          name: name || `${datasetLabel(spec.dataset.name)} ${modelName(spec.model)} ${methodLabel(spec.regularization.method)}`, spec, seeds, gpus, tags, notes: this.meta.notes }));
        toast(`Queued ${experiment.runs.length} runs (experiment ${experiment.id}).`);
        ids = experiment.runs.map((r) => r.id);
      }
      if (this.joinCompare.length) location.hash = `#/compare?ids=${[...this.joinCompare, ...ids].join(",")}`;
      else location.hash = ids.length === 1 ? `#/runs/${ids[0]}` : `#/compare?ids=${ids.join(",")}`;
    } catch (error) {
      this.launchButton.disabled = false;
      this.launchButton.textContent = "Launch";
      if (error.fields?.length) this.showErrors(error.fields.map((f) => ({ field: f.field, message: f.message })));
      else clear(this.errors, h("div", { class: "alert alert-error", attrs: { role: "alert" } }, h("strong", { text: "Nothing was launched. " }), error.message));
    }
  }

  /** The API's 422 messages on the spec alone ([] when it is valid). */
  async specErrors(spec) {
    try {
      await api.resolveSpec(spec);
      return [];
    } catch (error) {
      if (error.status === 422 && error.fields.length) return error.fields;
      throw error;
    }
  }

  /** `create()`, and when its 422 says nothing of the spec, the spec's own messages beside the others. */
  async withSpecErrors(spec, create) {
    try {
      return await create();
    } catch (error) {
      if (error.status !== 422 || !error.fields.length || error.fields.some((f) => f.field.startsWith("spec"))) throw error;
      throw new FieldErrors([...error.fields, ...(await this.specErrors(spec))]);
    }
  }

  /** A 422's field ("spec.model.depth", "tags.0", "seeds") to the control that shows it. */
  controlPathFor(field) {
    let path = field.replace(/^body\./, "");
    if (path.startsWith("spec.")) path = path.slice(5);
    else if (!path.startsWith("meta.") && !this.controls.has(path)) path = `meta.${path.split(".")[0]}`;
    if (SECTION_FIELD[path]) path = SECTION_FIELD[path];
    while (path && !this.controls.has(path)) path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    return path || null;
  }

  showErrors(errors) {
    const listed = [];
    for (const { field, message } of errors) {
      const path = this.controlPathFor(field);
      if (path) this.controls.get(path).showError(message);
      listed.push({ path, field, message });
    }
    const first = listed.find((e) => e.path);
    clear(this.errors, h("div", { class: "alert alert-error error-summary", attrs: { role: "alert" } },
      h("strong", { text: `Nothing was launched: ${listed.length === 1 ? "one field needs" : `${listed.length} fields need`} a change.` }),
      h("ul", {}, listed.map((e) => h("li", {}, e.path
        ? h("a", { href: `#${inputId(e.path)}`, text: `${labelOf(e.path)}: `, onClick: (ev) => { ev.preventDefault(); this.controls.get(e.path).focus(); } })
        : `${e.field}: `, e.message)))));
    if (first) this.controls.get(first.path).focus();
  }

  clearError(path) {
    this.controls.get(path)?.showError(null);
  }

  clearAllErrors() {
    for (const control of this.controls.values()) control.showError(null);
    clear(this.errors);
  }
}

// ------------------------------------------------------------------------------------ helpers

/** Messages for several fields, collected before anything is sent. */
class FieldErrors extends Error {
  constructor(fields) {
    super("Some fields need a change.");
    this.fields = fields;
  }
}

function labelOf(path) {
  return { "meta.seeds": "Seeds", "meta.gpus": "GPUs", "meta.name": "Name", "meta.tags": "Tags", "meta.notes": "Notes", seed: "First seed" }[path] || fieldLabel(path);
}

function fieldDefaults(fields) {
  return Object.fromEntries(fields.map((f) => [f.name, clone(f.default ?? null)]));
}

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
