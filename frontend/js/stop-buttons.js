// The two Stop buttons of a running search (Optuna or NASNet): stop and let its runs finish, or cancel them.

import { h, toast } from "./dom.js";

/**
 * `stop(how)` asks the API ("finish" or "cancel") and resolves to the updated search; `stopped(search)` redraws.
 * `what` names the search's runs ("runs", "children") in the buttons and the messages.
 */
export function stopButtons({ stop, stopped, what }) {
  const click = (how) => async () => {
    try {
      const search = await stop(how);
      toast(how === "cancel" ? `Search stopped; its ${what} are being cancelled.` : `Search stopped; its ${what} finish.`);
      await stopped(search);
    } catch (error) {
      toast(`The search was not stopped: ${error.message}`);
    }
  };
  return [
    h("button", { type: "button", class: "button small", text: `Stop (let ${what} finish)`, onClick: click("finish") }),
    h("button", { type: "button", class: "button small danger", text: `Stop and cancel ${what}`, onClick: click("cancel") }),
  ];
}
