// Cancel and re-run, shared by the runs list and the run page.

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
