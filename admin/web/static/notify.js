// Browser notifications for the console (issue 17): opt-in with a checkbox beside "sound", remembered in
// localStorage. While the console is in the background, a new chat, a visitor's message or a transfer
// offer raises a notification that names the conversation but never shows what anyone wrote (a screen
// others can see); the title's "(n)" badge counts what needs attention. Clicking one opens it.

import { $, el, t } from "./common.js";

const KEY = "nora-admin.notify";
const N = { on: false, box: null, label: null, note: null };

function remembered() {
  try {
    return localStorage.getItem(KEY) === "1";
  } catch {
    return false;
  }
}

function remember(on) {
  try {
    localStorage.setItem(KEY, on ? "1" : "0");
  } catch {
    /* not remembered: still on for this page */
  }
}

function supported() {
  return typeof window.Notification === "function";
}

/** The checkbox, put beside the sound checkbox; ``hidden`` for services that do not chat. */
export function setupNotify() {
  if (N.box) return;
  N.box = el("input", { type: "checkbox", id: "notify", name: "notify" });
  N.label = el("span");
  N.note = el("span", { className: "visually-hidden", role: "status" });
  const wrap = el("label", { className: "sound notify" }, N.box, " ", N.label, N.note);
  $("sound").closest("label").after(wrap);
  N.on = supported() && remembered() && window.Notification.permission === "granted";
  N.box.checked = N.on;
  N.box.disabled = !supported();
  N.box.addEventListener("change", async () => {
    if (!N.box.checked) {
      N.on = false;
      remember(false);
      return;
    }
    const answer = window.Notification.permission === "granted" ? "granted" : await window.Notification.requestPermission();
    N.on = answer === "granted";
    N.box.checked = N.on;
    remember(N.on);
    N.note.textContent = N.on ? "" : t("notify_denied");
  });
  relabelNotify();
}

export function relabelNotify() {
  if (N.label) N.label.textContent = t(supported() ? "notify_label" : "notify_unsupported");
}

export function showNotify(show) {
  if (N.box) N.box.closest("label").hidden = !show;
}

/** Tell the adviser, if they opted in and the console is in the background; ``open`` on click. */
export function notify(kind, alias, tag, open) {
  if (!N.on || !document.hidden || !supported()) return;
  try {
    const note = new window.Notification(t(`notify_${kind}_title`), { body: t(`notify_${kind}_body`, { alias }), tag });
    note.onclick = () => {
      window.focus();
      open();
      note.close();
    };
  } catch {
    /* some browsers allow notifications only from a service worker: the title badge still tells */
  }
}
