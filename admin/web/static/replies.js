// The canned replies page (/replies, issue 17): advisers keep their own replies, supervisors and admins
// the shared ones of each service. Over /api/v1/canned-replies; every text is inserted as text.

import { $, announce, api, applyStatic, cap, el, i18n, initPage, loadReference, name, ref, session, setupAuth, t } from "./common.js";

const P = { replies: [], editing: null, armed: null, user: null };
let auth;

function keepsShared() {
  return ["supervisor", "admin"].some((r) => P.user?.roles?.includes(r));
}

function isAdviser() {
  return Boolean(P.user?.roles?.includes("adviser"));
}

async function load() {
  try {
    P.replies = (await api("/api/v1/canned-replies")).replies || [];
  } catch (err) {
    if (err.status === 401) auth.expired();
    P.replies = [];
  }
  render();
}

function languageOptions(select, { all }) {
  const value = select.value;
  const options = (ref.data?.languages || []).map((l) => el("option", { value: l.code, text: cap(name("languages", l.code)) }));
  select.replaceChildren(...(all ? [el("option", { value: "", text: t("replies_all_languages") })] : []), ...options);
  if (value) select.value = value;
}

function scopeText(reply) {
  return reply.scope === "personal" ? t("replies_scope_mine") : t("replies_scope_service", { service: reply.service });
}

function render() {
  applyStatic();
  const filter = $("replies-language").value;
  const rows = P.replies.filter((r) => !filter || r.language === filter);
  $("replies-table").querySelector("tbody").replaceChildren(
    ...rows.map((reply) => {
      const actions = el("td", { className: "actions" });
      if (reply.editable) {
        const edit = el("button", { type: "button", className: "button button-quiet", text: t("replies_edit") });
        edit.setAttribute("aria-label", t("replies_edit_named", { title: reply.title }));
        edit.addEventListener("click", () => startEdit(reply));
        const armed = P.armed === reply.id;
        const remove = el("button", { type: "button", className: `button ${armed ? "button-danger" : "button-quiet"}`, text: t(armed ? "replies_remove_confirm" : "replies_remove") });
        remove.setAttribute("aria-label", t(armed ? "replies_remove_confirm_named" : "replies_remove_named", { title: reply.title }));
        remove.addEventListener("click", () => removeReply(reply));
        actions.append(edit, remove);
      }
      return el(
        "tr",
        { dataset: { id: reply.id } },
        el("th", { scope: "row", text: reply.title }),
        el("td", { text: cap(name("languages", reply.language)) }),
        el("td", { text: scopeText(reply) }),
        el("td", { className: "reply-text", lang: reply.language, dir: "auto", text: reply.text }),
        actions,
      );
    }),
  );
  $("replies-empty").hidden = rows.length > 0;
  $("reply-form-heading").textContent = t(P.editing ? "replies_form_edit" : "replies_form_new");
  $("reply-cancel").hidden = !P.editing;
  const shared = keepsShared();
  const adviser = isAdviser();
  $("reply-scope-shared").disabled = !shared || Boolean(P.editing);
  $("reply-scope-personal").disabled = !adviser || Boolean(P.editing);
  if (!document.querySelector('input[name="scope"]:checked')) $(adviser ? "reply-scope-personal" : "reply-scope-shared").checked = true;
  $("reply-service-field").hidden = document.querySelector('input[name="scope"]:checked')?.value !== "shared";
}

function showErrors(fields) {
  for (const field of ["scope", "service", "language", "title", "text"]) {
    const node = $(`reply-${field}-error`);
    const control = $(`reply-${field}`);
    const message = fields?.[field] || "";
    node.textContent = message;
    node.hidden = !message;
    if (message) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  }
}

function startEdit(reply) {
  P.editing = reply;
  $(`reply-scope-${reply.scope}`).checked = true;
  $("reply-service").value = reply.service || "MR";
  $("reply-language").value = reply.language;
  $("reply-title").value = reply.title;
  $("reply-text").value = reply.text;
  showErrors(null);
  render();
  $("reply-title").focus();
}

function resetForm() {
  P.editing = null;
  $("reply-form").reset();
  $("reply-form-error").hidden = true;
  showErrors(null);
  render();
}

async function removeReply(reply) {
  if (P.armed !== reply.id) {
    P.armed = reply.id; // a second click removes it
    render();
    document.querySelector(`tr[data-id="${CSS.escape(reply.id)}"] .button-danger`)?.focus();
    return;
  }
  P.armed = null;
  try {
    await api(`/api/v1/canned-replies/${encodeURIComponent(reply.id)}`, { method: "DELETE" });
    notice(t("replies_removed", { title: reply.title }));
  } catch (err) {
    if (err.status === 401) auth.expired();
    notice(t("error_generic", { message: err.message }));
  }
  await load();
}

function notice(text) {
  const node = $("replies-notice");
  node.textContent = text;
  node.hidden = false;
  announce(text);
}

async function save(event) {
  event.preventDefault();
  const scope = document.querySelector('input[name="scope"]:checked')?.value;
  const body = { language: $("reply-language").value, title: $("reply-title").value, text: $("reply-text").value };
  if (scope === "shared") body.service = $("reply-service").value;
  showErrors(null);
  $("reply-form-error").hidden = true;
  try {
    if (P.editing) {
      await api(`/api/v1/canned-replies/${encodeURIComponent(P.editing.id)}`, { method: "PUT", body });
    } else {
      await api("/api/v1/canned-replies", { method: "POST", body: { scope, ...body } });
    }
    notice(t("replies_saved", { title: body.title.trim() }));
    resetForm();
    await load();
  } catch (err) {
    if (err.status === 401) {
      auth.expired();
      return;
    }
    const error = $("reply-form-error");
    error.textContent = err.fields ? t("replies_has_errors") : t("error_generic", { message: err.message });
    error.hidden = false;
    showErrors(err.fields);
    const first = ["scope", "service", "language", "title", "text"].find((f) => err.fields?.[f]);
    (first ? $(`reply-${first}`) : error).focus();
  }
}

async function init() {
  initPage();
  try {
    await loadReference();
  } catch {
    /* codes instead of names */
  }
  languageOptions($("replies-language"), { all: true });
  languageOptions($("reply-language"), { all: false });
  i18n.onChange(() => {
    languageOptions($("replies-language"), { all: true });
    languageOptions($("reply-language"), { all: false });
    render();
  });
  $("replies-language").addEventListener("change", render);
  $("reply-form").addEventListener("submit", save);
  $("reply-cancel").addEventListener("click", resetForm);
  for (const radio of document.querySelectorAll('input[name="scope"]')) radio.addEventListener("change", render);
  auth = setupAuth({
    role: ["adviser", "supervisor", "admin"],
    wrongRoleKey: "login_wrong_role_console",
    onReady(user) {
      P.user = user || session.user;
      if (user?.service) $("reply-service").value = user.service === "AT" ? "AT" : "MR";
      resetForm();
      load();
    },
    onLoggedOut() {
      P.replies = [];
      render();
    },
  });
  await auth.check();
  document.documentElement.classList.add("ready");
}

init();
