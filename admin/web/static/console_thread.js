// The agent console's side of return codes (docs/protocol.md §6 "Threads", issue 19):
// - "Earlier conversations": where the adviser sees a conversation of a thread, the thread's other
//   conversations from GET /api/v1/conversations/{id}/thread (transcripts while kept, the
//   registration's categories after), and its messages still waiting;
// - "Left messages": what visitors wrote while the chat was closed (or nobody in their language was
//   signed in), GET /api/v1/left-messages, each with an answer form (POST .../answer).
// Every text from the server goes in with textContent. Reading a thread is audited by the server, so
// each conversation's thread is asked for once, when its pane is built.

import { ApiError, announce, api, cap, duration, el, isRtl, locale, name, regionName, shortTime, t, textDir } from "./common.js";

const REFRESH_MS = 30000;
const L = { items: [], timer: null, section: null, list: null, onExpired: null, running: false };
const panels = new Set(); // {conv, root, data}: re-rendered when the staff language changes

// ------------------------------------------------------------------ earlier conversations

/** A panel for one conversation's pane; hidden unless the conversation belongs to a thread. */
export function threadPanel(conv) {
  const headingId = `thread-${conv.id}-heading`;
  // Labelled by its heading only once the heading is drawn (after the thread has loaded).
  const root = el("section", { className: "thread-panel", hidden: true });
  const panel = { conv, root, headingId, data: null };
  panels.add(panel);
  load(panel);
  return root;
}

async function load(panel) {
  try {
    panel.data = await api(`/api/v1/conversations/${encodeURIComponent(panel.conv.id)}/thread`);
  } catch {
    panel.data = null; // no thread to show (or not ours): the pane stays as it was
  }
  renderPanel(panel);
}

function renderPanel(panel) {
  const { root, data, conv } = panel;
  if (!data || !data.in_thread || (!data.conversations.length && !data.waiting.length)) {
    root.hidden = true;
    root.removeAttribute("aria-labelledby");
    root.replaceChildren();
    return;
  }
  root.setAttribute("aria-labelledby", panel.headingId);
  const rtl = isRtl(conv.language);
  const items = data.conversations.map((c) => {
    const title = t("thread_conversation", { when: dayTime(c.started_at), adviser: c.adviser || t("thread_no_adviser") });
    const extra = [];
    if (c.close_reason === "answered") extra.push(t("thread_answered"));
    if (c.quick_exit) extra.push(t("thread_quick_exit"));
    let body;
    if (Array.isArray(c.messages)) {
      body = el("ol", { className: "transcript thread-transcript" }, ...c.messages.map((m) => threadMessage(m, c, rtl)));
    } else {
      body = el("p", { className: "muted", text: t("thread_transcript_gone") });
    }
    return el(
      "li",
      { className: "thread-conv" },
      el("h4", { className: "thread-conv-title", text: title }),
      extra.length ? el("p", { className: "muted", text: extra.join(" · ") }) : null,
      body,
      registrationLine(c.registration),
    );
  });
  const children = [
    el("h3", { id: panel.headingId, text: t("thread_heading", { n: data.conversations.length }) }),
    el("p", { className: "muted", text: t("thread_intro") }),
    el("ol", { className: "thread-convs" }, ...items),
  ];
  if (data.waiting.length) {
    children.push(
      el("h4", { text: t("thread_waiting") }),
      el(
        "ul",
        { className: "thread-waiting" },
        ...data.waiting.map((w) =>
          el("li", {}, el("p", { className: "msg-text", dir: textDir(w.text, rtl), lang: conv.language, text: w.text }), el("p", { className: "muted", text: dayTime(w.left_at) })),
        ),
      ),
    );
  }
  // Closed at first: a line at the top of the pane; the adviser opens it when it is needed.
  const open = root.querySelector("details")?.open ?? false;
  root.replaceChildren(el("details", { open }, el("summary", { text: t("thread_summary", { n: data.conversations.length }) }), ...children));
  root.hidden = false;
}

function threadMessage(m, c, rtl) {
  if (m.sender === "system") {
    return el("li", { className: "msg msg-system" }, el("p", { className: "msg-event", dir: "auto", text: m.text || "" }));
  }
  const sender = m.sender === "visitor" ? c.alias || t("thread_visitor") : c.adviser || t("adviser");
  return el(
    "li",
    { className: `msg msg-${m.sender === "visitor" ? "visitor" : "adviser"}` },
    el(
      "div",
      { className: "bubble" },
      el("p", { className: "msg-text", dir: textDir(m.text || "", rtl), lang: c.language, text: m.text || "" }),
      el("p", { className: "msg-meta", dir: "ltr" }, el("span", { className: "msg-sender", text: sender }), el("span", { className: "msg-time", text: shortTime(m.sent_at) })),
    ),
  );
}

function registrationLine(reg) {
  if (!reg) return null;
  const parts = [];
  parts.push(reg.is_case ? t("thread_reg_case") : t("thread_reg_not_case"));
  if (reg.main_category) parts.push(cap(name("categories", reg.main_category)));
  for (const code of reg.other_categories || []) parts.push(name("categories", code));
  return el("p", { className: "thread-registration", text: `${t("thread_registration")}: ${parts.join(", ")}` });
}

function dayTime(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return "";
  return `${date.toLocaleDateString(locale(), { day: "numeric", month: "short" })} ${shortTime(iso)}`;
}

// ------------------------------------------------------------------ left messages

/** The "Left messages" card in the sidebar, refreshed every 30 s while signed in. */
export function startLeftMessages({ onExpired } = {}) {
  L.onExpired = onExpired || null;
  if (!L.section) build();
  L.section.hidden = false;
  L.running = true;
  refresh();
  clearInterval(L.timer);
  L.timer = setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_MS);
}

export function stopLeftMessages() {
  L.running = false;
  clearInterval(L.timer);
  L.timer = null;
  L.items = [];
  if (L.section) {
    L.list.replaceChildren();
    L.section.hidden = true;
  }
  for (const panel of panels) panel.root.replaceChildren();
  panels.clear();
}

/** The staff language changed: texts built here follow. */
export function relabelThread() {
  for (const panel of [...panels]) {
    if (!panel.root.isConnected) panels.delete(panel);
    else renderPanel(panel);
  }
  if (L.section) {
    L.heading.textContent = t("left_heading");
    renderLeft();
  }
}

function build() {
  L.heading = el("span", { text: t("left_heading") });
  L.count = el("span", { className: "count" });
  L.list = el("ul", { className: "left-list", id: "left-list" });
  L.empty = el("p", { className: "muted empty", id: "no-left" });
  L.section = el(
    "section",
    { className: "card list-card left-messages", "aria-labelledby": "left-heading", id: "left-messages" },
    el("h2", { id: "left-heading" }, L.heading, " ", L.count),
    L.list,
    L.empty,
  );
  document.querySelector(".sidebar").append(L.section);
}

async function refresh() {
  try {
    const data = await api("/api/v1/left-messages");
    if (!L.running) return;
    L.items = data.left_messages || [];
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && L.onExpired) L.onExpired();
    return;
  }
  renderLeft();
}

function renderLeft() {
  // Keep what an adviser is writing: an item whose form has text is left alone.
  const drafts = new Map();
  for (const node of L.list.querySelectorAll("textarea")) if (node.value) drafts.set(node.dataset.item, node.value);
  L.count.textContent = L.items.length ? `(${L.items.length})` : "";
  L.empty.textContent = t("left_none");
  L.empty.hidden = L.items.length > 0;
  L.list.replaceChildren(...L.items.map((item) => leftItem(item, drafts.get(item.id) || "")));
}

function leftItem(item, draft) {
  const rtl = isRtl(item.language);
  const where = [name("languages", item.language), regionName(item.region), item.audience ? name("audiences", item.audience) : null]
    .filter(Boolean)
    .join(" · ");
  const textareaId = `left-answer-${item.id}`;
  const textarea = el("textarea", { id: textareaId, rows: 3, maxlength: 4000, dir: "auto", dataset: { item: item.id } });
  textarea.value = draft;
  const error = el("p", { className: "field-error", role: "alert", hidden: true });
  const send = el("button", { type: "submit", className: "button button-primary", text: t("left_answer_send") });
  const form = el(
    "form",
    { className: "left-answer", novalidate: true },
    el("label", { for: textareaId, text: t("left_answer_label") }),
    textarea,
    error,
    send,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    if (!text) {
      error.textContent = t("left_answer_empty");
      error.hidden = false;
      textarea.focus();
      return;
    }
    send.disabled = true;
    error.hidden = true;
    try {
      await api(`/api/v1/left-messages/${encodeURIComponent(item.id)}/answer`, { method: "POST", body: { text } });
    } catch (failure) {
      send.disabled = false;
      error.textContent = failure instanceof ApiError && failure.status === 404 ? t("left_answer_gone") : t("left_answer_failed");
      error.hidden = false;
      if (failure instanceof ApiError && failure.status === 404) refresh();
      return;
    }
    L.items = L.items.filter((other) => other.id !== item.id);
    textarea.value = "";
    renderLeft();
    announce(t("left_answer_sent"));
  });
  const messages = (item.messages || []).map((m) =>
    el(
      "li",
      { className: "left-text" },
      el("p", { className: "msg-text", dir: textDir(m.text, rtl), lang: item.language, text: m.text }),
      el("p", { className: "muted", text: shortTime(m.left_at) }),
    ),
  );
  const facts = [t("left_waited", { wait: duration(item.waited_s) })];
  if (item.earlier_conversations) facts.push(t("left_earlier", { n: item.earlier_conversations }));
  if (item.yours) facts.push(t("left_yours"));
  return el(
    "li",
    { className: "left-item", dataset: { id: item.id } },
    el("p", { className: "left-where", text: where }),
    el("p", { className: "muted", text: facts.join(" · ") }),
    el("ul", { className: "left-texts" }, ...messages),
    form,
  );
}
