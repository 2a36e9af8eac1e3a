// Notices from a supervisor in the agent console (the `notice` frame, docs/protocol.md §5.3): a banner
// per notice with the sender's name and time, read out once by the polite live region, kept until
// the adviser dismisses it. The server sends a console that (re)connects the notices of the last 12
// hours after its `state`: one already shown, or dismissed in this tab, is not shown again.

import { $, announce, el, shortTime, t } from "./common.js";

const shown = []; // {frame, node}
const seen = new Set(); // notices shown since the page loaded (a reconnect sends them again)
const DISMISSED = "nora-dismissed-notices"; // this tab's dismissed notices, by time and sender only

function key(frame) {
  return `${frame.at}|${frame.from}`;
}

function dismissed() {
  try {
    return JSON.parse(sessionStorage.getItem(DISMISSED) || "[]");
  } catch {
    return [];
  }
}

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
  try {
    sessionStorage.setItem(DISMISSED, JSON.stringify([...dismissed(), key(item.frame)].slice(-50)));
  } catch {
    // storage unavailable: the notice may come back after a reload
  }
  item.node.remove();
  $("staff-notices").hidden = shown.length === 0;
  // Keep the keyboard near where it was: the next notice, else the start of the console.
  const next = shown[Math.min(index, shown.length - 1)];
  (next ? next.node.querySelector("button") : $("main")).focus();
}

/** A `notice` frame arrived: show it above the console and read it out. */
export function showStaffNotice(frame) {
  if (typeof frame.text !== "string" || !frame.text) return;
  if (seen.has(`${key(frame)}|${frame.text}`) || dismissed().includes(key(frame))) return;
  seen.add(`${key(frame)}|${frame.text}`);
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

/** Signed out: forget what was shown and dismissed here (the next person sees the notices afresh). */
export function clearStaffNotices() {
  shown.length = 0;
  seen.clear();
  try {
    sessionStorage.removeItem(DISMISSED);
  } catch {
    // nothing kept
  }
  render();
}
