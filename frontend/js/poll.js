// Live updates by polling: the next request starts only after the last one answered, nothing is asked
// while the tab is hidden, and a tab coming back is refreshed at once.

/**
 * Call `task()` now and then every `intervalMs`; `task` returns false to stop (e.g. the run finished).
 * Errors are the task's own business: it should catch them and show them.
 */
export function poll(task, intervalMs) {
  let timer = null;
  let stopped = false;
  let running = false;

  async function tick() {
    timer = null;
    if (stopped || running) return;
    if (document.hidden) return; // resumed by the visibilitychange handler
    running = true;
    let keepGoing = true;
    try {
      keepGoing = (await task()) !== false;
    } catch (error) {
      console.warn("poll task failed", error); // tasks show their own errors; keep polling
    } finally {
      running = false;
    }
    if (!keepGoing) stop();
    else schedule();
  }

  function schedule() {
    if (!stopped && timer === null) timer = setTimeout(tick, intervalMs);
  }

  function onVisibility() {
    if (!document.hidden && !stopped && !running) {
      clearTimeout(timer);
      timer = null;
      tick();
    }
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  }

  document.addEventListener("visibilitychange", onVisibility);
  tick();
  return {
    stop,
    /** Refresh now (after a user action) instead of waiting for the next tick. */
    now() {
      if (stopped || running) return;
      clearTimeout(timer);
      tick();
    },
  };
}
