// nora-chat supervisor dashboard: live queue from /ws/supervisor (a `queue` frame at least every 2 s)
// and the published statistics of the case register with small counts suppressed.

import {
  $, Socket, announce, api, applyStatic, clock, duration, el, i18n, initPage, loadReference, name,
  regionName, setupAuth, showConnection, t,
} from "./common.js";

const GROUPINGS = ["category", "service", "region", "language", "audience", "contact", "age_group", "gender", "month", "is_case"];
const DEFAULT_BY = ["category", "service"];

const D = { socket: null, queue: null, lastWaiting: null, stats: null };
let auth;

// ------------------------------------------------------------------ live queue

function cell(text, props = {}) {
  return el("td", props, text);
}

function renderQueue() {
  const q = D.queue;
  if (!q) return;
  const waiting = q.waiting || [];
  const longest = waiting.reduce((max, w) => Math.max(max, w.waited_s || 0), 0);
  const advisers = q.advisers || [];
  const available = advisers.filter((a) => a.status === "available").length;
  const online = advisers.filter((a) => a.status !== "offline").length;

  $("updated-at").textContent = t("updated_at", { t: clock(q.at) });
  $("kpi-waiting").textContent = String(waiting.length);
  $("kpi-waiting-box").classList.toggle("kpi-alert", waiting.some((w) => w.urgent));
  $("kpi-longest").textContent = waiting.length ? duration(longest) : t("none");
  $("kpi-active").textContent = String(q.active_conversations ?? 0);
  $("kpi-available").textContent = t("kpi_available_value", { n: available, m: online });

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

  $("waiting-table").querySelector("tbody").replaceChildren(
    ...waiting.map((w) =>
      el(
        "tr",
        { className: w.urgent ? "row-urgent" : "", dataset: { conversation: w.conversation_id } },
        cell(w.urgent ? el("span", { className: "badge badge-urgent", text: `⚠ ${t("urgent")}` }) : el("span", { className: "muted", text: t("no") })),
        cell(regionName(w.region)),
        cell(name("languages", w.language)),
        cell(name("audiences", w.audience)),
        cell(duration(w.waited_s), { className: "num" }),
        cell(t(`tier_${w.tier}`) !== `tier_${w.tier}` ? t(`tier_${w.tier}`) : String(w.tier)),
      ),
    ),
  );
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

  // Announce changes in the number waiting, not every refresh.
  if (D.lastWaiting !== waiting.length) {
    if (D.lastWaiting !== null) {
      const node = $("queue-announcer");
      node.textContent = t("queue_announce", { n: waiting.length, t: waiting.length ? duration(longest) : t("none") });
    }
    D.lastWaiting = waiting.length;
  }
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
}

function start() {
  D.socket = new Socket("/ws/supervisor", {
    onOpen() {},
    onFrame(frame) {
      if (frame.type === "queue") {
        D.queue = frame;
        renderQueue();
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
