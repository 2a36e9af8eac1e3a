// The supervisor's "Route …" dialog: send one waiting conversation to a named adviser (signed in,
// available, with room), a service, a county or a language, optionally urgent and with a note
// (POST /api/v1/conversations/{id}/route, docs/protocol.md §8). While it is open it follows the
// live queue: advisers who cannot take the conversation now are listed, disabled, with the reason.

import { $, api, applyStatic, duration, el, name, ref, regionName, t } from "./common.js";

const R = {
  id: null, // the conversation being routed
  item: null, // its last known queue item
  position: null,
  queue: null,
  busy: false,
  adviserSig: "",
  onExpired: () => {},
  onDone: () => {},
  returnFocus: () => {},
};

const TARGETS = ["adviser", "service", "region", "language"];
const dialog = () => $("route-dialog");

function selectFor(target) {
  return $(`route-${target}`);
}

function option(value, text, props = {}) {
  return el("option", { value, text, ...props });
}

/** Fill a select once; keep what was chosen. */
function fill(select, options) {
  const value = select.value;
  select.replaceChildren(option("", t("route_choose_option")), ...options);
  select.value = value;
}

function fillReference() {
  if (!ref.data) return;
  fill(
    $("route-service"),
    ref.data.services.filter((s) => s.chats).map((s) => option(s.code, `${name("services", s.code)} (${s.code})`)),
  );
  fill($("route-region"), ref.data.regions.map((r) => option(r.code, name("regions", r.code))));
  fill(
    $("route-language"),
    ref.data.languages.map((l) => option(l.code, `${name("languages", l.code)} (${l.native})`, { lang: l.code })),
  );
}

function reasonFor(a) {
  if (a.status === "busy") return t("route_reason_busy", { active: a.active, capacity: a.capacity });
  if (a.status === "away") return t("route_reason_away");
  return t("route_reason_offline");
}

function canTake(a) {
  return a.status === "available" && a.active < a.capacity;
}

/** The adviser list, rebuilt only when it changes (rebuilding closes a select someone has open). */
function renderAdvisers() {
  const advisers = [...(R.queue?.advisers || [])].sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
  const free = advisers.filter(canTake);
  const others = advisers.filter((a) => !canTake(a));
  const label = (a) => ({ name: a.name || a.id, service: a.service, active: a.active, capacity: a.capacity });
  const freeOptions = free.map((a) => [a.id, t("route_adviser_option", label(a)), false]);
  const otherOptions = others.map((a) => [a.id, t("route_adviser_disabled", { ...label(a), reason: reasonFor(a) }), true]);
  const sig = JSON.stringify([freeOptions, otherOptions, t("route_choose_option")]);
  const select = $("route-adviser");
  if (sig !== R.adviserSig) {
    R.adviserSig = sig;
    const value = select.value;
    const group = (key, rows) =>
      rows.length
        ? el("optgroup", { label: t(key) }, ...rows.map(([id, text, disabled]) => option(id, text, { disabled })))
        : null;
    select.replaceChildren(
      option("", t("route_choose_option")),
      ...[group("route_group_available", freeOptions), group("route_group_unavailable", otherOptions)].filter(Boolean),
    );
    select.value = value;
  }
  const hint = $("route-adviser-hint");
  hint.hidden = free.length > 0;
  hint.textContent = free.length ? "" : t("route_no_adviser_free");
}

/** Everything that depends on the live queue or the page language. */
function render() {
  if (!R.id) return;
  const waiting = R.queue?.waiting || [];
  const index = waiting.findIndex((w) => w.conversation_id === R.id);
  const gone = index < 0;
  if (!gone) {
    R.item = waiting[index];
    R.position = index + 1;
  }
  const item = R.item;
  $("route-summary").textContent = t("route_summary", {
    n: R.position,
    region: regionName(item.region),
    language: name("languages", item.language),
    audience: name("audiences", item.audience),
    t: duration(item.waited_s),
  });
  $("route-gone").hidden = !gone;
  const absent = !gone && item.present === false;
  $("route-absent").hidden = !absent;
  // A named adviser needs a connected visitor (409 visitor_absent otherwise): say so where it is chosen.
  $("route-to-adviser").disabled = absent;
  $("route-adviser").disabled = absent;
  $("route-adviser-reason").textContent = absent ? t("route_reason_absent") : "";
  if (absent && $("route-to-adviser").checked) $("route-to-adviser").checked = false;
  renderAdvisers();
  const urgent = $("route-urgent");
  if (item.urgent) urgent.checked = true;
  urgent.disabled = Boolean(item.urgent);
  $("route-urgent-hint").textContent = t(item.urgent ? "route_already_urgent" : "route_urgent_hint");
  $("route-note-count").textContent = t("notice_count", { n: $("route-note").value.length });
  $("route-submit").disabled = gone || R.busy;
  $("route-submit").textContent = t(R.busy ? "route_sending" : "route_submit");
}

function showError(text, { target = false } = {}) {
  const node = target ? $("route-target-error") : $("route-error");
  node.textContent = text;
  node.hidden = false;
  if (target) $("route-targets").setAttribute("aria-invalid", "true");
}

function clearErrors() {
  for (const id of ["route-target-error", "route-error"]) {
    $(id).hidden = true;
    $(id).textContent = "";
  }
  $("route-targets").removeAttribute("aria-invalid");
}

function chosenTarget() {
  const choice = dialog().querySelector('input[name="route-to"]:checked')?.value;
  if (!choice) return null;
  const value = selectFor(choice).value;
  if (!value) return null;
  return choice === "adviser" ? { adviser_id: value } : { [choice]: value };
}

function targetLabel(body) {
  if (body.service) return name("services", body.service);
  if (body.region) return regionName(body.region);
  if (body.language) return name("languages", body.language);
  return "";
}

function adviserName(id) {
  const adviser = (R.queue?.advisers || []).find((a) => a.id === id);
  return adviser?.name || t("adviser");
}

function errorText(err, body) {
  switch (err.code) {
    case "not_waiting":
    case "not_found":
      return t("route_error_not_waiting");
    case "adviser_unavailable":
      return t("route_error_adviser_unavailable", { name: adviserName(body.adviser_id) });
    case "visitor_absent":
      return t("route_error_visitor_absent");
    case "invalid": {
      const fields = Object.keys(err.fields || {});
      const parts = fields.map((f) => t(f === "note" ? "route_field_note" : "route_field_choice"));
      return t("route_error_invalid", { fields: [...new Set(parts)].join("; ") || err.message });
    }
    case "forbidden":
    case "csrf":
      return t("action_forbidden");
    case "network":
      return t("network_error");
    default:
      return t("error_generic", { message: err.message });
  }
}

async function submit(event) {
  event.preventDefault();
  if (R.busy || !R.id) return;
  clearErrors();
  const target = chosenTarget();
  if (!target) {
    showError(t("transfer_choose"), { target: true });
    (dialog().querySelector('input[name="route-to"]:checked') || dialog().querySelector('input[name="route-to"]:enabled'))?.focus();
    return;
  }
  const body = { ...target };
  if ($("route-urgent").checked && !$("route-urgent").disabled) body.urgent = true;
  const note = $("route-note").value.trim();
  if (note) body.note = note;
  R.busy = true;
  render();
  try {
    const answer = await api(`/api/v1/conversations/${encodeURIComponent(R.id)}/route`, { method: "POST", body });
    let text;
    if (answer.state === "queued") text = t("route_done_queued", { target: targetLabel(body) });
    else if (body.adviser_id) text = t("route_done_adviser", { name: adviserName(body.adviser_id) });
    else text = t("route_done_assigned");
    R.busy = false;
    R.id = null; // routed: onDone places the focus, not the close handler
    close();
    R.onDone(text);
  } catch (err) {
    R.busy = false;
    render();
    if (err.status === 401) {
      close();
      R.onExpired();
      return;
    }
    showError(errorText(err, body));
  }
}

function close() {
  if (dialog().open) dialog().close();
}

/** Open the dialog for one waiting conversation. ``returnFocus`` runs when it closes without routing. */
export function openRoute(conversationId, returnFocus) {
  const waiting = R.queue?.waiting || [];
  const index = waiting.findIndex((w) => w.conversation_id === conversationId);
  if (index < 0) return;
  R.id = conversationId;
  R.item = waiting[index];
  R.position = index + 1;
  R.busy = false;
  R.returnFocus = returnFocus;
  $("route-form").reset();
  clearErrors();
  fillReference();
  for (const target of TARGETS) selectFor(target).value = "";
  render();
  dialog().showModal();
  dialog().querySelector('input[name="route-to"]:enabled')?.focus();
}

/** A new ``queue`` frame: follow it while the dialog is open. */
export function updateRoute(queue) {
  R.queue = queue;
  if (dialog().open) render();
}

export function relabelRoute() {
  applyStatic(dialog());
  fillReference();
  R.adviserSig = "";
  if (dialog().open) render();
}

export function initRoute({ onExpired, onDone }) {
  R.onExpired = onExpired;
  R.onDone = onDone;
  $("route-form").addEventListener("submit", submit);
  $("route-cancel").addEventListener("click", close);
  dialog().addEventListener("close", () => {
    const routed = !R.id;
    R.id = null;
    if (!routed) R.returnFocus?.();
  });
  for (const target of TARGETS) {
    // Choosing in a list chooses its target too, as in the console's transfer form.
    selectFor(target).addEventListener("change", () => {
      if (selectFor(target).value) $(`route-to-${target}`).checked = true;
    });
  }
  $("route-targets").addEventListener("change", () => {
    if (chosenTarget()) clearErrors();
  });
  $("route-note").addEventListener("input", () => {
    $("route-note-count").textContent = t("notice_count", { n: $("route-note").value.length });
  });
}
