// The registration guideline on the admin page: the version in force (GET /api/v1/guideline) in a
// form that replaces it as a whole (PUT); every text in nb and en, one help text per active category.

import { $, api, el, i18n, name, ref, t } from "./common.js";
import { clearErrors, formError, notice, showErrors, when } from "./admin-forms.js";

const TEXTS = ["case_rule", "not_a_case", "note_warning"];
const LANGS = ["nb", "en"];
const G = { current: null, by: null };

function area(id, value, fieldName, labelText, lang) {
  const box = el("div", { className: "field", dataset: { field: fieldName } });
  const textarea = el("textarea", { id, rows: "4", maxlength: "4000", lang, "aria-describedby": `${id}-error` });
  textarea.value = value || "";
  textarea.dataset.field = fieldName;
  box.append(el("label", { for: id, text: labelText }), textarea, el("p", { className: "field-error", id: `${id}-error`, hidden: true }));
  return box;
}

export async function loadGuideline() {
  G.current = await api("/api/v1/guideline");
  G.by = null;
  if (G.current.version) {
    // The guideline names its author by id; the audit entry of the replacement names the username.
    const log = await api("/api/v1/audit?action=guideline_replaced&limit=1");
    G.by = log.entries[0]?.actor || null;
  }
  renderGuideline();
}

export function renderGuideline() {
  const g = G.current;
  if (!g) return;
  $("guideline-version").textContent = g.version
    ? t("guideline_version", { version: g.version, at: when(g.updated_at, i18n.lang), by: G.by || t("none") })
    : t("guideline_builtin");
  const form = $("guideline-form");
  const controls = {};
  const parts = [formError()];
  for (const key of TEXTS) {
    const group = el("fieldset", { className: "field guideline-text" }, el("legend", { text: t(`guideline_${key}`) }));
    for (const lang of LANGS) {
      const id = `guideline-${key}-${lang}`;
      group.append(area(id, g[key]?.[lang], `${key}.${lang}`, t(`lang_${lang}`), lang));
      controls[`${key}.${lang}`] = id;
    }
    parts.push(group);
  }
  const categories = el("details", { className: "guideline-categories" }, el("summary", { text: t("guideline_categories") }));
  const codes = (ref.data?.categories || []).map((e) => e.code);
  for (const code of codes) {
    const group = el("fieldset", { className: "field guideline-text" }, el("legend", { text: name("categories", code) }));
    for (const lang of LANGS) {
      const id = `guideline-cat-${code}-${lang}`;
      group.append(area(id, g.categories?.[code]?.[lang], `categories.${code}.${lang}`, t(`lang_${lang}`), lang));
      controls[`categories.${code}.${lang}`] = id;
    }
    categories.append(group);
  }
  parts.push(categories);
  const save = el("button", { type: "submit", className: "button button-primary", text: t("guideline_save") });
  parts.push(el("p", { className: "hint", text: t("guideline_save_hint") }), el("div", { className: "form-actions" }, save));
  form.replaceChildren(...parts);
  form.onsubmit = async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { categories: {} };
    for (const key of TEXTS) body[key] = Object.fromEntries(LANGS.map((l) => [l, $(controls[`${key}.${l}`]).value]));
    for (const code of codes) body.categories[code] = Object.fromEntries(LANGS.map((l) => [l, $(controls[`categories.${code}.${l}`]).value]));
    save.disabled = true;
    try {
      await api("/api/v1/guideline", { method: "PUT", body });
      await loadGuideline();
      notice(t("guideline_saved", { version: G.current.version }));
    } catch (err) {
      if (Object.keys(err.fields || {}).some((f) => f.startsWith("categories."))) categories.open = true;
      showErrors(form, err);
    } finally {
      save.disabled = false;
    }
  };
}
