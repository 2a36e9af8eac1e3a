// Form building blocks of the admin page: labelled fields, groups of checkboxes, the errors a 422
// answer names (each next to its field, the first one focused), and the page's status notice.
// Every text goes in with textContent.

import { $, announce, el, t } from "./common.js";

let serial = 0;

/** A unique id prefix for one form, so two open forms never share an id. */
export function formId(prefix) {
  serial += 1;
  return `${prefix}-${serial}`;
}

/**
 * A labelled control. ``input`` is the control itself (its id is set here); ``hint`` an optional
 * text key. The error paragraph is filled by ``showErrors`` and tied to the control with
 * aria-describedby.
 */
export function field(id, labelKey, input, { hint = null, name = null, vars = {} } = {}) {
  input.id = id;
  if (name) input.dataset.field = name;
  const described = [];
  const box = el("div", { className: "field", dataset: { field: name || "" } }, el("label", { for: id, text: t(labelKey, vars) }), input);
  if (hint) {
    box.append(el("p", { className: "hint", id: `${id}-hint`, text: t(hint) }));
    described.push(`${id}-hint`);
  }
  const error = el("p", { className: "field-error", id: `${id}-error`, hidden: true });
  box.append(error);
  described.push(`${id}-error`);
  input.setAttribute("aria-describedby", described.join(" "));
  return box;
}

export function textInput(value = "", props = {}) {
  return el("input", { type: "text", value: value ?? "", ...props });
}

export function numberInput(value, { min, max }) {
  return el("input", { type: "number", inputmode: "numeric", min: String(min), max: String(max), value: value ?? "" });
}

export function dateInput(value = "") {
  return el("input", { type: "date", value: value || "" });
}

export function select(options, value, props = {}) {
  const node = el("select", props);
  for (const [code, label] of options) {
    const option = el("option", { value: code, text: label });
    if (code === (value ?? "")) option.selected = true;
    node.append(option);
  }
  return node;
}

/** A fieldset of checkboxes: ``options`` is [[code, label]…], ``chosen`` the codes ticked. */
export function checkboxes(id, legendKey, options, chosen, { name, columns = false, hint = null } = {}) {
  const set = new Set(chosen || []);
  const box = el("div", { className: `choices ${columns ? "choices-columns" : "choices-inline"}` });
  for (const [code, label] of options) {
    const inputId = `${id}-${code}`;
    const input = el("input", { type: "checkbox", id: inputId, value: code });
    input.checked = set.has(code);
    box.append(el("div", { className: "choice" }, input, el("label", { for: inputId, text: label })));
  }
  const legend = el("legend", { text: t(legendKey) });
  const fieldset = el("fieldset", { className: "field", id, dataset: { field: name || "" } }, legend);
  const described = [];
  if (hint) {
    fieldset.append(el("p", { className: "hint", id: `${id}-hint`, text: t(hint) }));
    described.push(`${id}-hint`);
  }
  fieldset.append(box, el("p", { className: "field-error", id: `${id}-error`, hidden: true }));
  described.push(`${id}-error`);
  fieldset.setAttribute("aria-describedby", described.join(" "));
  return fieldset;
}

export function ticked(fieldset) {
  return [...fieldset.querySelectorAll("input[type=checkbox]")].filter((i) => i.checked).map((i) => i.value);
}

/** Clear every error mark of ``form``. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const summary = form.querySelector(".form-error");
  if (summary) summary.hidden = true;
}

/**
 * Show a failed request on ``form``: each field the server named gets its message (the known field
 * messages in the page's language, else the server's own words), the first one is focused, and the
 * form's summary says what went wrong.
 */
export function showErrors(form, err, messages = {}) {
  clearErrors(form);
  const summary = form.querySelector(".form-error");
  let first = null;
  for (const [name, message] of Object.entries(err.fields || {})) {
    const base = name.split(".")[0];
    const holder = form.querySelector(`[data-field="${CSS.escape(name)}"]`) || form.querySelector(`[data-field="${CSS.escape(base)}"]`);
    if (!holder) continue;
    const box = holder.classList.contains("field") ? holder : holder.closest(".field");
    const error = box?.querySelector(".field-error");
    if (error) {
      error.textContent = messages[name] || messages[base] || message;
      error.hidden = false;
    }
    const control = holder.matches("input, select, textarea, fieldset") ? holder : box?.querySelector("input, select, textarea");
    control?.setAttribute("aria-invalid", "true");
    first = first || (control?.matches("fieldset") ? control.querySelector("input") : control);
  }
  if (summary) {
    summary.textContent = errorText(err);
    summary.hidden = false;
  }
  (first || summary)?.focus();
}

export function errorText(err) {
  const known = {
    invalid: "error_invalid",
    exists: "error_exists",
    last_admin: "error_last_admin",
    conflict: "error_conflict",
    forbidden: "error_forbidden",
    not_found: "error_not_found",
    network: "network_error",
    csrf_failed: "session_expired",
    unauthenticated: "session_expired",
  }[err.code];
  return known ? t(known) : t("error_generic", { message: err.message });
}

export function formError() {
  return el("p", { className: "form-error", role: "alert", tabindex: "-1", hidden: true });
}

/** The page's status line: said once to screen readers, shown until the next one. */
export function notice(text) {
  const node = $("admin-notice");
  node.textContent = text;
  node.hidden = false;
  announce(text);
}

/** Two-step confirmation in the page (no browser dialog): ``onYes`` runs after the second click. */
export function confirmBlock(textValue, yesKey, onYes, onNo) {
  const yes = el("button", { type: "button", className: "button button-danger", text: t(yesKey) });
  const no = el("button", { type: "button", className: "button button-quiet", text: t("cancel") });
  const block = el("div", { className: "confirm", role: "group", "aria-label": textValue }, el("p", { className: "confirm-text", text: textValue }), el("div", { className: "form-actions" }, yes, no));
  yes.addEventListener("click", onYes);
  no.addEventListener("click", onNo);
  return { block, focus: () => no.focus() };
}

/** A date as the reader's locale writes it, from an ISO timestamp. */
export function when(iso, lang) {
  if (!iso) return t("never");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(lang === "nb" ? "nb-NO" : "en-GB", { dateStyle: "short", timeStyle: "short" }).format(date);
}
