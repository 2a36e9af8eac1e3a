// The supervisor's diversions panel: the active diversions of a county's or a language's queue to the
// ambulating team (from the `queue` frames), "End now" on each (DELETE /api/v1/diversions/{id}), and
// a form to make one (POST /api/v1/diversions). docs/protocol.md §8.

import { $, api, el, locale, name, ref, regionName, t } from "./common.js";

const MAX_MINUTES = 10080;
const STALE_MS = 10000; // a queue frame built before our own change may still be on its way

const V = {
  list: [], // active diversions as the last queue frame had them
  serverNow: null, // the frame's `at`, for "in 58 min"
  ended: new Map(), // id -> when we ended it here
  made: new Map(), // id -> {diversion, at} made here, until a frame lists it
  rows: new Map(), // id -> <tr>
  onExpired: () => {},
};

function what(d) {
  return t("diversion_what", {
    region: d.region ? regionName(d.region) : t("diversion_any_region"),
    language: d.language ? name("languages", d.language) : t("diversion_any_language"),
  });
}

function untilAt(d) {
  const until = new Date(d.until);
  if (Number.isNaN(until.getTime())) return "";
  const now = V.serverNow ? new Date(V.serverNow) : new Date();
  const sameDay = until.toDateString() === now.toDateString();
  const format = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale(), format).format(until);
}

function untilText(d) {
  const now = V.serverNow ? Date.parse(V.serverNow) : Date.now();
  const minutes = Math.max(1, Math.round((Date.parse(d.until) - now) / 60000));
  const left = minutes < 60 ? t("minutes_only", { m: minutes }) : t("hours", { h: Math.floor(minutes / 60), m: minutes % 60 });
  return t("diversion_until", { t: untilAt(d), left });
}

function visible() {
  const now = Date.now();
  for (const [id, at] of V.ended) if (now - at > STALE_MS) V.ended.delete(id);
  const listed = new Set(V.list.map((d) => d.id));
  for (const [id, made] of V.made) if (listed.has(id) || now - made.at > STALE_MS) V.made.delete(id);
  return [...V.list, ...[...V.made.values()].map((m) => m.diversion)].filter((d) => !V.ended.has(d.id));
}

function buildRow(d) {
  const button = el("button", { type: "button", className: "button button-secondary button-small" });
  button.addEventListener("click", () => end(d, button));
  const row = el("tr", { dataset: { diversion: d.id } }, el("td"), el("td"), el("td"), el("td", {}, button));
  row.button = button;
  return row;
}

function updateRow(row, d) {
  const [region, language, until] = row.cells;
  region.textContent = d.region ? regionName(d.region) : t("diversion_any_region");
  language.textContent = d.language ? name("languages", d.language) : t("diversion_any_language");
  until.textContent = untilText(d);
  row.button.replaceChildren(t("diversion_end"), el("span", { className: "visually-hidden", text: ` (${what(d)})` }));
}

/** Rows are kept per diversion, so a focused "End now" button stays focused across frames. */
export function renderDiversions() {
  const items = visible();
  const tbody = $("diversions-table").querySelector("tbody");
  const keep = new Set(items.map((d) => d.id));
  for (const [id, row] of V.rows) {
    if (!keep.has(id)) {
      row.remove();
      V.rows.delete(id);
    }
  }
  let previous = null;
  for (const d of items) {
    let row = V.rows.get(d.id);
    if (!row) {
      row = buildRow(d);
      V.rows.set(d.id, row);
    }
    updateRow(row, d);
    const wanted = previous ? previous.nextSibling : tbody.firstChild;
    if (wanted !== row) tbody.insertBefore(row, wanted);
    previous = row;
  }
  $("diversions-table").hidden = items.length === 0;
  $("diversions-empty").hidden = items.length > 0;
}

export function updateDiversions(queue) {
  V.list = Array.isArray(queue?.diversions) ? queue.diversions : [];
  V.serverNow = queue?.at || null;
  renderDiversions();
}

function result(text) {
  const node = $("diversion-result");
  node.textContent = text;
  node.hidden = false;
}

async function end(d, button) {
  button.disabled = true;
  $("diversion-error").hidden = true;
  try {
    await api(`/api/v1/diversions/${encodeURIComponent(d.id)}`, { method: "DELETE" });
    result(t("diversion_ended", { what: what(d) }));
  } catch (err) {
    if (err.status === 401) {
      V.onExpired();
      return;
    }
    if (err.status !== 404) {
      button.disabled = false;
      showError(err);
      return;
    }
    result(t("diversion_already_ended"));
  }
  V.ended.set(d.id, Date.now());
  renderDiversions();
  // The button is gone: the result, read out, is where the keyboard continues.
  $("diversion-result").focus();
}

function showError(err) {
  const node = $("diversion-error");
  let text;
  if (err.code === "invalid") {
    const fields = err.fields || {};
    text = "minutes" in fields ? t("diversion_error_minutes") : "body" in fields ? t("diversion_error_target") : t("route_error_invalid", { fields: t("route_field_choice") });
  } else if (err.code === "forbidden" || err.code === "csrf") text = t("action_forbidden");
  else if (err.code === "network") text = t("network_error");
  else text = t("error_generic", { message: err.message });
  node.textContent = text;
  node.hidden = false;
}

async function create(event) {
  event.preventDefault();
  const error = $("diversion-error");
  error.hidden = true;
  const region = $("diversion-region").value || null;
  const language = $("diversion-language").value || null;
  const minutesField = $("diversion-minutes");
  const raw = minutesField.value.trim();
  const minutes = Number(raw);
  for (const id of ["diversion-region", "diversion-language", "diversion-minutes"]) $(id).removeAttribute("aria-invalid");
  let problem = null;
  if (!region && !language) {
    problem = t("diversion_error_target");
    $("diversion-region").setAttribute("aria-invalid", "true");
    $("diversion-language").setAttribute("aria-invalid", "true");
  } else if (!/^\d+$/.test(raw) || minutes < 1 || minutes > MAX_MINUTES) {
    problem = t("diversion_error_minutes");
    minutesField.setAttribute("aria-invalid", "true");
  }
  if (problem) {
    error.textContent = problem;
    error.hidden = false;
    (minutesField.getAttribute("aria-invalid") ? minutesField : $("diversion-region")).focus();
    return;
  }
  const button = $("diversion-submit");
  button.disabled = true;
  try {
    const made = await api("/api/v1/diversions", { method: "POST", body: { region, language, to: "AT", minutes } });
    V.made.set(made.id, { diversion: made, at: Date.now() });
    renderDiversions();
    result(t("diversion_created", { what: what(made), t: untilAt(made) }));
    $("diversion-region").value = "";
    $("diversion-language").value = "";
  } catch (err) {
    if (err.status === 401) V.onExpired();
    else showError(err);
  } finally {
    button.disabled = false;
  }
}

export function fillDiversionOptions() {
  if (!ref.data) return;
  const keep = (select, options) => {
    const value = select.value;
    select.replaceChildren(...options);
    select.value = value;
  };
  keep($("diversion-region"), [
    el("option", { value: "", text: `— ${t("diversion_any_region")} —` }),
    ...ref.data.regions.map((r) => el("option", { value: r.code, text: name("regions", r.code) })),
  ]);
  keep($("diversion-language"), [
    el("option", { value: "", text: `— ${t("diversion_any_language")} —` }),
    ...ref.data.languages.map((l) => el("option", { value: l.code, lang: l.code, text: `${name("languages", l.code)} (${l.native})` })),
  ]);
}

export function relabelDiversions() {
  fillDiversionOptions();
  renderDiversions();
}

export function initDiversions({ onExpired }) {
  V.onExpired = onExpired;
  $("diversion-form").addEventListener("submit", create);
  fillDiversionOptions();
}
