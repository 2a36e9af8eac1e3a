// Opening hours and closed dates on the admin page (GET/PUT/DELETE /api/v1/hours). One period per
// weekday, or open around the clock; closed dates with a label. Saved hours are in force on every
// instance within seconds; "back to the settings" returns to NORA_OPENING_HOURS and NORA_CLOSED_DATES.

import { $, api, el, i18n, t } from "./common.js";
import { clearErrors, dateInput, formError, notice, showErrors, textInput, when } from "./admin-forms.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const H = { body: null, closed: [] };

export async function loadHours() {
  H.body = await api("/api/v1/hours");
  H.closed = H.body.closed_dates.map((c) => ({ ...c }));
  renderHours();
}

function statusText(b) {
  const now = b.open_now ? t("hours_open_now") : b.next_opening ? t("hours_closed_until", { when: when(b.next_opening, i18n.lang) }) : t("hours_closed_now");
  const source = b.source === "settings" ? t("hours_from_settings") : t("hours_saved_by", { at: when(b.updated_at, i18n.lang), by: b.updated_by || t("none"), version: b.version });
  return [now, source];
}

function dayRows(weekly) {
  const byDay = {};
  for (const w of weekly || []) (byDay[w.day] ||= []).push(w);
  const rows = [];
  const extra = [];
  for (const day of DAYS) {
    const spans = byDay[day] || [];
    if (spans.length > 1) extra.push(t(`day_${day}`));
    const open = el("input", { type: "checkbox", id: `hours-${day}-open`, "aria-label": t("hours_day_open", { day: t(`day_${day}`) }) });
    // Open around the clock now: offer working days, 08:00-16:00, as the start of a weekly schedule.
    open.checked = weekly === null ? !["sat", "sun"].includes(day) : spans.length > 0;
    const from = el("input", { type: "time", id: `hours-${day}-from`, value: spans[0]?.open || "08:00", "aria-label": t("hours_day_from", { day: t(`day_${day}`) }) });
    const to = el("input", { type: "time", id: `hours-${day}-to`, value: spans[0]?.close || "16:00", "aria-label": t("hours_day_to", { day: t(`day_${day}`) }) });
    const sync = () => {
      from.disabled = !open.checked;
      to.disabled = !open.checked;
    };
    open.addEventListener("change", sync);
    sync();
    rows.push(el("tr", { dataset: { day } }, el("th", { scope: "row", text: t(`day_${day}`) }), el("td", {}, open), el("td", { dataset: { field: `day.${day}` } }, from), el("td", {}, to)));
  }
  return { rows, extra };
}

function closedList() {
  const list = el("ul", { className: "closed-list", "aria-label": t("hours_closed_list") });
  H.closed.forEach((c, i) => {
    const remove = el("button", { type: "button", className: "button button-quiet", text: t("hours_remove"), "aria-label": t("hours_remove_named", { date: c.date }) });
    remove.addEventListener("click", () => {
      H.closed.splice(i, 1);
      renderClosed();
      $("hours-new-date").focus();
    });
    list.append(el("li", {}, el("time", { datetime: c.date, text: formatDay(c.date) }), c.label ? el("span", { text: ` – ${c.label}` }) : null, " ", remove));
  });
  if (!H.closed.length) list.append(el("li", { className: "muted", text: t("hours_no_closed") }));
  return list;
}

function formatDay(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(i18n.lang === "nb" ? "nb-NO" : "en-GB", { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, d)));
}

function renderClosed() {
  $("hours-closed-slot").replaceChildren(closedList());
}

export function renderHours() {
  const b = H.body;
  if (!b) return;
  $("hours-intro").textContent = t("hours_intro");
  const [now, source] = statusText(b);
  const form = el("form", { id: "hours-form", className: "inline-form", novalidate: true });
  const always = el("input", { type: "checkbox", id: "hours-always" });
  always.checked = b.weekly === null;
  const { rows, extra } = dayRows(b.weekly);
  const table = el(
    "table",
    { id: "hours-table", className: "hours-table" },
    el("caption", { className: "visually-hidden", text: t("hours_week") }),
    el("thead", {}, el("tr", {}, ...["hours_col_day", "hours_col_open", "hours_col_from", "hours_col_to"].map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, ...rows),
  );
  const week = el("div", { className: "table-wrap field", id: "hours-week", dataset: { field: "weekly" } }, table, el("p", { className: "field-error", id: "hours-week-error", hidden: true }));
  week.hidden = always.checked;
  always.addEventListener("change", () => {
    week.hidden = always.checked;
  });
  const newDate = dateInput();
  newDate.id = "hours-new-date";
  const newLabel = textInput("", { id: "hours-new-label", maxlength: "100" });
  const add = el("button", { type: "button", className: "button button-secondary", text: t("hours_add_closed") });
  const addError = el("p", { className: "field-error", id: "hours-add-error", hidden: true });
  add.addEventListener("click", () => {
    addError.hidden = true;
    if (!newDate.value) {
      addError.textContent = t("hours_need_date");
      addError.hidden = false;
      newDate.focus();
      return;
    }
    if (H.closed.some((c) => c.date === newDate.value)) {
      addError.textContent = t("hours_date_twice");
      addError.hidden = false;
      newDate.focus();
      return;
    }
    H.closed.push({ date: newDate.value, label: newLabel.value.trim() });
    H.closed.sort((a, c) => a.date.localeCompare(c.date));
    newDate.value = "";
    newLabel.value = "";
    renderClosed();
    notice(t("hours_closed_added"));
    newDate.focus();
  });
  const save = el("button", { type: "submit", className: "button button-primary", text: t("hours_save") });
  const actions = el("div", { className: "form-actions" }, save);
  if (b.source === "database") {
    const reset = el("button", { type: "button", className: "button button-quiet", text: t("hours_reset") });
    reset.addEventListener("click", async () => {
      try {
        H.body = await api("/api/v1/hours", { method: "DELETE" });
        H.closed = H.body.closed_dates.map((c) => ({ ...c }));
        renderHours();
        notice(t("hours_reset_done"));
      } catch (err) {
        showErrors(form, err);
      }
    });
    actions.append(reset);
  }
  form.append(
    formError(),
    el("div", { className: "choice" }, always, el("label", { for: "hours-always", text: t("hours_always") })),
    ...(extra.length ? [el("p", { className: "notice notice-info", text: t("hours_several", { days: extra.join(", ") }) })] : []),
    week,
    el("fieldset", { className: "field", dataset: { field: "closed_dates" } },
      el("legend", { text: t("hours_closed_heading") }),
      el("p", { className: "hint", text: t("hours_closed_hint") }),
      el("div", { id: "hours-closed-slot" }),
      el("div", { className: "form-grid closed-add" },
        el("div", { className: "field" }, el("label", { for: "hours-new-date", text: t("hours_new_date") }), newDate),
        el("div", { className: "field" }, el("label", { for: "hours-new-label", text: t("hours_new_label") }), newLabel),
        el("div", { className: "field field-button" }, add)),
      addError,
      el("p", { className: "field-error", id: "hours-closed-error", hidden: true })),
    actions,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const weekly = always.checked
      ? null
      : DAYS.filter((d) => $(`hours-${d}-open`).checked).map((d) => ({ day: d, open: $(`hours-${d}-from`).value, close: $(`hours-${d}-to`).value }));
    save.disabled = true;
    try {
      H.body = await api("/api/v1/hours", { method: "PUT", body: { weekly, closed_dates: H.closed } });
      H.closed = H.body.closed_dates.map((c) => ({ ...c }));
      renderHours();
      notice(t("hours_saved"));
    } catch (err) {
      // The server names a period by its place in the list sent: say which day it is.
      const messages = { weekly: t("hours_error_week"), closed_dates: t("hours_error_closed") };
      for (const name of Object.keys(err.fields || {})) {
        const match = name.match(/^weekly\.(\d+)\./);
        if (match && weekly?.[Number(match[1])]) messages[name] = t("hours_error_day", { day: t(`day_${weekly[Number(match[1])].day}`) });
      }
      showErrors(form, err, messages);
    } finally {
      save.disabled = false;
    }
  });
  $("hours-slot").replaceChildren(
    el("p", { className: "hours-status", id: "hours-status" }, el("strong", { text: now }), " ", el("span", { className: "muted", text: source })),
    form,
  );
  renderClosed();
}
