// Statistics on the admin page: the yearly summary (a page that prints well), the published figures as
// CSV for a spreadsheet, and a service's own report of its own categories (never published).
// The statistics need the supervisor role; an admin without it is told so.

import { $, api, el, i18n, name, t } from "./common.js";
import { errorText } from "./admin-forms.js";

const SERVICES = ["MR", "AT", "IR", "KT"];
const S = { user: null, report: null };

function thisYear() {
  return Number(new Intl.DateTimeFormat("en", { year: "numeric", timeZone: "Europe/Oslo" }).format(new Date()));
}

function links(year) {
  const lang = i18n.lang === "en" ? "&lang=en" : "";
  return [
    [`/admin/summary?year=${year}`, "stats_summary_page", null],
    [`/api/v1/stats/summary?year=${year}&format=csv${lang}`, "stats_summary_csv", `nora-summary-${year}.csv`],
    [`/api/v1/stats/cases?period=${year}&by=category%2Cservice&format=csv${lang}`, "stats_cases_csv", `nora-cases-${year}.csv`],
  ];
}

export function setupStats(user) {
  S.user = user;
  renderStats();
}

export function renderStats() {
  const slot = $("statistics-slot");
  if (!S.user) return;
  if (!S.user.roles.includes("supervisor")) {
    slot.replaceChildren(el("p", { className: "muted", text: t("stats_need_supervisor") }));
    return;
  }
  const year = el("select", { id: "stats-year" });
  for (let y = thisYear(); y >= thisYear() - 5; y -= 1) year.append(el("option", { value: String(y), text: String(y) }));
  year.value = S.report?.year || String(thisYear());
  const list = el("ul", { className: "page-list", id: "stats-links" });
  const fill = () => {
    list.replaceChildren(
      ...links(year.value).map(([href, key, file]) => el("li", {}, el("a", { href, text: t(key, { year: year.value }), ...(file ? { download: file } : {}) }))),
    );
  };
  year.addEventListener("change", fill);
  fill();

  const service = el("select", { id: "report-service" }, ...SERVICES.map((s) => el("option", { value: s, text: `${s} – ${name("services", s)}` })));
  service.value = S.report?.service || "MR";
  const show = el("button", { type: "submit", className: "button button-secondary", text: t("report_show") });
  const form = el(
    "form",
    { className: "stats-form", id: "report-form", novalidate: true },
    el("div", { className: "field" }, el("label", { for: "report-service", text: t("report_service") }), service),
    el("div", { className: "form-actions" }, show),
  );
  const error = el("p", { className: "form-error", role: "alert", hidden: true });
  const result = el("div", { id: "report-result" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const body = await api(`/api/v1/stats/service?service=${service.value}&period=${year.value}`);
      S.report = { ...body, year: year.value };
      renderReport(result);
    } catch (err) {
      error.textContent = errorText(err);
      error.hidden = false;
    }
  });
  slot.replaceChildren(
    el("div", { className: "field year-field" }, el("label", { for: "stats-year", text: t("stats_year") }), year),
    el("p", { className: "muted", text: t("stats_links_intro") }),
    list,
    el("h3", { id: "report-heading", text: t("report_heading") }),
    el("p", { className: "muted", text: t("report_intro") }),
    form,
    error,
    result,
  );
  renderReport(result);
}

function renderReport(node) {
  const r = S.report;
  if (!r) {
    node.replaceChildren();
    return;
  }
  const caption = t("report_caption", { service: r.service, period: r.period });
  const rows = r.categories.map((c) =>
    el("tr", {}, el("th", { scope: "row", text: c.name?.[i18n.lang] || c.name?.nb || c.category }), el("td", { className: "num", text: String(c.count) })),
  );
  node.replaceChildren(
    el("p", { className: "notice notice-info", text: t("report_internal") }),
    el("p", { role: "status", text: t("report_totals", { n: r.registrations, cases: r.cases }) }),
    r.categories.length
      ? el(
          "div",
          { className: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "report-heading" },
          el(
            "table",
            { id: "report-table" },
            el("caption", { text: caption }),
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t("report_category") }), el("th", { scope: "col", className: "num", text: t("report_count") }))),
            el("tbody", {}, ...rows),
          ),
        )
      : el("p", { className: "muted", text: t("report_none", { service: r.service }) }),
  );
}
