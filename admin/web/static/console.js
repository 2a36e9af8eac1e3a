// nora-chat agent console: status, several conversations at once, transfer, close, and the case
// register for closed conversations. Speaks the v1 wire contract on /ws/adviser (docs/protocol.md §5).
// Every text from the server is rendered with textContent (visitor text may contain HTML).

import {
  $, Socket, announce, api, applyStatic, cap, duration, el, i18n, initPage, isRtl, loadOwnCategories, loadReference, name, ref,
  regionName, setupAuth, shortTime, showConnection, t, textDir,
} from "./common.js";
import { abusiveControls } from "./abuse_close.js";
import { MyRegistrations } from "./amend.js";
import { cannedPicker } from "./canned.js";
import { notesPanel } from "./notes.js";
import { notify, relabelNotify, setupNotify, showNotify } from "./notify.js";
import { W, fillColleagues, offerArrived, offerGone, offerView, offersSection, renderOffers } from "./warm.js";
import { AmendForm, InquiryForm, RegistrationForm } from "./register.js";
import { relabelThread, startLeftMessages, stopLeftMessages, threadPanel } from "./console_thread.js";
import { clearStaffNotices, relabelStaffNotices, showStaffNotice } from "./staff_notices.js";

const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOW_MS = 5000;
const SOUND_KEY = "nora-admin.sound";
const CHAT_SERVICES = ["MR", "AT"]; // advisers of IR and KT register inquiries but never chat

const C = {
  me: null,
  status: "away",
  convs: new Map(), // id -> conversation (see newConv)
  selected: null,
  socket: null,
  connected: false,
  clientPrefix: "a",
  lastTransfer: null,
  audio: null,
  holdUntil: 0, // rate limited: send nothing before this time
  user: null,
  inquiry: null, // the open InquiryForm (or AmendForm), if any
  ownCategories: null, // the service's own categories, loading (a promise) from sign-in on
  mine: null, // MyRegistrations: the adviser's own registrations that can still be amended
};

let auth;

// ------------------------------------------------------------------ model

function newConv(body) {
  return {
    id: body.id,
    alias: body.alias || "",
    language: body.language,
    region: body.region ?? null,
    audience: body.audience,
    urgent: Boolean(body.urgent),
    waited_s: body.waited_s ?? null,
    started_at: body.started_at || null,
    transferred: Boolean(body.transferred),
    note: body.note || null,
    rtl: body.rtl ?? null,
    state: body.state === "closed" ? "closed" : "assigned",
    closeReason: body.close_reason || null,
    closedAt: body.closed_at || null,
    quickExit: Boolean(body.quick_exit), // the visitor left by the widget's quick exit
    presence: null,
    awaySince: null, // when the visitor dropped (ISO), for "disconnected since 16:20"
    unread: 0,
    isNew: false,
    typingTimer: null,
    typing: false,
    lastTypingSent: 0,
    lastSeq: 0,
    messages: new Map(), // seq -> message data
    pending: new Map(), // client_id -> {text}, in the order written
    inFlight: null, // the one client_id sent and not yet acknowledged (one at a time keeps the order)
    hasTranscript: false,
    view: null,
    form: null,
    draft: "",
  };
}

function convRtl(conv) {
  return ref.data ? isRtl(conv.language) : Boolean(conv.rtl);
}

function upsert(body) {
  let conv = C.convs.get(body.id);
  if (!conv) {
    conv = newConv(body);
    C.convs.set(conv.id, conv);
  } else {
    for (const key of ["alias", "language", "audience", "started_at"]) if (body[key]) conv[key] = body[key];
    if ("region" in body) conv.region = body.region;
    if ("urgent" in body) conv.urgent = Boolean(body.urgent);
    if ("waited_s" in body) conv.waited_s = body.waited_s;
    if ("transferred" in body) conv.transferred = Boolean(body.transferred);
    if ("note" in body) conv.note = body.note;
    if (body.quick_exit) conv.quickExit = true;
    if (body.state === "assigned") conv.state = "assigned";
  }
  if (Array.isArray(body.messages)) {
    conv.hasTranscript = true;
    for (const m of body.messages) addMessage(conv, m, { quiet: true });
  }
  presenceFrom(conv, body);
  return conv;
}

/** ``visitor_present`` / ``visitor_away_since`` of an open <conversation> (protocol 1.1). */
function presenceFrom(conv, body) {
  if (!("visitor_present" in body) || body.state === "closed") return;
  if (body.visitor_present) {
    if (conv.presence === "away") conv.presence = null;
    conv.awaySince = null;
  } else {
    conv.presence = "away";
    conv.awaySince = body.visitor_away_since || conv.awaySince;
  }
}

/** Why a closed conversation ended, in words; a quick exit is said as such (it can signal danger). */
function closedReasonText(conv) {
  if (conv.quickExit && conv.closeReason === "visitor_left") return t("closed_reason_quick_exit");
  const reasonKey = `closed_reason_${conv.closeReason}`;
  return t(t(reasonKey) !== reasonKey ? reasonKey : "closed_reason_other");
}

function presenceText(conv, key) {
  return key === "presence_away_long" && conv.awaySince ? t("presence_away_since", { t: shortTime(conv.awaySince) }) : t(key);
}

// ------------------------------------------------------------------ messages

function isMine(m) {
  return m.sender === "adviser" && typeof m.client_id === "string" && m.client_id.startsWith(C.clientPrefix);
}

function newClientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return C.clientPrefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function addMessage(conv, m, { quiet = false } = {}) {
  if (!Number.isInteger(m.seq) || m.seq < 1) return;
  if (m.seq > conv.lastSeq) conv.lastSeq = m.seq;
  if (conv.messages.has(m.seq)) return;
  const data = {
    seq: m.seq,
    sender: ["visitor", "adviser", "system"].includes(m.sender) ? m.sender : "system",
    text: typeof m.text === "string" ? m.text : "",
    sent_at: m.sent_at || null,
    event: m.event || null,
    mine: isMine(m),
  };
  conv.messages.set(m.seq, data);
  let pendingNode = null;
  if (m.client_id && conv.pending.has(m.client_id)) {
    pendingNode = conv.pending.get(m.client_id).node;
    conv.pending.delete(m.client_id);
    data.mine = true;
    if (conv.inFlight === m.client_id) {
      conv.inFlight = null;
      sendNext(conv);
    }
  }
  if (conv.view) {
    const node = messageNode(conv, data);
    if (pendingNode) pendingNode.replaceWith(node);
    placeInOrder(conv.view.transcript, node, data.seq);
    scrollToEnd(conv);
  }
  if (data.sender === "visitor") {
    setTyping(conv, false);
    if (!quiet && (C.selected !== conv.id || document.hidden)) conv.unread += 1;
    if (!quiet) notify("message", conv.alias, `${conv.id}-message`, () => select(conv.id, { focus: true }));
  }
  if (data.event === "visitor_left" || data.event === "visitor_quick_exit") conv.presence = "left";
  if (data.event === "visitor_quick_exit") conv.quickExit = true;
  if (!quiet) {
    renderLists();
    updateTitle();
  }
}

function acknowledge(conv, clientId, seq) {
  showStored(conv, clientId, seq);
  if (conv.inFlight === clientId) {
    conv.inFlight = null;
    sendNext(conv);
  }
}

function showStored(conv, clientId, seq) {
  const item = conv.pending.get(clientId);
  if (!item) return;
  conv.pending.delete(clientId);
  if (seq > conv.lastSeq) conv.lastSeq = seq;
  if (conv.messages.has(seq)) {
    item.node?.remove();
    return;
  }
  const data = { seq, sender: "adviser", text: item.text, sent_at: new Date().toISOString(), event: null, mine: true };
  conv.messages.set(seq, data);
  if (conv.view) {
    const node = messageNode(conv, data);
    if (item.node) item.node.replaceWith(node);
    placeInOrder(conv.view.transcript, node, seq);
  }
}

function sendMessage(conv, text) {
  const clientId = newClientId();
  const item = { text, node: null };
  conv.pending.set(clientId, item);
  if (conv.view) {
    item.node = messageNode(conv, { seq: null, sender: "adviser", text, sent_at: null, mine: true, pending: true });
    conv.view.transcript.append(item.node);
    scrollToEnd(conv);
  }
  sendNext(conv);
}

// One message in flight per conversation: were several sent at once, one refused for the rate limit
// and a later one accepted the moment a token came free would overtake it in the transcript.
function sendNext(conv) {
  if (conv.inFlight || Date.now() < C.holdUntil) return;
  const next = conv.pending.entries().next();
  if (next.done) return;
  const [clientId, item] = next.value;
  const frame = { type: "message", conversation_id: conv.id, client_id: clientId, text: item.text };
  if (C.socket.send(frame)) conv.inFlight = clientId;
}

function resendPending(conv) {
  conv.inFlight = null; // sent again after a reconnect; the server answers a resend with its seq
  sendNext(conv);
}

function eventLabel(event) {
  const key = `event_${event}`;
  return event && t(key) !== key ? t(key) : t("event_other");
}

function messageNode(conv, m) {
  if (m.sender === "system") {
    return el(
      "li",
      { className: "msg msg-system", dataset: { seq: m.seq ?? "", event: m.event || "" } },
      el("span", { className: "msg-icon", "aria-hidden": "true", text: "ⓘ" }),
      el(
        "div",
        {},
        el("p", { className: "msg-event", text: eventLabel(m.event) }),
        // After a quick exit the visitor's page is gone: nobody saw the notice's text.
        m.text && m.event !== "visitor_quick_exit" ? el("p", { className: "msg-seen", dir: "auto", text: t("system_seen", { text: m.text }) }) : null,
      ),
      el("span", { className: "msg-time", text: shortTime(m.sent_at) }),
    );
  }
  const sender = m.sender === "visitor" ? conv.alias : m.mine ? t("you") : t("adviser");
  const node = el(
    "li",
    {
      className: `msg msg-${m.sender}${m.mine ? " msg-mine" : ""}${m.pending ? " msg-pending" : ""}`,
      dataset: m.seq ? { seq: String(m.seq) } : {},
    },
    el(
      "div",
      { className: "bubble" },
      el("p", { className: "msg-text", dir: textDir(m.text, convRtl(conv)), lang: conv.language, text: m.text }),
      el(
        "p",
        { className: "msg-meta", dir: "ltr", lang: i18n.lang },
        el("span", { className: "msg-sender", text: sender }),
        el("span", { className: "msg-time", text: m.pending ? "" : shortTime(m.sent_at) }),
        m.sender === "adviser" && m.mine ? el("span", { className: "msg-state", text: m.pending ? t("pending_send") : t("sent") }) : null,
      ),
    ),
  );
  return node;
}

function placeInOrder(list, node, seq) {
  for (const child of list.children) {
    if (child === node) continue;
    const other = child.dataset.seq ? Number(child.dataset.seq) : Infinity;
    if (other > seq) {
      list.insertBefore(node, child);
      return;
    }
  }
  list.append(node);
}

function scrollToEnd(conv) {
  const list = conv.view?.transcript;
  if (list) list.scrollTop = list.scrollHeight;
}

// ------------------------------------------------------------------ conversation view

function metaText(conv) {
  const parts = [
    cap(name("languages", conv.language)),
    regionName(conv.region),
    cap(name("audiences", conv.audience)),
  ];
  if (conv.waited_s !== null && conv.waited_s !== undefined) parts.push(t("waited", { t: duration(conv.waited_s) }));
  return parts.filter(Boolean).join(" · ");
}

function buildView(conv) {
  const id = conv.id;
  const titleId = `conv-${id}-title`;
  const root = el("article", { className: "conversation", id: `conv-${id}`, "aria-labelledby": titleId, hidden: true });
  const view = { root };
  conv.view = view;

  view.title = el("h2", { id: titleId, className: "conv-title" });
  view.meta = el("p", { className: "conv-meta" });
  view.note = el("p", { className: "transfer-note", hidden: true });
  view.presence = el("p", { className: "presence", role: "status" });
  view.closed = el("p", { className: "notice notice-info closed-notice", hidden: true });
  // A chat the visitor never wrote in is not registered: the adviser only puts it away.
  view.dismiss = el("button", { type: "button", className: "button button-secondary", hidden: true });
  view.dismiss.addEventListener("click", () => {
    drop(conv);
    renderLists();
    updateTitle();
    paneNotice(t("closed_no_registration_done", { alias: conv.alias }));
  });
  // The live region is a div around the list: a role on the <ol> itself would take its list semantics
  // away, and its items would be list items outside any list.
  view.transcript = el("ol", { className: "transcript", tabindex: "0" });
  view.log = el("div", { className: "transcript-log", role: "log", "aria-live": "polite", "aria-relevant": "additions" }, view.transcript);
  view.typing = el("p", { className: "typing", "aria-live": "polite" });

  // composer
  const textareaId = `compose-${id}`;
  view.textarea = el("textarea", {
    id: textareaId,
    rows: 3,
    maxlength: 4000,
    dir: "auto",
    "aria-describedby": `compose-hint-${id}`,
  });
  view.textarea.value = conv.draft;
  view.composeLabel = el("label", { for: textareaId, className: "visually-hidden" });
  view.send = el("button", { type: "submit", className: "button button-primary" });
  view.hint = el("p", { className: "hint composer-hint", id: `compose-hint-${id}` });
  // Canned replies: "/" in the empty box or the button beside Send (canned.js).
  view.canned = cannedPicker(conv, view.textarea, { onExpired: () => auth.expired() });
  const buttons = el("div", { className: "composer-buttons" }, view.send, view.canned.button);
  view.composer = el("form", { className: "composer", novalidate: true }, view.composeLabel, view.textarea, buttons, view.hint);
  view.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = view.textarea.value.trim();
    if (!text || conv.state !== "assigned") return;
    view.textarea.value = "";
    conv.draft = "";
    conv.lastTypingSent = 0;
    sendMessage(conv, text);
    view.textarea.focus();
  });
  view.textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      view.composer.requestSubmit();
    }
  });
  view.textarea.addEventListener("input", () => {
    conv.draft = view.textarea.value;
    const now = Date.now();
    if (conv.state === "assigned" && view.textarea.value.trim() && now - conv.lastTypingSent > TYPING_SEND_EVERY_MS) {
      conv.lastTypingSent = now;
      C.socket.send({ type: "typing", conversation_id: conv.id });
    }
  });

  // close with a confirmation step
  view.closeButton = el("button", { type: "button", className: "button button-secondary" });
  view.confirmText = el("p", { className: "confirm-text" });
  view.closeYes = el("button", { type: "button", className: "button button-danger" });
  view.closeNo = el("button", { type: "button", className: "button button-secondary" });
  view.confirm = el("div", { className: "confirm", hidden: true }, view.confirmText, view.closeYes, view.closeNo);
  view.closeButton.addEventListener("click", () => {
    view.closeButton.hidden = true;
    view.confirm.hidden = false;
    view.closeYes.focus();
  });
  view.closeNo.addEventListener("click", () => {
    view.confirm.hidden = true;
    view.closeButton.hidden = false;
    view.closeButton.focus();
  });
  view.closeYes.addEventListener("click", () => {
    view.confirm.hidden = true;
    view.closeButton.hidden = false;
    C.socket.send({ type: "close", conversation_id: conv.id });
  });

  view.transfer = buildTransfer(conv);
  view.abusive = abusiveControls(conv, (frame) => C.socket?.send(frame));
  view.actions = el("div", { className: "conv-actions" }, view.closeButton, view.confirm, view.abusive, view.transfer);
  view.registration = el("div", { className: "registration-slot" });
  view.notes = notesPanel(conv, { onExpired: () => auth.expired() }); // internal, never to the visitor

  root.addEventListener("focusin", () => markSeen(conv));
  root.addEventListener("pointerdown", () => markSeen(conv));
  root.append(
    el("header", { className: "conv-header" }, view.title, view.meta, view.note),
    threadPanel(conv), // earlier conversations, when the visitor came back with a return code
    view.presence,
    view.closed,
    view.dismiss,
    view.log,
    view.typing,
    view.composer,
    view.canned.panel,
    view.actions,
    view.notes.element,
    view.registration,
  );
  $("pane").append(root);
  renderTranscript(conv);
  renderView(conv);
  return view;
}

function buildTransfer(conv) {
  const id = conv.id;
  const group = `transfer-to-${id}`;
  const radio = (value, key) => {
    const rid = `${group}-${value}`;
    return el(
      "div",
      { className: "choice" },
      el("input", { type: "radio", name: group, id: rid, value }),
      el("label", { for: rid, dataset: { i18n: key } }),
    );
  };
  const regionSelect = el("select", { id: `${group}-region-select`, name: "region" });
  const languageSelect = el("select", { id: `${group}-language-select`, name: "language" });
  const note = el("textarea", { id: `${group}-note`, rows: 2, maxlength: 500, name: "note" });
  const urgent = el("input", { type: "checkbox", id: `${group}-urgent`, name: "urgent" });
  // A named colleague (issue 17): who is signed in and has room, from the "colleagues" frame (warm.js).
  const colleagueSelect = el("select", { id: `${group}-adviser-select`, name: "adviser" });
  const warm = el("input", { type: "checkbox", id: `${group}-warm`, name: "warm", checked: true });
  const error = el("p", { className: "field-error", id: `${group}-error`, role: "alert", hidden: true });
  const fieldset = el(
    "fieldset",
    { className: "field", "aria-describedby": `${group}-error` },
    el("legend", { dataset: { i18n: "transfer_legend" } }),
    radio("adviser", "transfer_colleague"),
    el(
      "div",
      { className: "sub-field" },
      el("label", { for: colleagueSelect.id, dataset: { i18n: "transfer_colleague_label" } }),
      colleagueSelect,
      el("div", { className: "choice" }, warm, el("label", { for: warm.id, dataset: { i18n: "transfer_warm" } })),
    ),
    radio("service", "transfer_at"),
    radio("region", "transfer_region"),
    el("div", { className: "sub-field" }, el("label", { for: regionSelect.id, dataset: { i18n: "transfer_region_label" } }), regionSelect),
    radio("language", "transfer_language"),
    el("div", { className: "sub-field" }, el("label", { for: languageSelect.id, dataset: { i18n: "transfer_language_label" } }), languageSelect),
  );
  const form = el(
    "form",
    { className: "transfer-form", novalidate: true },
    fieldset,
    el("div", { className: "field" }, el("label", { for: note.id, dataset: { i18n: "transfer_note_label" } }), note),
    el("div", { className: "choice" }, urgent, el("label", { for: urgent.id, dataset: { i18n: "transfer_urgent" } })),
    error,
    el("button", { type: "submit", className: "button button-primary", dataset: { i18n: "transfer_submit" } }),
  );
  regionSelect.addEventListener("change", () => {
    form.querySelector(`#${group}-region`).checked = true;
  });
  colleagueSelect.addEventListener("change", () => {
    form.querySelector(`#${group}-adviser`).checked = true;
  });
  languageSelect.addEventListener("change", () => {
    form.querySelector(`#${group}-language`).checked = true;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const choice = form.querySelector(`input[name="${group}"]:checked`)?.value;
    error.hidden = true;
    let to = null;
    if (choice === "adviser" && colleagueSelect.value && warm.checked) {
      // A warm transfer: the colleague reads it first and accepts or declines (transfer_offer).
      const offer = { type: "transfer_offer", conversation_id: conv.id, adviser_id: colleagueSelect.value };
      if (note.value.trim()) offer.note = note.value.trim();
      C.lastTransfer = conv.id;
      C.socket.send(offer);
      return;
    }
    if (choice === "adviser" && colleagueSelect.value) to = { adviser_id: colleagueSelect.value };
    else if (choice === "service") to = { service: "AT" };
    else if (choice === "region" && regionSelect.value) to = { region: regionSelect.value };
    else if (choice === "language" && languageSelect.value) to = { language: languageSelect.value };
    if (!to) {
      error.textContent = t("transfer_choose");
      error.hidden = false;
      return;
    }
    const frame = { type: "transfer", conversation_id: conv.id, to };
    if (note.value.trim()) frame.note = note.value.trim();
    if (urgent.checked) frame.urgent = true;
    C.lastTransfer = conv.id;
    C.socket.send(frame);
  });
  const details = el(
    "details",
    { className: "transfer" },
    el("summary", { dataset: { i18n: "transfer" } }),
    form,
  );
  details.addEventListener("toggle", () => {
    if (!details.open) return clearInterval(details.refresh);
    C.socket?.send({ type: "colleagues" }); // who is signed in and has room, kept fresh while open
    details.refresh = setInterval(() => C.socket?.send({ type: "colleagues" }), 5000);
  });
  details.colleagueSelect = colleagueSelect;
  details.regionSelect = regionSelect;
  details.languageSelect = languageSelect;
  details.error = error;
  return details;
}

function fillTransferOptions(conv) {
  const details = conv.view?.transfer;
  if (!details) return;
  fillColleagues(details.colleagueSelect);
  if (!ref.data) return;
  const keep = (select, options) => {
    const value = select.value;
    select.replaceChildren(...options);
    if (value) select.value = value;
  };
  keep(details.regionSelect, [
    el("option", { value: "", text: "—" }),
    ...ref.data.regions.map((r) => el("option", { value: r.code, text: name("regions", r.code) })),
  ]);
  keep(details.languageSelect, [
    el("option", { value: "", text: "—" }),
    ...ref.data.languages.map((l) => el("option", { value: l.code, lang: l.code, text: `${name("languages", l.code)} (${l.native})` })),
  ]);
}

function renderTranscript(conv) {
  const view = conv.view;
  const list = el("ol", { className: "transcript", tabindex: "0" });
  list.setAttribute("aria-label", conv.alias);
  view.log.setAttribute("aria-label", conv.alias);
  const seqs = [...conv.messages.keys()].sort((a, b) => a - b);
  for (const seq of seqs) list.append(messageNode(conv, conv.messages.get(seq)));
  for (const item of conv.pending.values()) {
    item.node = messageNode(conv, { seq: null, sender: "adviser", text: item.text, mine: true, pending: true });
    list.append(item.node);
  }
  view.transcript.replaceWith(list);
  view.transcript = list;
  view.transcript.hidden = !conv.hasTranscript && conv.messages.size === 0;
  scrollToEnd(conv);
}

function renderView(conv) {
  const view = conv.view;
  if (!view) return;
  applyStatic(view.root);
  view.title.replaceChildren(
    ...[
      el("span", { text: conv.alias }),
      conv.urgent ? el("span", { className: "badge badge-urgent", text: `⚠ ${t("urgent")}` }) : null,
      conv.transferred ? el("span", { className: "badge badge-info", text: t("transferred_badge") }) : null,
    ].filter(Boolean),
  );
  view.meta.textContent = metaText(conv);
  view.note.hidden = !conv.note;
  view.note.textContent = conv.note ? t("transfer_note", { note: conv.note }) : "";
  view.transcript.setAttribute("aria-label", conv.alias);
  view.log.setAttribute("aria-label", conv.alias);

  const open = conv.state === "assigned";
  const leftKey = conv.quickExit ? "presence_quick_exit" : "presence_left";
  const presenceKey = conv.presence === "away" ? "presence_away_long" : conv.presence === "left" ? leftKey : null;
  view.presence.textContent = presenceKey && open ? presenceText(conv, presenceKey) : "";
  view.presence.hidden = !(presenceKey && open);
  view.presence.dataset.presence = conv.presence || "";

  view.composer.hidden = !open;
  view.actions.hidden = !open;
  view.composeLabel.textContent = t("message_label", { alias: conv.alias });
  view.textarea.lang = conv.language;
  view.textarea.dir = convRtl(conv) ? "rtl" : "auto";
  view.send.textContent = t("send");
  view.hint.textContent = `${t("enter_hint")} ${t("canned_hint")}`;
  view.canned.relabel();
  view.notes.relabel();
  if (!open) view.canned.close({ focus: false });
  view.closeButton.textContent = t("close_conversation");
  view.confirmText.textContent = t("close_confirm", { alias: conv.alias });
  view.closeYes.textContent = t("close_yes");
  view.closeNo.textContent = t("close_no");
  view.abusive.relabel();
  fillTransferOptions(conv);
  renderTyping(conv);

  view.dismiss.hidden = !(conv.noRegistration && !open);
  view.dismiss.textContent = t("closed_no_registration_dismiss");
  if (!open && conv.noRegistration) {
    view.closed.hidden = false;
    view.closed.textContent = `${closedReasonText(conv)} ${t("closed_no_registration")}`;
  } else if (!open) {
    view.closed.hidden = false;
    view.closed.textContent = `${closedReasonText(conv)} ${t("closed_register")}`;
    if (!conv.form) {
      conv.form = new RegistrationForm(conv, { onSaved: registered, onExpired: () => auth.expired() });
      view.registration.append(conv.form.element);
    } else {
      conv.form.render();
    }
  } else {
    view.closed.hidden = true;
  }
}

function renderTyping(conv) {
  const node = conv.view?.typing;
  if (node) node.textContent = conv.typing && conv.state === "assigned" ? t("typing_visitor", { alias: conv.alias }) : "";
}

function setTyping(conv, on) {
  clearTimeout(conv.typingTimer);
  conv.typing = on;
  if (on) conv.typingTimer = setTimeout(() => setTyping(conv, false), TYPING_SHOW_MS);
  renderTyping(conv);
  renderLists();
}

// ------------------------------------------------------------------ lists, selection, title

function listItem(conv) {
  const selected = C.selected === conv.id;
  const badges = [];
  if (conv.urgent) badges.push(el("span", { className: "badge badge-urgent", text: `⚠ ${t("urgent")}` }));
  if (conv.isNew) badges.push(el("span", { className: "badge badge-new", text: t("new_badge") }));
  if (conv.unread > 0) badges.push(el("span", { className: "badge badge-unread", text: t("unread", { n: conv.unread }) }));
  let line3;
  if (conv.state === "closed") {
    line3 = closedReasonText(conv);
  } else if (conv.typing) line3 = t("typing_visitor", { alias: conv.alias });
  else if (conv.presence === "away") line3 = conv.awaySince ? t("presence_away_since_short", { t: shortTime(conv.awaySince) }) : t("presence_away");
  else if (conv.presence === "left") line3 = t(conv.quickExit ? "presence_quick_exit" : "presence_left");
  else line3 = conv.waited_s !== null && conv.waited_s !== undefined ? t("waited", { t: duration(conv.waited_s) }) : "";
  const button = el(
    "button",
    {
      type: "button",
      className: `conv-item${conv.urgent ? " is-urgent" : ""}${conv.isNew ? " is-new" : ""}`,
      dataset: { id: conv.id },
      "aria-current": selected ? "true" : null,
    },
    el("span", { className: "conv-line1" }, el("strong", { className: "conv-alias", text: conv.alias }), ...badges),
    el("span", { className: "conv-line2", text: [cap(name("languages", conv.language)), regionName(conv.region), name("audiences", conv.audience)].join(" · ") }),
    line3 ? el("span", { className: `conv-line3 presence-${conv.presence || "none"}`, text: line3 }) : null,
  );
  button.addEventListener("click", () => select(conv.id, { focus: true }));
  return el("li", {}, button);
}

function renderLists() {
  const focusedId = document.activeElement?.closest?.(".conv-item")?.dataset.id;
  const all = [...C.convs.values()];
  const active = all
    .filter((c) => c.state === "assigned")
    .sort((a, b) => Number(b.urgent) - Number(a.urgent) || String(a.started_at).localeCompare(String(b.started_at)));
  const pending = pendingConvs();
  $("conversation-list").replaceChildren(...active.map(listItem));
  $("pending-list").replaceChildren(...pending.map(listItem));
  $("no-conversations").hidden = active.length > 0;
  $("no-pending").hidden = pending.length > 0;
  $("conversations-count").textContent = C.me ? `(${t("conversations_count", { n: active.length, capacity: C.me.capacity })})` : "";
  $("pending-count").textContent = pending.length ? `(${pending.length})` : "";
  if (focusedId) document.querySelector(`.conv-item[data-id="${CSS.escape(focusedId)}"]`)?.focus();
}

/** Closed conversations waiting for their registration, oldest close first. */
function pendingConvs() {
  return [...C.convs.values()]
    .filter((c) => c.state === "closed" && !c.noRegistration)
    .sort((a, b) => String(a.closedAt).localeCompare(String(b.closedAt)));
}

function updateTitle() {
  const attention = [...C.convs.values()].filter((c) => c.isNew || c.unread > 0).length + W.offers.size;
  document.title = (attention ? `(${attention}) ` : "") + t("console_title");
}

/** Show a conversation. Only a user's own choice (``seen``) clears its "new" and "unread" marks. */
function select(id, { focus = false, seen = focus } = {}) {
  const conv = C.convs.get(id);
  if (!conv) return;
  C.selected = id;
  if (seen) markSeen(conv, false);
  closeInquiry();
  $("pane-empty").hidden = true;
  $("pane-notice").hidden = true;
  if (!conv.view) buildView(conv);
  for (const other of C.convs.values()) if (other.view) other.view.root.hidden = other.id !== id;
  renderLists();
  updateTitle();
  scrollToEnd(conv);
  if (focus) {
    if (conv.state === "assigned") conv.view.textarea.focus();
    else conv.form?.element.querySelector("input, select")?.focus();
  }
}

function markSeen(conv, render = true) {
  if (!conv.isNew && !conv.unread) return;
  conv.isNew = false;
  conv.unread = 0;
  if (render) {
    renderLists();
    updateTitle();
  }
}

function showPaneEmpty() {
  C.selected = null;
  $("pane-empty").hidden = false;
}

function drop(conv) {
  clearTimeout(conv.typingTimer);
  conv.view?.root.remove();
  C.convs.delete(conv.id);
  if (C.selected === conv.id) showPaneEmpty();
}

// ------------------------------------------------------------------ status

function setStatus(status) {
  C.status = status;
  $("status-available").setAttribute("aria-pressed", String(status === "available"));
  $("status-away").setAttribute("aria-pressed", String(status !== "available"));
  document.body.dataset.status = status;
}

function requestStatus(status) {
  if (!C.socket?.send({ type: "status", status })) return;
}

// ------------------------------------------------------------------ notifications

function notifyAssigned(conv) {
  conv.isNew = true;
  announce(t(conv.urgent ? "new_assignment_urgent" : "new_assignment", { alias: conv.alias }));
  notify(conv.urgent ? "urgent" : "assigned", conv.alias, conv.id, () => select(conv.id, { focus: true }));
  updateTitle();
  if (C.sound) beep();
}

function beep() {
  try {
    C.audio = C.audio || new AudioContext();
    const ctx = C.audio;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.4);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.45);
  } catch {
    /* no audio: the title and the badge still tell */
  }
}

function showError(text) {
  const node = $("console-error");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => {
    node.hidden = true;
  }, 8000);
}

// ------------------------------------------------------------------ frames

function onFrame(frame) {
  switch (frame.type) {
    case "state":
      onState(frame);
      break;
    case "status":
      setStatus(frame.status);
      announce(t(frame.status === "available" ? "status_now_available" : "status_now_away"));
      break;
    case "assigned": {
      if (!frame.conversation?.id) break;
      const known = C.convs.has(frame.conversation.id);
      if (offerGone(frame.conversation.id) && C.offerShown === frame.conversation.id) closeInquiry(); // accepted
      const conv = upsert(frame.conversation);
      conv.state = "assigned";
      if (!("visitor_present" in frame.conversation)) conv.presence = null;
      if (conv.view) {
        renderTranscript(conv);
        renderView(conv);
      }
      if (!known) notifyAssigned(conv);
      if (!C.selected) select(conv.id);
      renderLists();
      break;
    }
    case "message": {
      const conv = C.convs.get(frame.conversation_id);
      if (conv) addMessage(conv, frame);
      break;
    }
    case "ack": {
      const conv = C.convs.get(frame.conversation_id);
      if (conv) acknowledge(conv, frame.client_id, frame.seq);
      break;
    }
    case "typing": {
      const conv = C.convs.get(frame.conversation_id);
      if (conv && frame.sender === "visitor") setTyping(conv, true);
      break;
    }
    case "visitor": {
      const conv = C.convs.get(frame.conversation_id);
      if (!conv) break;
      conv.presence = frame.presence === "back" ? null : frame.presence;
      conv.awaySince = frame.presence === "away" ? conv.awaySince || new Date().toISOString() : null;
      if (frame.presence === "left" && frame.quick_exit) conv.quickExit = true;
      if (frame.presence === "left") announce(t(conv.quickExit ? "visitor_quick_exit_announce" : "visitor_left_announce", { alias: conv.alias }));
      renderView(conv);
      renderLists();
      break;
    }
    case "unassigned": {
      const conv = C.convs.get(frame.conversation_id);
      if (!conv) break;
      announce(t(frame.reason === "transferred" ? "transferred_done" : "requeued_done", { alias: conv.alias }));
      const wasSelected = C.selected === conv.id;
      drop(conv);
      renderLists();
      updateTitle();
      if (wasSelected) paneNotice(t(frame.reason === "transferred" ? "transferred_done" : "requeued_done", { alias: conv.alias }));
      break;
    }
    case "conversation_closed": {
      const conv = C.convs.get(frame.conversation_id);
      if (!conv) {
        refreshPending();
        break;
      }
      conv.state = "closed";
      conv.closeReason = frame.reason || null;
      conv.closedAt = new Date().toISOString();
      conv.closedSeen = Date.now();
      // The visitor never wrote: abandoned, not a registration (protocol 5.3, registration_due).
      if (frame.registration_due === false) conv.noRegistration = true;
      if (frame.reason === "visitor_left") conv.presence = "left";
      if (frame.quick_exit) conv.quickExit = true;
      setTyping(conv, false);
      if (conv.view) renderView(conv);
      if (frame.reason === "visitor_left") announce(t(conv.quickExit ? "visitor_quick_exit_announce" : "visitor_left_announce", { alias: conv.alias }));
      if (conv.noRegistration && C.selected !== conv.id) {
        drop(conv); // nothing to do with it: it never shows as pending
        announce(t("closed_no_registration_announce", { alias: conv.alias }));
      }
      renderLists();
      break;
    }
    case "error":
      onError(frame);
      break;
    case "notice":
      showStaffNotice(frame);
      break;
    case "colleagues":
      W.colleagues = Array.isArray(frame.advisers) ? frame.advisers : [];
      for (const conv of C.convs.values()) if (conv.view) fillColleagues(conv.view.transfer.colleagueSelect);
      break;
    case "transfer_offer":
      if (!frame.conversation?.id) break;
      offersSection(openOffer);
      // After a reconnect the open offers come again: only a new one is announced and notified.
      if (offerArrived(frame)) notify("offer", frame.conversation.alias, `${frame.conversation.id}-offer`, () => openOffer(frame));
      updateTitle();
      break;
    case "transfer_withdrawn":
      offerEnded(frame.conversation_id);
      updateTitle();
      break;
    case "transfer_offered":
    case "transfer_answer": {
      const conv = C.convs.get(frame.conversation_id);
      if (!conv) break;
      conv.offer = frame.type === "transfer_offered" ? { to: frame.to } : null;
      if (frame.type === "transfer_answer") {
        const key = frame.outcome === "accepted" ? "offer_accepted_by" : "offer_declined_by";
        conv.offerAnswer = t(key, { name: frame.by?.name || "", alias: conv.alias });
        announce(conv.offerAnswer);
      } else {
        conv.offerAnswer = null;
        conv.view?.transfer.removeAttribute("open");
      }
      renderOfferStatus(conv);
      break;
    }
    default:
      break; // additive protocol changes are ignored
  }
}

/** An offer to me is over: out of the list, and out of the pane if it was being read. */
function offerEnded(conversationId) {
  const offer = offerGone(conversationId);
  if (offer && C.offerShown === conversationId) {
    closeInquiry();
    showPaneEmpty();
    paneNotice(t("offer_withdrawn", { alias: offer.conversation.alias }));
  } else if (offer) announce(t("offer_withdrawn", { alias: offer.conversation.alias }));
}

/** After a (re)connect: offers that ended meanwhile go; the open ones follow as frames (transfer_offer
 * to me, transfer_offered for mine). */
function refreshOffers(frame) {
  if (!Array.isArray(frame.offers)) return;
  const open = new Set(frame.offers);
  for (const id of [...W.offers.keys()]) if (!open.has(id)) offerEnded(id);
  for (const conv of C.convs.values()) {
    if (!conv.offer) continue;
    conv.offer = null;
    renderOfferStatus(conv);
  }
}

function onState(frame) {
  C.me = frame.adviser;
  C.clientPrefix = `a${String(frame.adviser.id).replace(/[^A-Za-z0-9]/g, "").slice(0, 8)}_`;
  setStatus(frame.status);
  const present = new Set();
  for (const body of frame.conversations || []) {
    present.add(body.id);
    const conv = upsert(body);
    conv.state = "assigned";
    if (conv.view) {
      renderTranscript(conv);
      renderView(conv);
    }
  }
  // Ours before the reconnect but no longer: closed meanwhile (then pending) or moved back to the queue.
  const missing = [...C.convs.values()].filter((c) => c.state === "assigned" && !present.has(c.id));
  // After a reconnect: ask for anything after what we hold, and resend what was never acknowledged.
  const wanted = {};
  for (const id of present) wanted[id] = C.convs.get(id).lastSeq;
  if (present.size) C.socket.send({ type: "sync", conversations: wanted });
  for (const id of present) resendPending(C.convs.get(id));
  refreshPending(missing);
  refreshOffers(frame);
  if (!C.selected && present.size) select([...present][0]);
  renderLists();
  updateTitle();
}

function onError(frame) {
  if (frame.ref === "transfer_accept" && C.offerView) {
    C.offerView.status.textContent = frame.code === "not_found" ? t("offer_gone") : frame.message;
    C.offerView.status.hidden = false;
    return;
  }
  if (frame.ref === "transfer_offer" && C.lastTransfer) frame = { ...frame, ref: "transfer" }; // shown in the form
  if (frame.ref === "transfer" && C.lastTransfer) {
    const conv = C.convs.get(C.lastTransfer);
    const details = conv?.view?.transfer;
    if (details) {
      const fields = frame.fields ? Object.entries(frame.fields).map(([k, v]) => `${k}: ${v}`).join("; ") : "";
      details.error.textContent = t("error_generic", { message: fields || frame.message || frame.code });
      details.error.hidden = false;
      return;
    }
  }
  if (frame.code === "rate_limited") {
    const wait = Math.max(200, Number(frame.retry_after_ms) || 1000);
    C.holdUntil = Date.now() + wait;
    setTimeout(() => {
      for (const conv of C.convs.values()) if (conv.state === "assigned") resendPending(conv);
    }, wait);
  }
  showError(t("error_generic", { message: frame.message || frame.code }));
}

// ------------------------------------------------------------------ registration

async function refreshPending(missing = []) {
  const asked = Date.now();
  let data;
  try {
    data = await api("/api/v1/registrations/pending");
  } catch (err) {
    if (err.status === 401) auth.expired();
    return;
  }
  const ids = new Set();
  for (const body of data.conversations || []) {
    ids.add(body.id);
    const known = C.convs.get(body.id);
    const conv = known || upsert({ ...body, state: "closed" });
    conv.state = "closed";
    conv.closeReason = body.close_reason || conv.closeReason;
    conv.closedAt = body.closed_at || conv.closedAt;
    if (conv.view) renderView(conv);
  }
  for (const conv of [...C.convs.values()]) {
    // Closed after we asked: the answer may predate it, so keep it until the next refresh.
    const fresh = conv.closedSeen && conv.closedSeen >= asked;
    const looking = conv.noRegistration && C.selected === conv.id; // put away by its own button
    const gone = conv.state === "closed" && !ids.has(conv.id) && !conv.form?.busy && !fresh && !looking;
    if (gone || (missing.includes(conv) && !ids.has(conv.id))) drop(conv);
  }
  renderLists();
  updateTitle();
}

// ------------------------------------------------------------------ inquiries from other channels

/** The form for a phone call, meeting, e-mail …, in the pane in place of a conversation. */
async function openInquiry() {
  // The service's own categories are still loading right after sign-in: the form lists them once,
  // so wait for them (a little) rather than leave them out.
  await Promise.race([C.ownCategories, new Promise((resolve) => setTimeout(resolve, 3000))]);
  C.selected = null;
  for (const conv of C.convs.values()) if (conv.view) conv.view.root.hidden = true;
  renderLists();
  $("pane-empty").hidden = true;
  $("pane-notice").hidden = true;
  if (!C.inquiry) {
    C.inquiry = new InquiryForm({
      user: C.user,
      onSaved: inquirySaved,
      onExpired: () => auth.expired(),
      onCancel: () => {
        closeInquiry();
        showPaneEmpty();
        $("new-inquiry").focus();
      },
    });
    $("inquiry-view").replaceChildren(C.inquiry.element);
  }
  $("inquiry-view").hidden = false;
  C.inquiry.element.querySelector('input[name="is_case"]')?.focus();
}

function closeInquiry() {
  C.inquiry = null;
  C.offerView = null;
  C.offerShown = null;
  $("inquiry-view").replaceChildren();
  $("inquiry-view").hidden = true;
}

function inquirySaved(_conv, _how, saved) {
  C.mine?.refresh();
  const ref = saved?.case?.ref || saved?.ref;
  const text = saved?.case_id && ref ? t("inquiry_saved_case", { ref }) : t("inquiry_saved");
  closeInquiry();
  showPaneEmpty();
  paneNotice(text);
  announce(text);
}

/** Saved: the next pending registration opens at once (the oldest), so a backlog is worked through
 * without going back to the list; with none left the pane says it was saved. */
function registered(conv, how) {
  const text = t(how === "already" ? "reg_already" : "reg_saved", { alias: conv.alias });
  drop(conv);
  C.mine?.refresh();
  const next = pendingConvs()[0];
  if (next) {
    select(next.id, { focus: true });
    flash(`${text} ${t("reg_next_opened", { alias: next.alias })}`);
    announce(`${text} ${t("reg_next_opened", { alias: next.alias })}`);
    return;
  }
  renderLists();
  updateTitle();
  paneNotice(text);
  announce(text);
}

/** A confirmation above whatever the pane shows, without taking the focus. */
function flash(text) {
  const node = $("pane-notice");
  node.textContent = text;
  node.hidden = false;
}

// ------------------------------------------------------------------ warm transfer (issue 17)

/** The holder's line under the actions: offered to whom, and a way to withdraw it; or the answer. */
function renderOfferStatus(conv) {
  const view = conv.view;
  if (!view) return;
  if (!view.offerStatus) {
    view.offerText = el("p", { className: "offer-status-text", role: "status" });
    view.offerCancel = el("button", { type: "button", className: "button button-quiet" });
    view.offerCancel.addEventListener("click", () => C.socket?.send({ type: "transfer_cancel", conversation_id: conv.id }));
    view.offerStatus = el("div", { className: "offer-status notice notice-info" }, view.offerText, view.offerCancel);
    view.actions.after(view.offerStatus);
  }
  const text = conv.offer ? t("offer_waiting", { name: conv.offer.to?.name || "" }) : conv.offerAnswer || "";
  view.offerText.textContent = text;
  view.offerCancel.textContent = t("offer_cancel");
  view.offerCancel.hidden = !conv.offer;
  view.offerStatus.hidden = !text;
}

/** An offer to me, read in the pane before accepting or declining. */
function openOffer(offer) {
  C.selected = null;
  for (const conv of C.convs.values()) if (conv.view) conv.view.root.hidden = true;
  renderLists();
  $("pane-empty").hidden = true;
  $("pane-notice").hidden = true;
  C.offerView = offerView(offer, (frame) => C.socket?.send(frame));
  C.inquiry = C.offerView;
  C.offerShown = offer.conversation.id;
  $("inquiry-view").replaceChildren(C.offerView.element);
  $("inquiry-view").hidden = false;
  C.offerView.accept.focus();
}

// ------------------------------------------------------------------ amendments

async function openAmend(reg) {
  let fresh;
  try {
    fresh = await api(`/api/v1/registrations/${encodeURIComponent(reg.id)}`);
  } catch (err) {
    if (err.status === 401) auth.expired();
    else showError(t("error_generic", { message: err.message }));
    return;
  }
  C.selected = null;
  for (const conv of C.convs.values()) if (conv.view) conv.view.root.hidden = true;
  renderLists();
  $("pane-empty").hidden = true;
  $("pane-notice").hidden = true;
  C.inquiry = new AmendForm(
    { ...fresh, alias: reg.alias },
    {
      onSaved: () => {
        const text = t("amend_saved", { what: reg.alias || cap(name("channels", reg.channel)) });
        closeInquiry();
        showPaneEmpty();
        paneNotice(text);
        announce(text);
        C.mine?.refresh();
      },
      onExpired: () => auth.expired(),
      onCancel: () => {
        closeInquiry();
        showPaneEmpty();
        document.querySelector(`#mine-list .conv-item[data-id="${CSS.escape(reg.id)}"]`)?.focus();
      },
    },
  );
  $("inquiry-view").replaceChildren(C.inquiry.element);
  $("inquiry-view").hidden = false;
  C.inquiry.element.querySelector('input[name="is_case"]:checked, input[name="is_case"]')?.focus();
}

function paneNotice(text) {
  if (C.selected) return;
  const node = $("pane-notice");
  node.textContent = text;
  node.hidden = false;
  $("pane-empty").hidden = false;
  node.focus();
}

// ------------------------------------------------------------------ start-up

function relabel() {
  renderLists();
  updateTitle();
  C.inquiry?.render();
  C.mine?.render();
  renderOffers();
  relabelNotify();
  relabelStaffNotices();
  relabelThread();
  for (const conv of C.convs.values()) {
    if (!conv.view) continue;
    renderTranscript(conv);
    renderView(conv);
  }
}

function start(user) {
  C.user = user || null;
  if (!C.mine) C.mine = new MyRegistrations({ open: openAmend, onExpired: () => auth.expired() });
  setupNotify();
  C.mine.refresh();
  C.ownCategories = loadOwnCategories(); // for the registration forms; the common ones are loaded already
  const chats = CHAT_SERVICES.includes(user?.service);
  // IR and KT advisers never receive chats: no console socket (it would be refused), no status.
  $("no-chat-notice").hidden = chats;
  for (const id of ["status-available", "status-away", "sound"]) $(id).closest(".status-control, .sound").hidden = !chats;
  $("connection").hidden = !chats;
  showNotify(chats);
  if (!chats) return;
  C.socket = new Socket("/ws/adviser", {
    onOpen() {},
    onFrame,
    onDown: async () => {
      C.connected = false;
      return auth.expired();
    },
    onState(state) {
      C.connected = state === "connected";
      showConnection(state);
      $("status-available").disabled = !C.connected;
      $("status-away").disabled = !C.connected;
    },
  });
  C.socket.start();
  startLeftMessages({ onExpired: () => auth.expired() });
  refreshPending();
}

/** With conversations still open, the first click only asks; a second one within 6 s logs out. */
function confirmLogout() {
  const active = [...C.convs.values()].filter((c) => c.state === "assigned").length;
  const button = $("logout-button");
  if (!active || button.dataset.armed === "1") {
    clearTimeout(confirmLogout.timer);
    delete button.dataset.armed;
    button.textContent = t("logout");
    return true;
  }
  button.dataset.armed = "1";
  button.textContent = t("logout_confirm", { n: active });
  announce(t("logout_confirm", { n: active }));
  confirmLogout.timer = setTimeout(() => {
    delete button.dataset.armed;
    button.textContent = t("logout");
  }, 6000);
  return false;
}

function stop() {
  C.socket?.stop();
  C.socket = null;
  closeInquiry();
  clearStaffNotices();
  W.offers.clear();
  renderOffers();
  stopLeftMessages();
  if (C.mine) {
    C.mine.items = [];
    C.mine.render();
  }
  for (const conv of [...C.convs.values()]) drop(conv);
  C.me = null;
  renderLists();
  updateTitle();
}

async function init() {
  initPage();
  i18n.onChange(relabel);
  try {
    C.sound = localStorage.getItem(SOUND_KEY) === "1";
  } catch {
    C.sound = false;
  }
  $("sound").checked = C.sound;
  $("sound").addEventListener("change", () => {
    C.sound = $("sound").checked;
    try {
      localStorage.setItem(SOUND_KEY, C.sound ? "1" : "0");
    } catch {
      /* ignore */
    }
    if (C.sound) beep();
  });
  $("new-inquiry").addEventListener("click", openInquiry);
  $("status-available").addEventListener("click", () => requestStatus("available"));
  $("status-away").addEventListener("click", () => requestStatus("away"));
  document.addEventListener("visibilitychange", () => {
    const conv = C.selected && C.convs.get(C.selected);
    if (!document.hidden && conv && conv.view?.root.contains(document.activeElement)) markSeen(conv);
  });
  try {
    await loadReference();
  } catch {
    /* labels fall back to codes */
  }
  auth = setupAuth({
    role: "adviser",
    wrongRoleKey: "login_wrong_role_console",
    onReady: start,
    onLoggedOut: stop,
    beforeLogout: confirmLogout,
  });
  await auth.check();
  document.documentElement.classList.add("ready");
}

init();
