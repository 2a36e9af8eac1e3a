// Notices from a supervisor in the agent console (the `notice` frame, docs/protocol.md §5.3): a banner
// per notice with the sender's name and time, read out once by the polite live region, kept until
// the adviser dismisses it. Notices are not stored on the server: a reload forgets them.

import { $, announce, el, shortTime, t } from "./common.js";

const shown = []; // {frame, node}

function build(item) {
  const { frame } = item;
  const at = shortTime(frame.at);
  const from = String(frame.from || "");
  const dismiss = el(
    "button",
    { type: "button", className: "button button-quiet button-small" },
    t("notice_dismiss"),
    el("span", { className: "visually-hidden", text: ` ${t("notice_dismiss_context", { name: from, t: at })}` }),
  );
  dismiss.addEventListener("click", () => remove(item));
  return el(
    "div",
    { className: "notice notice-info staff-notice" },
    el(
      "div",
      {},
      el("p", { className: "staff-notice-from", text: t("notice_from", { name: from, t: at }) }),
      el("p", { className: "staff-notice-text", dir: "auto", text: String(frame.text || "") }),
    ),
    dismiss,
  );
}

function render() {
  const box = $("staff-notices");
  for (const item of shown) {
    const node = build(item);
    item.node?.replaceWith(node);
    item.node = node;
  }
  box.replaceChildren(...shown.map((item) => item.node));
  box.hidden = shown.length === 0;
}

function remove(item) {
  const index = shown.indexOf(item);
  if (index < 0) return;
  shown.splice(index, 1);
  item.node.remove();
  $("staff-notices").hidden = shown.length === 0;
  // Keep the keyboard near where it was: the next notice, else the start of the console.
  const next = shown[Math.min(index, shown.length - 1)];
  (next ? next.node.querySelector("button") : $("main")).focus();
}

/** A `notice` frame arrived: show it above the console and read it out. */
export function showStaffNotice(frame) {
  if (typeof frame.text !== "string" || !frame.text) return;
  const item = { frame, node: null };
  item.node = build(item);
  shown.push(item);
  $("staff-notices").append(item.node);
  $("staff-notices").hidden = false;
  announce(t("notice_announce", { name: String(frame.from || ""), text: frame.text }));
}

export function relabelStaffNotices() {
  render();
}

export function clearStaffNotices() {
  shown.length = 0;
  render();
}
