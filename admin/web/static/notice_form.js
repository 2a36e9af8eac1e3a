// The supervisor's notice to every signed-in adviser (POST /api/v1/notices, docs/protocol.md §8):
// 1–500 characters with a counter, and a confirmation naming how many advisers will get it, since
// it interrupts everyone on duty and cannot be taken back.

import { $, api, shortTime, t } from "./common.js";

const N = { signedIn: () => 0, onExpired: () => {}, busy: false };

function count() {
  $("notice-count").textContent = t("notice_count", { n: $("notice-text").value.length });
}

function showConfirm(on) {
  $("notice-confirm").hidden = !on;
  $("notice-actions").hidden = on;
  if (on) {
    const n = N.signedIn();
    const key = n === 0 ? "notice_confirm_none" : n === 1 ? "notice_confirm_one" : "notice_confirm";
    $("notice-confirm-text").textContent = t(key, { n });
  }
}

function showError(text) {
  $("notice-error").textContent = text;
  $("notice-error").hidden = false;
  $("notice-text").setAttribute("aria-invalid", "true");
}

function clearError() {
  $("notice-error").hidden = true;
  $("notice-text").removeAttribute("aria-invalid");
}

function ask(event) {
  event.preventDefault();
  clearError();
  const text = $("notice-text").value.trim();
  if (!text || text.length > 500) {
    showError(t("notice_error_empty"));
    $("notice-text").focus();
    return;
  }
  $("notice-result").hidden = true;
  showConfirm(true);
  $("notice-yes").focus();
}

function cancel() {
  showConfirm(false);
  $("notice-submit").focus();
}

async function send() {
  if (N.busy) return;
  const text = $("notice-text").value.trim();
  N.busy = true;
  $("notice-yes").disabled = true;
  try {
    await api("/api/v1/notices", { method: "POST", body: { text } });
    $("notice-text").value = "";
    count();
    showConfirm(false);
    const result = $("notice-result");
    result.textContent = t("notice_sent", { t: shortTime() });
    result.hidden = false;
    result.focus();
  } catch (err) {
    showConfirm(false);
    if (err.status === 401) {
      N.onExpired();
      return;
    }
    if (err.code === "invalid") showError(t("notice_error_invalid"));
    else if (err.code === "forbidden" || err.code === "csrf") showError(t("action_forbidden"));
    else if (err.code === "network") showError(t("network_error"));
    else showError(t("error_generic", { message: err.message }));
    $("notice-text").focus();
  } finally {
    N.busy = false;
    $("notice-yes").disabled = false;
  }
}

export function relabelNotice() {
  count();
  if (!$("notice-confirm").hidden) showConfirm(true);
}

export function initNotice({ signedIn, onExpired }) {
  N.signedIn = signedIn;
  N.onExpired = onExpired;
  $("notice-form").addEventListener("submit", ask);
  $("notice-no").addEventListener("click", cancel);
  $("notice-yes").addEventListener("click", send);
  $("notice-confirm").addEventListener("keydown", (event) => {
    if (event.key === "Escape") cancel();
  });
  $("notice-text").addEventListener("input", () => {
    count();
    // The text changed after "Send": ask again for what will actually be sent.
    if (!$("notice-confirm").hidden) showConfirm(false);
  });
  count();
}
