// Staff accounts on the admin page: the list, one form for a new account or a change, disable and
// enable with a confirmation, and a new password. Everything goes through /api/v1/users.

import { $, api, el, i18n, name, ref, t } from "./common.js";
import {
  checkboxes, clearErrors, confirmBlock, field, formError, formId, notice, numberInput, select, showErrors,
  textInput, ticked, when,
} from "./admin-forms.js";

const ROLES = ["adviser", "supervisor", "admin"];
const SERVICES = ["MR", "AT", "IR", "KT"];
const A = { users: [], open: null }; // open: {username|null} of the form on screen

const FIELD_MESSAGES = () => ({
  password: t("account_password_rule"),
  username: null,
});

function options(kind) {
  return (ref.data?.[kind] || []).map((e) => [e.code, name(kind, e.code)]);
}

function roleLabel(role) {
  return t(`role_${role}`);
}

export async function loadAccounts() {
  const data = await api("/api/v1/users");
  A.users = data.users;
  renderAccounts();
  return A.users;
}

export function users() {
  return A.users;
}

export function renderAccounts() {
  const body = $("accounts-table").querySelector("tbody");
  body.replaceChildren(
    ...A.users.map((u) => {
      const edit = el("button", {
        type: "button",
        className: "button button-quiet",
        text: t("account_edit"),
        "aria-label": t("account_edit_named", { username: u.username }),
        dataset: { username: u.username },
      });
      edit.addEventListener("click", () => openForm(u.username));
      return el(
        "tr",
        { className: u.disabled ? "row-disabled" : "", dataset: { username: u.username } },
        el("th", { scope: "row", text: u.username }),
        el("td", { text: u.name }),
        el("td", { text: u.roles.map(roleLabel).join(", ") }),
        el("td", { text: u.service || t("none") }),
        el("td", { text: u.regions.map((c) => name("regions", c)).join(", ") || t("none") }),
        el("td", { text: u.languages.map((c) => name("languages", c)).join(", ") || t("none") }),
        el("td", { className: "num", text: u.roles.includes("adviser") ? String(u.capacity) : t("none") }),
        el("td", {}, el("span", { className: `badge ${u.disabled ? "badge-urgent" : "badge-info"}`, text: t(u.disabled ? "account_disabled" : "account_enabled") })),
        el("td", { text: when(u.last_login_at, i18n.lang) }),
        el("td", {}, edit),
      );
    }),
  );
}

/** After a language switch: the open form again, in the new language. */
export function relabelAccounts() {
  renderAccounts();
  if (A.open !== null) openForm(A.open === "" ? null : A.open, { keepFocus: true });
}

function closeForm(focusUsername = null) {
  A.open = null;
  $("account-form-slot").replaceChildren();
  const back = focusUsername && $("accounts-table").querySelector(`button[data-username="${CSS.escape(focusUsername)}"]`);
  (back || $("account-new")).focus();
}

/** The form for a new account (``username`` null) or for changing one. */
export function openForm(username, { keepFocus = false } = {}) {
  const user = username ? A.users.find((u) => u.username === username) : null;
  if (username && !user) return closeForm();
  A.open = username || "";
  const id = formId("account");
  const heading = el("h3", { id: `${id}-heading`, tabindex: "-1", text: user ? t("account_edit_heading", { username: user.username }) : t("account_new_heading") });
  const form = el("form", { className: "account-form", novalidate: true, "aria-labelledby": `${id}-heading` });
  const usernameInput = textInput(user?.username || "", { autocomplete: "off", autocapitalize: "none", spellcheck: "false", maxlength: "64" });
  if (user) usernameInput.readOnly = true;
  const nameInput = textInput(user?.name || "", { autocomplete: "off", maxlength: "100" });
  const roles = checkboxes(`${id}-roles`, "account_roles", ROLES.map((r) => [r, roleLabel(r)]), user?.roles || ["adviser"], { name: "roles" });
  const serviceOptions = [["", t("account_no_service")], ...SERVICES.map((s) => [s, `${s} – ${name("services", s)}`])];
  const service = select(serviceOptions, user ? user.service || "" : "MR");
  const regions = checkboxes(`${id}-regions`, "account_regions", options("regions"), user?.regions || [], { name: "regions", columns: true, hint: "account_regions_hint" });
  const languages = checkboxes(`${id}-languages`, "account_languages", options("languages"), user?.languages || ["nb"], { name: "languages", columns: true });
  const capacity = numberInput(user?.capacity ?? 3, { min: 1, max: 20 });
  const password = el("input", { type: "password", autocomplete: "new-password", maxlength: "1024" });
  const save = el("button", { type: "submit", className: "button button-primary", text: t(user ? "account_save" : "account_create") });
  const cancel = el("button", { type: "button", className: "button button-quiet", text: t("cancel") });
  cancel.addEventListener("click", () => closeForm(username));

  form.append(
    formError(),
    el(
      "div",
      { className: "form-grid" },
      field(`${id}-username`, "account_username", usernameInput, { name: "username", hint: user ? "account_username_fixed" : "account_username_hint" }),
      field(`${id}-name`, "account_name", nameInput, { name: "name" }),
      field(`${id}-service`, "account_service", service, { name: "service", hint: "account_service_hint" }),
      field(`${id}-capacity`, "account_capacity", capacity, { name: "capacity", hint: "account_capacity_hint" }),
    ),
    roles,
    regions,
    languages,
    field(`${id}-password`, user ? "account_new_password" : "account_password", password, { name: "password", hint: "account_password_rule" }),
    el("div", { className: "form-actions" }, save, cancel),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {
      name: nameInput.value.trim(),
      roles: ticked(roles),
      service: service.value || null,
      regions: ticked(regions),
      languages: ticked(languages),
      capacity: Number(capacity.value),
    };
    if (!user) body.username = usernameInput.value.trim();
    if (password.value || !user) body.password = password.value;
    save.disabled = true;
    try {
      if (user) {
        await api(`/api/v1/users/${encodeURIComponent(user.username)}`, { method: "PATCH", body });
        notice(t(body.password ? "account_saved_password" : "account_saved", { username: user.username }));
      } else {
        await api("/api/v1/users", { method: "POST", body });
        notice(t("account_created", { username: body.username }));
      }
      password.value = "";
      const target = user ? user.username : body.username;
      A.open = null;
      await loadAccounts();
      closeForm(target);
    } catch (err) {
      password.value = "";
      showErrors(form, err, FIELD_MESSAGES());
    } finally {
      save.disabled = false;
    }
  });

  const parts = [heading, form];
  if (user) parts.push(disablePart(user));
  $("account-form-slot").replaceChildren(el("div", { className: "inline-panel" }, ...parts));
  if (!keepFocus) heading.focus();
}

/** Disable (after a confirmation: it logs the person out at once) or enable an account. */
function disablePart(user) {
  const box = el("div", { className: "danger-zone" });
  const error = formError();
  const toggle = el("button", {
    type: "button",
    className: user.disabled ? "button button-secondary" : "button button-danger",
    text: t(user.disabled ? "account_enable" : "account_disable"),
  });
  const hint = el("p", { className: "hint", text: t(user.disabled ? "account_enable_hint" : "account_disable_hint") });
  box.append(el("h4", { text: t("account_access") }), hint, error, toggle);

  async function apply(disabled) {
    try {
      await api(`/api/v1/users/${encodeURIComponent(user.username)}`, { method: "PATCH", body: { disabled } });
      notice(t(disabled ? "account_disabled_done" : "account_enabled_done", { username: user.username }));
      A.open = null;
      await loadAccounts();
      closeForm(user.username);
    } catch (err) {
      error.textContent = err.code === "last_admin" ? t("error_last_admin") : t("error_generic", { message: err.message });
      error.hidden = false;
      error.focus();
    }
  }

  toggle.addEventListener("click", () => {
    if (user.disabled) {
      apply(false);
      return;
    }
    const { block, focus } = confirmBlock(
      t("account_disable_confirm", { name: user.name, username: user.username }),
      "account_disable_yes",
      () => apply(true),
      () => {
        block.replaceWith(toggle);
        toggle.focus();
      },
    );
    toggle.replaceWith(block);
    focus();
  });
  return box;
}
