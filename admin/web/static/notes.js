// Internal notes on a conversation in the console (issue 17): a list and a box under the transcript,
// over /api/v1/conversations/{id}/notes. Notes are never sent to the visitor and are erased with the
// transcript; the panel says both.

import { api, el, shortTime, t } from "./common.js";

export function notesPanel(conv, { onExpired }) {
  const prefix = `notes-${conv.id}`;
  const heading = el("h3", { id: `${prefix}-heading`, className: "notes-heading" });
  const hint = el("p", { className: "hint", id: `${prefix}-hint` });
  const list = el("ul", { className: "notes-list", "aria-labelledby": `${prefix}-heading` });
  const label = el("label", { for: `${prefix}-text` });
  const area = el("textarea", { id: `${prefix}-text`, rows: 2, maxlength: 2000, "aria-describedby": `${prefix}-hint` });
  const save = el("button", { type: "submit", className: "button button-secondary" });
  const error = el("p", { className: "field-error", role: "alert", hidden: true });
  const form = el("form", { className: "notes-form", novalidate: true }, label, area, save, error);
  const root = el("section", { className: "notes", "aria-labelledby": `${prefix}-heading` }, heading, hint, list, form);
  let notes = [];

  function render() {
    heading.textContent = t("notes_heading", { n: notes.length });
    hint.textContent = t("notes_hint");
    label.textContent = t("notes_new");
    save.textContent = t("notes_save");
    list.replaceChildren(
      ...notes.map((n) =>
        el(
          "li",
          { className: "note" },
          el("p", { className: "note-text", dir: "auto", text: n.text }),
          el("p", { className: "note-meta", text: t("notes_meta", { who: n.author || "–", t: shortTime(n.created_at) }) }),
        ),
      ),
    );
    list.hidden = notes.length === 0;
  }

  async function load() {
    try {
      notes = (await api(`/api/v1/conversations/${encodeURIComponent(conv.id)}/notes`)).notes || [];
    } catch (err) {
      if (err.status === 401) onExpired();
      notes = [];
    }
    render();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = area.value.trim();
    error.hidden = true;
    if (!text) {
      error.textContent = t("notes_empty");
      error.hidden = false;
      area.focus();
      return;
    }
    save.disabled = true;
    try {
      const note = await api(`/api/v1/conversations/${encodeURIComponent(conv.id)}/notes`, { method: "POST", body: { text } });
      notes.push(note);
      area.value = "";
      render();
    } catch (err) {
      if (err.status === 401) onExpired();
      error.textContent = t("error_generic", { message: err.message });
      error.hidden = false;
    } finally {
      save.disabled = false;
    }
  });

  render();
  load();
  return { element: root, relabel: render, load };
}
