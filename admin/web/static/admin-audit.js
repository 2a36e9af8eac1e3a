// The audit log on the admin page: filter by user, action and dates (GET /api/v1/audit), newest
// first, 100 at a time with "show older".

import { $, api, el, i18n, t } from "./common.js";
import { errorText, when } from "./admin-forms.js";

// The actions the service writes (admin/*.py); the list only offers them, the API takes any.
const ACTIONS = [
  "user_created", "user_changed", "user_disabled", "user_enabled",
  "transcript_read", "registration_created", "registration_amended", "case_opened", "case_read", "case_closed",
  "registrations_imported", "registrations_exported",
  "reference_added", "reference_changed", "guideline_replaced", "hours_changed", "hours_reset",
  "queue.route", "queue.divert", "queue.divert_end", "queue.notice",
];
const L = { entries: [], next: null, query: null };

export function setupAudit() {
  $("audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAudit();
  });
  $("audit-more").addEventListener("click", () => loadAudit({ more: true }));
}

export function fillAuditChoices(users) {
  const actor = $("audit-actor");
  const chosen = actor.value;
  actor.replaceChildren(el("option", { value: "", text: t("audit_anyone") }), ...users.map((u) => el("option", { value: u.username, text: `${u.username} (${u.name})` })));
  actor.value = chosen;
  const action = $("audit-action");
  const picked = action.value;
  action.replaceChildren(el("option", { value: "", text: t("audit_any_action") }), ...ACTIONS.map((a) => el("option", { value: a, text: actionLabel(a) })));
  action.value = picked;
}

function actionLabel(action) {
  const key = `action_${action}`;
  const text = t(key);
  return text === key ? action : text;
}

export async function loadAudit({ more = false } = {}) {
  const error = $("audit-error");
  error.hidden = true;
  if (!more) {
    const query = new URLSearchParams();
    for (const [key, id] of [["actor", "audit-actor"], ["action", "audit-action"], ["from", "audit-from"], ["to", "audit-to"]]) {
      if ($(id).value) query.set(key, $(id).value);
    }
    L.query = query;
    L.entries = [];
    L.next = null;
  }
  const query = new URLSearchParams(L.query);
  if (more && L.next) query.set("before_id", String(L.next));
  $("audit-status").textContent = t("audit_loading");
  try {
    const data = await api(`/api/v1/audit?${query}`);
    L.entries = more ? [...L.entries, ...data.entries] : data.entries;
    L.next = data.next_before_id;
    renderAudit();
    $("audit-status").textContent = L.entries.length ? t("audit_count", { n: L.entries.length }) : t("audit_empty");
  } catch (err) {
    $("audit-status").textContent = "";
    const names = Object.keys(err.fields || {});
    error.textContent = names.length ? `${errorText(err)} (${names.join(", ")})` : errorText(err);
    error.hidden = false;
  }
}

export function renderAudit() {
  $("audit-table").querySelector("tbody").replaceChildren(
    ...L.entries.map((e) => {
      const concerns = [];
      if (e.conversation_id) concerns.push(t("audit_conversation", { id: e.conversation_id.slice(0, 8) }));
      if (e.registration_id) concerns.push(t("audit_registration", { id: e.registration_id.slice(0, 8) }));
      return el(
        "tr",
        {},
        el("td", {}, el("time", { datetime: e.at, text: when(e.at, i18n.lang) })),
        el("td", { text: e.actor || e.actor_id || t("audit_system") }),
        el("td", { text: actionLabel(e.action) }),
        el("td", { text: concerns.join(", ") || t("none") }),
        el("td", { className: "detail", text: e.detail || "" }),
      );
    }),
  );
  $("audit-table").hidden = L.entries.length === 0;
  $("audit-more").hidden = !L.next;
}
