// Cancel, re-run, archive and delete, shared by the runs list and the run page.

import { api } from "./api.js";
import { h, toast } from "./dom.js";

export const isActive = (run) => run.status === "queued" || run.status === "running";

/** Same spec, tags and notes, queued by the server: with the run's own seed, or (newSeed) with the lowest
 *  seed its spec has not used, one more sample for its seed group. The name says which run it repeats. */
export function rerun(run, { newSeed = false } = {}) {
  return api.rerun(run.id, { newSeed });
}

/**
 * "Cancel" asks to be clicked again ("Really cancel?") within 4 s: a running run cannot be resumed once
 * cancelled, so one stray click must not end hours of training.
 */
export function cancelButton(run, onCancelled) {
  let disarmTimer = null;
  const button = h("button", { type: "button", class: "button small danger", text: "Cancel",
    attrs: { "aria-label": `Cancel run ${run.id}` } });
  button.addEventListener("click", async () => {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = "Really cancel?";
      disarmTimer = setTimeout(() => { button.classList.remove("armed"); button.textContent = "Cancel"; }, 4000);
      return;
    }
    clearTimeout(disarmTimer);
    button.disabled = true;
    button.textContent = "Cancelling…";
    try {
      const updated = await api.cancelRun(run.id);
      toast(updated.status === "cancelled" ? `Run #${run.id} cancelled.` : `Run #${run.id} will stop within seconds.`);
      onCancelled?.(updated);
    } catch (error) {
      toast(`Could not cancel run #${run.id}: ${error.message}`);
      button.disabled = false;
      button.classList.remove("armed");
      button.textContent = "Cancel";
    }
  });
  return button;
}

export function rerunButton(run, onQueued, { newSeed = false } = {}) {
  const button = h("button", { type: "button", class: "button small", text: newSeed ? "New seed" : "Re-run",
    title: newSeed ? "Queue the same spec with a seed none of its runs has used (one more sample for its seed group)"
      : "Queue the same spec with the same seed (a repeat; its seed group counts the seed once)",
    attrs: { "aria-label": newSeed ? `Re-run run ${run.id} with a new seed` : `Re-run run ${run.id} with the same spec` } });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const created = await rerun(run, { newSeed });
      toast("Queued ", h("a", { href: `#/runs/${created.id}`, text: `run #${created.id}` }),
        ` (re-run of #${run.id}${newSeed ? `, seed ${created.seed}` : ""}).`);
      onQueued?.(created);
    } catch (error) {
      toast(`Could not re-run #${run.id}: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export const isFinished = (run) => !isActive(run);

/**
 * A modal question with two buttons; resolves true when the person confirms. Used before anything that
 * cannot be undone (deleting runs).
 */
export function confirmDialog({ title, message, confirmLabel, danger = true }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", attrs: { "aria-label": title } },
      h("form", { method: "dialog", class: "dialog-body" },
        h("h2", { text: title }),
        ...[message].flat().map((line) => h("p", { text: line })),
        h("div", { class: "dialog-actions" },
          h("button", { value: "cancel", class: "button secondary", text: "Keep", attrs: { autofocus: "" } }),
          h("button", { value: "ok", class: `button ${danger ? "danger" : "primary"}`, text: confirmLabel }))));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(dialog.returnValue === "ok"); }, { once: true });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Archive (or restore) runs; returns the ids that changed, and says which failed. */
export async function setArchived(ids, archived) {
  const done = [];
  for (const id of ids) {
    try {
      await api.editRun(id, { archived });
      done.push(id);
    } catch (error) {
      toast(`Could not ${archived ? "archive" : "restore"} run #${id}: ${error.message}`);
    }
  }
  if (done.length) toast(`${done.length} run${done.length === 1 ? "" : "s"} ${archived ? "archived" : "restored"}.`);
  return done;
}

/** Ask, then delete the finished runs among `runs` with their metrics and files; the ids deleted. */
export async function deleteRuns(runs) {
  const finished = runs.filter(isFinished);
  const active = runs.length - finished.length;
  if (!finished.length) {
    toast("Only finished runs can be deleted: cancel a run first.");
    return [];
  }
  const what = finished.length === 1 ? `run #${finished[0].id} (${finished[0].name})` : `${finished.length} runs`;
  const ok = await confirmDialog({
    title: finished.length === 1 ? `Delete run #${finished[0].id}?` : `Delete ${finished.length} runs?`,
    message: [`This removes ${what} with every recorded epoch, its checkpoint and its files. It cannot be undone.`,
      active ? `${active} queued or running run${active === 1 ? " is" : "s are"} left as ${active === 1 ? "it is" : "they are"}: cancel first.` : null].filter(Boolean),
    confirmLabel: finished.length === 1 ? "Delete run" : `Delete ${finished.length} runs`,
  });
  if (!ok) return [];
  const deleted = [];
  for (const run of finished) {
    try {
      await api.deleteRun(run.id);
      deleted.push(run.id);
    } catch (error) {
      toast(`Could not delete run #${run.id}: ${error.message}`);
    }
  }
  if (deleted.length) toast(`${deleted.length} run${deleted.length === 1 ? "" : "s"} deleted.`);
  return deleted;
}
