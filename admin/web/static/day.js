// The supervisor's day (/supervisor/day, issue 17): today or this week in figures from
// GET /api/v1/supervisor/day, a chart of waiting and answered drawn in the page as SVG (no outside
// service), the same numbers as a table, and the CSV (with the small-count rule) to download.

import { $, announce, api, applyStatic, cap, clock, duration, el, i18n, initPage, loadReference, locale, name, regionName, setupAuth, t } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 60_000;
const D = { period: "day", data: null, timer: null };
let auth;

function url(format) {
  const params = new URLSearchParams({ period: D.period });
  if (format) params.set("format", format);
  return `/api/v1/supervisor/day?${params}`;
}

async function load() {
  try {
    D.data = await api(url());
  } catch (err) {
    if (err.status === 401) auth.expired();
    return;
  }
  render();
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

function text(tag, attrs, content) {
  const node = svg(tag, attrs);
  node.textContent = content;
  return node;
}

function heading(data) {
  const day = new Date(`${data.date}T12:00:00Z`);
  const fmt = new Intl.DateTimeFormat(locale(), { weekday: "long", day: "numeric", month: "long", timeZone: "Europe/Oslo" });
  if (data.period === "day") return t("day_heading_day", { date: fmt.format(day) });
  const end = new Date(day.getTime() + 6 * 86400_000);
  const short = new Intl.DateTimeFormat(locale(), { day: "numeric", month: "long", timeZone: "Europe/Oslo" });
  return t("day_heading_week", { from: short.format(day), to: short.format(end) });
}

function kpis(totals, feedback) {
  const items = [
    ["day_started", totals.started],
    ["day_answered", totals.answered],
    ["day_abandoned", totals.abandoned_waiting],
    ["day_waiting_now", totals.waiting_now],
    ["day_silent", totals.silent],
    ["day_p50", duration(totals.wait_p50_s)],
    ["day_p90", duration(totals.wait_p90_s)],
    ["day_feedback_yes", feedback ? feedback.yes : "–"],
    ["day_feedback_no", feedback ? feedback.no : "–"],
  ];
  $("day-kpis").replaceChildren(...items.map(([key, value]) => el("div", { className: "kpi" }, el("dt", { text: t(key) }), el("dd", { text: String(value) }))));
}

function barLabel(bar, unit) {
  if (unit === "hour") return t("day_hour", { h: bar.label });
  const day = new Date(`${bar.label}T12:00:00Z`);
  return new Intl.DateTimeFormat(locale(), { weekday: "short", day: "numeric", timeZone: "Europe/Oslo" }).format(day);
}

/** Waiting (the most at one moment) and answered, per hour or day, as two bars side by side. */
function chart(data) {
  const bars = data.chart.bars;
  const unit = data.chart.unit;
  const width = 760;
  const height = 260;
  const left = 36;
  const bottom = 34;
  const top = 12;
  const plot = height - bottom - top;
  const top1 = Math.max(1, ...bars.map((b) => Math.max(b.waiting, b.answered)));
  const step = (width - left - 8) / Math.max(1, bars.length);
  const barWidth = Math.max(3, step / 2 - 2);
  const y = (v) => top + plot - (v / top1) * plot;
  const busiest = bars.reduce((best, b) => (b.waiting > (best?.waiting ?? -1) ? b : best), null);
  const answered = bars.reduce((sum, b) => sum + b.answered, 0);
  const desc = busiest && busiest.waiting > 0 ? t("day_chart_desc", { n: busiest.waiting, when: barLabel(busiest, unit), answered }) : t("day_chart_desc_none", { answered });
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-svg-title chart-svg-desc", class: "day-chart-svg" });
  root.append(text("title", { id: "chart-svg-title" }, t("day_chart_title")), text("desc", { id: "chart-svg-desc" }, desc));
  const ticks = [...new Set([0, Math.ceil(top1 / 2), top1])];
  for (const v of ticks) {
    root.append(svg("line", { x1: left, x2: width - 4, y1: y(v), y2: y(v), class: "grid" }));
    root.append(text("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, String(v)));
  }
  bars.forEach((bar, i) => {
    const x = left + i * step + 2;
    root.append(svg("rect", { x, y: y(bar.waiting), width: barWidth, height: Math.max(0, top + plot - y(bar.waiting)), class: "bar-waiting" }));
    root.append(svg("rect", { x: x + barWidth + 1, y: y(bar.answered), width: barWidth, height: Math.max(0, top + plot - y(bar.answered)), class: "bar-answered" }));
    const every = unit === "hour" ? 3 : 1;
    if (i % every === 0) root.append(text("text", { x: x + barWidth, y: height - bottom + 16, "text-anchor": "middle", class: "tick" }, unit === "hour" ? bar.label : barLabel(bar, unit)));
  });
  const legend = el(
    "ul",
    { className: "day-legend" },
    el("li", {}, el("span", { className: "swatch swatch-waiting", "aria-hidden": "true" }), t("day_legend_waiting")),
    el("li", {}, el("span", { className: "swatch swatch-answered", "aria-hidden": "true" }), t("day_legend_answered")),
  );
  $("day-chart").replaceChildren(root, legend);
  $("chart-heading").textContent = t(unit === "hour" ? "day_chart_heading_hours" : "day_chart_heading_days");
  $("chart-table-caption").textContent = t("day_chart_title");
  $("chart-table").querySelector("thead").replaceChildren(
    el("tr", {}, el("th", { scope: "col", text: t(unit === "hour" ? "day_col_hour" : "day_col_day") }), el("th", { scope: "col", text: t("day_legend_waiting") }), el("th", { scope: "col", text: t("day_legend_answered") })),
  );
  $("chart-table").querySelector("tbody").replaceChildren(
    ...bars.map((b) => el("tr", {}, el("th", { scope: "row", text: barLabel(b, unit) }), el("td", { text: String(b.waiting) }), el("td", { text: String(b.answered) }))),
  );
}

function keyName(grouping, key) {
  if (key === "none") return t(grouping === "service" ? "day_unanswered" : "unknown_region");
  if (grouping === "region") return regionName(key);
  if (grouping === "language") return cap(name("languages", key));
  return key;
}

function groupTable(id, grouping, rows) {
  const cols = ["day_started", "day_answered", "day_abandoned", "day_waiting_now", "day_silent", "day_p50", "day_p90"];
  $(id).replaceChildren(
    el("caption", { className: "visually-hidden", text: t(`day_by_${grouping}`) }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t(`day_col_${grouping}`) }), ...cols.map((c) => el("th", { scope: "col", text: t(c) })))),
    el(
      "tbody",
      {},
      ...(rows.length
        ? rows.map((r) =>
            el(
              "tr",
              {},
              el("th", { scope: "row", text: keyName(grouping, r.key) }),
              ...[r.started, r.answered, r.abandoned_waiting, r.waiting_now, r.silent].map((v) => el("td", { text: String(v) })),
              el("td", { text: duration(r.wait_p50_s) }),
              el("td", { text: duration(r.wait_p90_s) }),
            ),
          )
        : [el("tr", {}, el("td", { colspan: String(cols.length + 1), text: t("day_none") }))]),
    ),
  );
}

function adviserTable(rows) {
  $("day-advisers").replaceChildren(
    el("caption", { className: "visually-hidden", text: t("day_advisers") }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t("day_col_adviser") }), el("th", { scope: "col", text: t("day_handled") }), el("th", { scope: "col", text: t("day_active") }))),
    el(
      "tbody",
      {},
      ...(rows.length
        ? rows.map((a) => el("tr", {}, el("th", { scope: "row", text: a.name || a.id }), el("td", { text: String(a.handled) }), el("td", { text: duration(a.active_s) })))
        : [el("tr", {}, el("td", { colspan: "3", text: t("day_none") }))]),
    ),
  );
}

function render() {
  applyStatic();
  $("period-day").setAttribute("aria-pressed", String(D.period === "day"));
  $("period-week").setAttribute("aria-pressed", String(D.period === "week"));
  $("day-csv").href = url("csv");
  const data = D.data;
  if (!data) return;
  $("day-heading").textContent = heading(data);
  $("day-updated").textContent = t("day_updated", { t: clock(data.to) });
  kpis(data.totals, data.feedback);
  chart(data);
  groupTable("by-service", "service", data.by.service);
  groupTable("by-region", "region", data.by.region);
  groupTable("by-language", "language", data.by.language);
  adviserTable(data.advisers);
}

function choose(period) {
  if (D.period === period) return;
  D.period = period;
  render();
  load().then(() => announce(heading(D.data)));
}

async function init() {
  initPage();
  try {
    await loadReference();
  } catch {
    /* codes instead of names */
  }
  i18n.onChange(render);
  $("period-day").addEventListener("click", () => choose("day"));
  $("period-week").addEventListener("click", () => choose("week"));
  auth = setupAuth({
    role: "supervisor",
    wrongRoleKey: "login_wrong_role_supervisor",
    onReady() {
      load();
      clearInterval(D.timer);
      D.timer = setInterval(() => {
        if (!document.hidden) load();
      }, REFRESH_MS);
    },
    onLoggedOut() {
      clearInterval(D.timer);
      D.data = null;
    },
  });
  await auth.check();
  document.documentElement.classList.add("ready");
}

init();
