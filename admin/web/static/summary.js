// The yearly summary as a page that prints well (/admin/summary?year=2026, role supervisor): per
// service, the cases per main category with their share, then the cases, the inquiries and the
// inquiries per channel, as GET /api/v1/stats/summary publishes them (small counts suppressed).

import { $, api, el, i18n, initPage, loadReference, name, setupAuth, t } from "./common.js";

const Y = { body: null, year: null };

function thisYear() {
  return Number(new Intl.DateTimeFormat("en", { year: "numeric", timeZone: "Europe/Oslo" }).format(new Date()));
}

function shown(count) {
  return count === null || count === undefined ? "–" : String(count);
}

function percent(value) {
  return new Intl.NumberFormat(i18n.lang === "nb" ? "nb-NO" : "en-GB", { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value);
}

function label(kind, code, names) {
  if (names && (names[i18n.lang] || names.nb)) return names[i18n.lang] || names.nb;
  return code === null ? t("no_category") : name(kind, code);
}

function cell(c) {
  const text = shown(c.count);
  return c.percent === null || c.percent === undefined ? text : `${text} (${percent(c.percent)} %)`;
}

function render() {
  const b = Y.body;
  if (!b) return;
  const services = b.services;
  $("summary-heading").textContent = t("summary_heading", { year: b.year });
  $("summary-intro").textContent = t("summary_intro", { year: b.year, m: b.suppressed_below });
  const head = el("tr", {}, el("th", { scope: "col", text: t("by_category") }), ...services.map((s) => el("th", { scope: "col", className: "num", text: s.service, title: label("services", s.service, s.name) })));
  const codes = services[0]?.categories.map((c) => c.category) || [];
  const body = codes.map((code, i) =>
    el("tr", {}, el("th", { scope: "row", text: label("categories", code, services[0].categories[i].name) }), ...services.map((s) => el("td", { className: "num", text: cell(s.categories[i]) }))),
  );
  const foot = [
    ["summary_cases", (s) => shown(s.cases)],
    ["summary_inquiries", (s) => shown(s.inquiries)],
    ["summary_all_inquiries", (s) => shown(s.all_inquiries)],
  ].map(([key, value], i) => el("tr", { className: i === 0 ? "row-strong" : "" }, el("th", { scope: "row", text: t(key) }), ...services.map((s) => el("td", { className: "num", text: value(s) }))));
  const channels = (services[0]?.channels || []).map((c, i) => [c, services.map((s) => s.channels[i].count)]).filter(([, counts]) => counts.some((n) => n !== 0));
  const channelRows = channels.map(([c, counts]) =>
    el("tr", {}, el("th", { scope: "row", text: t("summary_channel", { channel: label("channels", c.channel, c.name) }) }), ...counts.map((n) => el("td", { className: "num", text: shown(n) }))),
  );
  $("summary-tables").replaceChildren(
    el(
      "div",
      { className: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "summary-heading" },
      el(
        "table",
        { id: "summary-table", className: "report-table" },
        el("caption", { text: t("summary_caption", { year: b.year }) }),
        el("thead", {}, head),
        el("tbody", {}, ...body),
        el("tfoot", {}, ...foot, ...channelRows),
      ),
    ),
    el("dl", { className: "report-legend" }, ...services.map((s) => el("div", {}, el("dt", { text: s.service }), el("dd", { text: label("services", s.service, s.name) })))),
  );
  const made = new Intl.DateTimeFormat(i18n.lang === "nb" ? "nb-NO" : "en-GB", { dateStyle: "long", timeStyle: "short" }).format(new Date(b.generated_at));
  $("summary-foot").textContent = t("summary_foot", { when: made });
}

async function load() {
  $("summary-error").hidden = true;
  const year = $("summary-year").value;
  const lang = i18n.lang === "en" ? "&lang=en" : "";
  $("summary-csv").href = `/api/v1/stats/summary?year=${year}&format=csv${lang}`;
  history.replaceState(null, "", `?year=${year}`);
  try {
    Y.body = await api(`/api/v1/stats/summary?year=${year}`);
    render();
  } catch (err) {
    $("summary-error").textContent = t("error_generic", { message: err.message });
    $("summary-error").hidden = false;
  }
}

function start(user) {
  const links = [["/admin", "page_admin", "admin"], ["/supervisor", "page_supervisor", "supervisor"]];
  $("page-links").replaceChildren(...links.filter(([, , role]) => user.roles.includes(role)).map(([href, key]) => el("a", { href, text: t(key) })));
  load();
}

async function init() {
  initPage();
  const asked = Number(new URLSearchParams(location.search).get("year"));
  const select = $("summary-year");
  for (let y = thisYear(); y >= thisYear() - 10; y -= 1) select.append(el("option", { value: String(y), text: String(y) }));
  select.value = String(asked >= 2000 && asked <= 2100 ? asked : thisYear());
  if (select.value === "") select.append(el("option", { value: String(asked), text: String(asked), selected: true }));
  select.addEventListener("change", load);
  $("print-button").addEventListener("click", () => window.print());
  i18n.onChange(() => {
    render();
    if (Y.body) $("summary-csv").href = `/api/v1/stats/summary?year=${Y.body.year}&format=csv${i18n.lang === "en" ? "&lang=en" : ""}`;
  });
  try {
    await loadReference();
  } catch {
    /* labels fall back to codes */
  }
  const auth = setupAuth({ role: "supervisor", wrongRoleKey: "login_wrong_role_supervisor", onReady: start, onLoggedOut: () => {} });
  await auth.check();
  document.documentElement.classList.add("ready");
}

init();
