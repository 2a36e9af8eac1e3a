// nora-chat supervisor dashboard: live queue from /ws/supervisor (a `queue` frame at least every 2 s),
// the supervisor's actions on it (route a waiting conversation, diversions to AT, a notice to every
// adviser: route_dialog.js, diversions.js, notice_form.js) and the published statistics of the case
// register with small counts suppressed.

import {
  $, Socket, announce, api, applyStatic, clock, duration, el, i18n, initPage, loadReference, name,
  regionName, setupAuth, showConnection, t,
} from "./common.js";
import { initDiversions, relabelDiversions, updateDiversions } from "./diversions.js";
import { initNotice, relabelNotice } from "./notice_form.js";
import { initRoute, openRoute, relabelRoute, updateRoute } from "./route_dialog.js";

const GROUPINGS = ["category", "service", "channel", "region", "language", "audience", "contact", "age_group", "gender", "month", "is_case"];
const DEFAULT_BY = ["category", "service"];

const D = { socket: null, queue: null, lastWaiting: null, stats: null, rows: new Map() };
let auth;

// ------------------------------------------------------------------ live queue

function cell(text, props = {}) {
  return el("td", props, text);
}

/**
 * The adviser figures, from ``adviser_counts`` when they agree with the list shown beside them,
 * else counted from that list: the page never says "0 of 0" next to a listed adviser.
 */
function adviserCounts(q) {
  const advisers = q.advisers || [];
  const given = q.adviser_counts;
  if (given && given.signed_in === advisers.length) return given;
  const counts = { signed_in: advisers.length, available: 0, busy: 0, away: 0, offline: 0 };
  for (const a of advisers) if (a.status in counts) counts[a.status] += 1;
  return counts;
}

const cellSig = new WeakMap();

/** Replace a cell's content only when it changed (screen readers keep their place). */
function setCell(td, sig, make) {
  if (cellSig.get(td) === sig) return;
  cellSig.set(td, sig);
  td.replaceChildren(make());
}

function tierText(tier) {
  return t(`tier_${tier}`) !== `tier_${tier}` ? t(`tier_${tier}`) : String(tier);
}

function focusRouteButton(id) {
  const row = D.rows.get(id);
  if (row) row.routeButton.focus();
  else $("waiting-heading").focus();
}

function routed(text) {
  const node = $("route-result");
  node.textContent = text;
  node.hidden = false;
  node.focus();
}

function waitingRow(w) {
  const id = w.conversation_id;
  const button = el("button", { type: "button", className: "button button-secondary button-small route-button" });
  button.addEventListener("click", () => openRoute(id, () => focusRouteButton(id)));
  const row = el("tr", { dataset: { conversation: id } }, ...Array.from({ length: 7 }, () => el("td")), el("td", {}, button));
  row.routeButton = button;
  return row;
}

function updateWaitingRow(row, w, position) {
  const present = w.present !== false;
  row.className = [w.urgent ? "row-urgent" : "", present ? "" : "row-absent"].filter(Boolean).join(" ");
  const [urgent, region, language, audience, waited, tier, presence] = row.cells;
  setCell(urgent, `${w.urgent}|${i18n.lang}`, () =>
    w.urgent ? el("span", { className: "badge badge-urgent", text: `⚠ ${t("urgent")}` }) : el("span", { className: "muted", text: t("no") }),
  );
  region.textContent = regionName(w.region);
  language.textContent = name("languages", w.language);
  audience.textContent = name("audiences", w.audience);
  waited.className = "num";
  waited.textContent = duration(w.waited_s);
  tier.textContent = tierText(w.tier);
  setCell(presence, `${present}|${i18n.lang}`, () =>
    el(
      "span",
      { className: `presence-tag presence-tag-${present ? "yes" : "no"}` },
      el("span", { className: `dot dot-${present ? "available" : "offline"}`, "aria-hidden": "true" }),
      t(present ? "present_yes" : "present_no"),
    ),
  );
  const context = t("route_button_context", { n: position, region: regionName(w.region), language: name("languages", w.language) });
  setCell(row.routeButton, `${context}|${i18n.lang}`, () => {
    const label = document.createDocumentFragment();
    label.append(t("route_button"), el("span", { className: "visually-hidden", text: ` (${context})` }));
    return label;
  });
}

/** Rows are kept per conversation and moved only when the order changes, so focus stays put. */
function renderWaiting(waiting) {
  const tbody = $("waiting-table").querySelector("tbody");
  const keep = new Set(waiting.map((w) => w.conversation_id));
  for (const [id, row] of D.rows) {
    if (!keep.has(id)) {
      row.remove();
      D.rows.delete(id);
    }
  }
  let previous = null;
  waiting.forEach((w, index) => {
    let row = D.rows.get(w.conversation_id);
    if (!row) {
      row = waitingRow(w);
      D.rows.set(w.conversation_id, row);
    }
    updateWaitingRow(row, w, index + 1);
    const wanted = previous ? previous.nextSibling : tbody.firstChild;
    if (wanted !== row) {
      const focused = row.contains(document.activeElement) ? document.activeElement : null;
      tbody.insertBefore(row, wanted);
      focused?.focus();
    }
    previous = row;
  });
}

function renderQueue() {
  const q = D.queue;
  if (!q) return;
  const waiting = q.waiting || [];
  const longest = waiting.reduce((max, w) => Math.max(max, w.waited_s || 0), 0);
  const advisers = q.advisers || [];
  const counts = adviserCounts(q);
  const absent = waiting.filter((w) => w.present === false).length;

  $("updated-at").textContent = t("updated_at", { t: clock(q.at) });
  $("kpi-waiting").textContent = String(waiting.length);
  $("kpi-waiting-detail").textContent = absent ? t("kpi_waiting_absent", { n: absent }) : "";
  $("kpi-waiting-box").classList.toggle("kpi-alert", waiting.some((w) => w.urgent));
  $("kpi-longest").textContent = waiting.length ? duration(longest) : t("none");
  $("kpi-active").textContent = String(q.active_conversations ?? 0);
  $("kpi-available").textContent = t("kpi_available_value", { n: counts.available, m: counts.signed_in });
  $("kpi-available-detail").textContent = ["busy", "away", "offline"]
    .filter((status) => counts[status] > 0)
    .map((status) => t(`kpi_counts_${status}`, { n: counts[status] }))
    .join(" · ");

  const groups = q.by_region_language || [];
  $("by-region-table").querySelector("tbody").replaceChildren(
    ...groups.map((g) =>
      el(
        "tr",
        {},
        el("th", { scope: "row", text: regionName(g.region) }),
        cell(name("languages", g.language)),
        cell(String(g.waiting), { className: "num" }),
        cell(duration(g.longest_wait_s), { className: "num" }),
      ),
    ),
  );
  $("by-region-table").hidden = groups.length === 0;
  $("by-region-empty").hidden = groups.length > 0;

  renderWaiting(waiting);
  $("waiting-table").hidden = waiting.length === 0;
  $("waiting-empty").hidden = waiting.length > 0;

  $("advisers-table").querySelector("tbody").replaceChildren(
    ...advisers.map((a) =>
      el(
        "tr",
        {},
        el("th", { scope: "row", text: a.name || a.id }),
        cell(a.service),
        cell(el("span", { className: `adviser-status status-${a.status}` }, el("span", { className: `dot dot-${a.status}`, "aria-hidden": "true" }), t(`adviser_status_${a.status}`))),
        cell(`${a.active} / ${a.capacity}`, { className: "num" }),
      ),
    ),
  );
  $("advisers-table").hidden = advisers.length === 0;
  $("advisers-empty").hidden = advisers.length > 0;

  renderLeftMessages(q.left_messages || []);

  // Announce changes in the number waiting, not every refresh.
  if (D.lastWaiting !== waiting.length) {
    if (D.lastWaiting !== null) {
      const node = $("queue-announcer");
      node.textContent = t("queue_announce", { n: waiting.length, t: waiting.length ? duration(longest) : t("none") });
    }
    D.lastWaiting = waiting.length;
  }
}

/** Messages left while the chat was closed that nobody has answered yet, oldest first, with their age. */
function renderLeftMessages(items) {
  $("left-table").querySelector("tbody").replaceChildren(
    ...items.map((m) =>
      el(
        "tr",
        { dataset: { left: m.id } },
        cell(regionName(m.region)),
        cell(name("languages", m.language)),
        cell(name("audiences", m.audience)),
        cell(String(m.count), { className: "num" }),
        cell(duration(m.waited_s), { className: "num" }),
      ),
    ),
  );
  $("left-table").hidden = items.length === 0;
  $("left-empty").hidden = items.length > 0;
}

// ------------------------------------------------------------------ statistics

function year() {
  return new Date().getFullYear();
}

function renderByChoices() {
  const box = $("stats-by");
  const chosen = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  const initial = box.children.length === 0;
  box.replaceChildren(
    ...GROUPINGS.map((by) => {
      const id = `stats-by-${by}`;
      return el(
        "div",
        { className: "choice" },
        el("input", { type: "checkbox", id, name: "by", value: by, checked: initial ? DEFAULT_BY.includes(by) : chosen.has(by) }),
        el("label", { for: id, text: t(`by_${by}`) }),
      );
    }),
  );
}

function statsParams() {
  const params = new URLSearchParams();
  const from = $("stats-from").value;
  const to = $("stats-to").value;
  if (from) params.set("from", from);
  if (to) params.set("to", to);
  const by = [...$("stats-by").querySelectorAll("input:checked")].map((i) => i.value);
  if (by.length) params.set("by", by.join(","));
  if ($("stats-count").value === "cases") params.set("count", "cases");
  return params;
}

function updateCsvLink() {
  const params = statsParams();
  params.set("format", "csv");
  $("stats-csv").href = `/api/v1/stats/cases?${params}`;
}

function valueLabel(by, value) {
  if (value === null || value === undefined || value === "") return by === "category" ? t("no_category") : t("none");
  switch (by) {
    case "category":
      return name("categories", value);
    case "service":
      return name("services", value);
    case "channel":
      return name("channels", value);
    case "region":
      return regionName(value);
    case "language":
      return name("languages", value);
    case "audience":
      return name("audiences", value);
    case "contact":
      return name("contacts", value);
    case "age_group":
      return name("age_groups", value);
    case "gender":
      return name("genders", value);
    case "is_case":
      return value === true || value === "true" ? t("yes") : t("no");
    default:
      return String(value);
  }
}

async function loadStats(event) {
  event?.preventDefault();
  const error = $("stats-error");
  error.hidden = true;
  $("stats-status").textContent = t("stats_loading");
  updateCsvLink();
  try {
    D.stats = await api(`/api/v1/stats/cases?${statsParams()}`);
    $("stats-status").textContent = "";
    renderStats();
  } catch (err) {
    $("stats-status").textContent = "";
    if (err.status === 401) {
      auth.expired();
      return;
    }
    const fields = err.fields ? Object.entries(err.fields).map(([k, v]) => `${k}: ${v}`).join("; ") : err.message;
    error.textContent = t("error_generic", { message: fields });
    error.hidden = false;
  }
}

function renderStats() {
  const s = D.stats;
  if (!s) return;
  const table = $("stats-table");
  const by = s.by || [];
  $("stats-caption").textContent = t("stats_summary", { from: s.from, to: s.to });
  table.querySelector("thead tr").replaceChildren(
    ...by.map((b) => el("th", { scope: "col", text: t(`by_${b}`) })),
    el("th", { scope: "col", className: "num", text: t("stats_count") }),
  );
  table.querySelector("tbody").replaceChildren(
    ...s.rows.map((row) =>
      el(
        "tr",
        {},
        ...by.map((b) => el("td", { text: valueLabel(b, row[b]) })),
        el("td", { className: "num", text: String(row.count) }),
      ),
    ),
  );
  table.querySelector("tfoot tr").replaceChildren(
    el("th", { scope: "row", colspan: String(Math.max(1, by.length)), text: t("stats_total") }),
    el("td", { className: "num", text: s.total === null ? t("stats_total_hidden") : String(s.total) }),
  );
  if (!by.length) table.querySelector("tbody").replaceChildren();
  table.hidden = s.rows.length === 0;
  if (!s.rows.length) $("stats-status").textContent = t("stats_empty");
}

// ------------------------------------------------------------------ start-up

function relabel() {
  renderByChoices();
  renderQueue();
  renderStats();
  relabelRoute();
  relabelDiversions();
  relabelNotice();
}

function start() {
  D.socket = new Socket("/ws/supervisor", {
    onOpen() {},
    onFrame(frame) {
      if (frame.type === "queue") {
        D.queue = frame;
        renderQueue();
        updateRoute(frame);
        updateDiversions(frame);
      }
    },
    onDown: () => auth.expired(),
    onState: showConnection,
  });
  D.socket.start();
  loadStats();
}

function stop() {
  D.socket?.stop();
  D.queue = null;
  D.lastWaiting = null;
  if ($("route-dialog").open) $("route-dialog").close();
  for (const row of D.rows.values()) row.remove();
  D.rows.clear();
  updateDiversions(null);
}

async function init() {
  initPage();
  i18n.onChange(relabel);
  $("stats-from").value = `${year()}-01-01`;
  $("stats-to").value = `${year()}-12-31`;
  renderByChoices();
  updateCsvLink();
  $("stats-form").addEventListener("submit", loadStats);
  $("stats-form").addEventListener("change", updateCsvLink);
  try {
    await loadReference();
  } catch {
    /* labels fall back to codes */
  }
  const expired = () => auth.expired();
  initRoute({ onExpired: expired, onDone: routed });
  initDiversions({ onExpired: expired });
  initNotice({ signedIn: () => (D.queue ? adviserCounts(D.queue).signed_in : 0), onExpired: expired });
  auth = setupAuth({
    role: "supervisor",
    wrongRoleKey: "login_wrong_role_supervisor",
    onReady: start,
    onLoggedOut: stop,
  });
  await auth.check();
  document.documentElement.classList.add("ready");
}

init();
