// "End as abusive" in a conversation's actions (issue 17): a second step confirms it, then the console
// sends close with reason "abusive" (docs/protocol.md 5.2). The server ends the chat, writes it to the
// audit log and keeps the visitor's browser session from starting another chat for a while.

import { el, t } from "./common.js";

/** The button and its confirmation; ``send(frame)`` sends on the console socket. */
export function abusiveControls(conv, send) {
  const button = el("button", { type: "button", className: "button button-quiet abusive-button" });
  const text = el("p", { className: "confirm-text" });
  const yes = el("button", { type: "button", className: "button button-danger" });
  const no = el("button", { type: "button", className: "button button-secondary" });
  const confirm = el("div", { className: "confirm", role: "group", hidden: true }, text, yes, no);
  const root = el("div", { className: "abusive" }, button, confirm);
  button.addEventListener("click", () => {
    button.hidden = true;
    confirm.hidden = false;
    no.focus();
  });
  no.addEventListener("click", () => {
    confirm.hidden = true;
    button.hidden = false;
    button.focus();
  });
  yes.addEventListener("click", () => {
    confirm.hidden = true;
    button.hidden = false;
    send({ type: "close", conversation_id: conv.id, reason: "abusive" });
  });
  root.relabel = () => {
    button.textContent = t("abusive_button");
    text.textContent = t("abusive_confirm", { alias: conv.alias });
    confirm.setAttribute("aria-label", t("abusive_button"));
    yes.textContent = t("abusive_yes");
    no.textContent = t("close_no");
  };
  root.relabel();
  return root;
}
