// Canned replies in the console's composer (issue 17): "/" in an empty message box, or the
// "Hurtigsvar" button, opens a filter box over the replies in the conversation's chat language
// (GET /api/v1/canned-replies: the service's shared ones and the adviser's own). Arrow keys choose,
// Enter puts the reply into the message box (not sent: the adviser can still change it), Escape closes.
// A combobox with a listbox (WAI-ARIA APG), so a screen reader hears each reply as it is chosen.

import { api, cap, el, name, t } from "./common.js";

const cache = { replies: null, at: 0 };
const FRESH_MS = 30_000;

async function loadReplies() {
  if (cache.replies && Date.now() - cache.at < FRESH_MS) return cache.replies;
  const data = await api("/api/v1/canned-replies");
  cache.replies = data.replies || [];
  cache.at = Date.now();
  return cache.replies;
}

/** The picker of one conversation's composer: ``button`` opens it, ``panel`` goes under the composer. */
export function cannedPicker(conv, textarea, { onExpired }) {
  const prefix = `canned-${conv.id}`;
  const button = el("button", {
    type: "button",
    className: "button button-quiet canned-button",
    "aria-expanded": "false",
    "aria-controls": `${prefix}-panel`,
  });
  const label = el("label", { for: `${prefix}-filter` });
  const filter = el("input", {
    type: "text",
    id: `${prefix}-filter`,
    role: "combobox",
    autocomplete: "off",
    spellcheck: "false",
    "aria-autocomplete": "list",
    "aria-expanded": "true",
    "aria-controls": `${prefix}-list`,
    "aria-describedby": `${prefix}-help`,
  });
  const help = el("p", { className: "hint", id: `${prefix}-help` });
  const list = el("ul", { id: `${prefix}-list`, role: "listbox", className: "canned-list" });
  const empty = el("p", { className: "muted canned-empty", hidden: true });
  const manage = el("a", { href: "/replies", target: "_blank", rel: "noopener", className: "canned-manage" });
  const panel = el("div", { className: "canned", id: `${prefix}-panel`, hidden: true }, label, filter, help, list, empty, manage);
  let shown = [];
  let active = 0;

  function relabel() {
    button.textContent = t("canned_button");
    const language = cap(name("languages", conv.language));
    label.textContent = t("canned_filter_label", { language });
    list.setAttribute("aria-label", t("canned_list_label", { language }));
    help.textContent = t("canned_help");
    manage.textContent = t("canned_manage");
    empty.textContent = t("canned_none", { language });
  }

  function render() {
    const query = filter.value.trim().toLocaleLowerCase();
    const inLanguage = (cache.replies || []).filter((r) => r.language === conv.language);
    shown = inLanguage.filter((r) => !query || `${r.title} ${r.text}`.toLocaleLowerCase().includes(query));
    active = Math.min(active, Math.max(0, shown.length - 1));
    list.replaceChildren(
      ...shown.map((reply, index) => {
        const option = el(
          "li",
          {
            role: "option",
            id: `${prefix}-opt-${reply.id}`,
            className: "canned-option",
            "aria-selected": String(index === active),
            lang: conv.language,
          },
          el("strong", { className: "canned-title", text: reply.title }),
          el("span", { className: "canned-scope", lang: document.documentElement.lang, text: t(reply.scope === "personal" ? "canned_personal" : "canned_shared") }),
          el("span", { className: "canned-text", dir: "auto", text: reply.text }),
        );
        option.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the box
        option.addEventListener("click", () => insert(reply));
        return option;
      }),
    );
    empty.hidden = shown.length > 0;
    list.hidden = shown.length === 0;
    if (shown.length) filter.setAttribute("aria-activedescendant", `${prefix}-opt-${shown[active].id}`);
    else filter.removeAttribute("aria-activedescendant");
    list.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: "nearest" });
  }

  async function open() {
    relabel();
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    filter.value = "";
    active = 0;
    filter.focus();
    try {
      await loadReplies();
    } catch (err) {
      if (err.status === 401) onExpired();
      cache.replies = cache.replies || [];
    }
    render();
  }

  function close({ focus = true } = {}) {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (focus) textarea.focus();
  }

  function insert(reply) {
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? textarea.value.length;
    textarea.setRangeText(reply.text, start, end, "end");
    textarea.dispatchEvent(new Event("input", { bubbles: true })); // keeps the draft and "is writing"
    close();
  }

  filter.addEventListener("input", () => {
    active = 0;
    render();
  });
  filter.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!shown.length) return;
      active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      render();
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (shown[active]) insert(shown[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  filter.addEventListener("blur", () => {
    // Leaving the box (Tab on to the link, or away) closes it unless the focus stays inside.
    setTimeout(() => {
      if (!panel.contains(document.activeElement)) close({ focus: false });
    }, 0);
  });
  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  textarea.addEventListener("keydown", (event) => {
    // "/" as the first character opens the replies (a message rarely starts with a slash).
    if (event.key === "/" && !textarea.value && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      open();
    }
  });
  relabel();
  return { button, panel, relabel, open, close };
}
