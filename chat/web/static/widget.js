// nora-chat visitor widget: choices → queue → conversation → end, speaking the v1 wire contract (docs/protocol.md §3).
//
// Privacy rules kept here (docs/design.md §6, docs/reliability.md 37):
// - the resume token lives only in sessionStorage (never localStorage or cookies);
// - the transcript lives only in memory (a reload resumes with last_seq 0 and gets it all back);
// - every text from the server is inserted with textContent, never as HTML;
// - quick exit (button, Esc twice within 1 s, Shift three times within 5 s) ends the chat,
//   forgets everything, blanks the page and replaces it with a neutral site.

import { forgetReturn, offerCode, relabelReturn, renderLeaveOffer, setupReturn } from "./return_code.js";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";

// The neutral site is configured in one place: the quick-exit link's href in index.html.
const QUICK_EXIT = $("quick-exit");
const NEUTRAL_URL = QUICK_EXIT.getAttribute("href");

const STORE_KEY = "nora-chat.conversation"; // sessionStorage: {token, language, rtl}
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOW_MS = 5000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const STATUS_REFRESH_MS = 30000;
const ESCAPE_WINDOW_MS = 1000;
const SHIFT_WINDOW_MS = 5000;
const EMERGENCY_CODES = ["emergency_police", "child_helpline"];

const S = freshState();
S.ui = "nb"; // the page language, as the server chose it (?lang=, Accept-Language, nb)
S.texts = null; // GET /api/v1/texts for S.ui (embedded in the page at first)
S.ref = null;

function freshState() {
  return {
    phase: "setup", // setup | connecting | queued | assigned | ended
    ws: null,
    live: false, // this socket has a conversation (after started / resumed)
    token: null,
    language: null,
    rtl: false,
    adviser: null,
    queue: null,
    lastSeq: 0,
    messages: new Map(), // seq -> <li>
    pending: new Map(), // client_id -> {text, el}, in the order written
    inFlight: null, // the one client_id sent and not yet acknowledged (one at a time keeps the order)
    pendingStart: null,
    leaveRequested: false,
    attempt: 0,
    reconnectTimer: null,
    retryTimer: null,
    typingTimer: null,
    lastTypingSent: 0,
    holdUntil: 0, // rate limited: send nothing new before this time
    wasDisconnected: false,
    ended: null, // {reason, next_opening, help_lines}
    feedbackGiven: false,
  };
}

// ------------------------------------------------------------------ text

// Every text comes from the server's catalogue (chat/locale/<lang>/visitor.po). A key it lacks shows
// as ⟦key⟧ (and one the language lacks arrives marked "[en] "): never silently in another language.
function t(key, vars = {}) {
  const table = S.texts?.texts || {};
  const text = table[key] ?? `⟦${key}⟧`;
  const facts = S.texts?.facts || {};
  const values = { hours: facts.retention_hours, controller: facts.controller, years: facts.registration_years, ...vars };
  return text.replace(/\{(\w+)\}/g, (whole, name) => (values[name] !== undefined ? String(values[name]) : whole));
}

function has(key) {
  return Boolean(S.texts?.texts && key in S.texts.texts);
}

function pageDir() {
  return S.texts?.dir || "ltr";
}

function label(entry) {
  if (!entry) return "";
  const names = entry.name || {};
  return names[S.ui] || names.nb || entry.code;
}

function languageEntry(code) {
  return S.ref?.languages.find((l) => l.code === code) || null;
}

/** A language by its own name, tagged with its language so screen readers say it right. */
function languageLabelNode(entry, forId) {
  return el("label", { for: forId, lang: entry.code, dir: entry.rtl ? "rtl" : "ltr", text: entry.native || entry.code });
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** The ⓘ of system lines as an inline SVG: the character itself is missing from common Linux fonts. */
function infoIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 20 20");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("class", "msg-icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const circle = document.createElementNS(SVG_NS, "circle");
  for (const [k, v] of Object.entries({ cx: 10, cy: 10, r: 8.5, fill: "none", stroke: "currentColor", "stroke-width": 1.6 })) {
    circle.setAttribute(k, String(v));
  }
  const dot = document.createElementNS(SVG_NS, "circle");
  for (const [k, v] of Object.entries({ cx: 10, cy: 6, r: 1.3, fill: "currentColor" })) dot.setAttribute(k, String(v));
  const bar = document.createElementNS(SVG_NS, "path");
  bar.setAttribute("d", "M10 9v6");
  bar.setAttribute("stroke", "currentColor");
  bar.setAttribute("stroke-width", "2");
  bar.setAttribute("stroke-linecap", "round");
  svg.append(circle, dot, bar);
  return svg;
}

function formatWait(seconds) {
  if (seconds === null || seconds === undefined) return t("wait_unknown");
  if (seconds <= 0) return t("wait_none");
  if (seconds < 60) return t("wait_under_minute");
  return t("wait_minutes", { n: Math.max(2, Math.ceil(seconds / 60)) });
}

// Dates are built from the catalogue's words (weekday.1 … weekday.7, when_today …) and 24-hour
// times in Europe/Oslo, so they read in the page language even where the browser has no locale data.
const OSLO_PARTS = new Intl.DateTimeFormat("en-GB", {
  timeZone: "Europe/Oslo", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  weekday: "short", hourCycle: "h23",
});
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

function osloParts(date) {
  const parts = Object.fromEntries(OSLO_PARTS.formatToParts(date).map((p) => [p.type, p.value]));
  return { day: `${parts.year}-${parts.month}-${parts.day}`, weekday: WEEKDAYS.indexOf(parts.weekday) + 1, time: `${parts.hour}:${parts.minute}` };
}

function formatWhen(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const when = osloParts(date);
  const today = osloParts(new Date());
  const tomorrow = osloParts(new Date(Date.now() + 24 * 3600 * 1000));
  if (when.day === today.day) return t("when_today", { time: when.time });
  if (when.day === tomorrow.day) return t("when_tomorrow", { time: when.time });
  return t("when_day", { day: t(`weekday.${when.weekday}`), time: when.time });
}

function formatTime(iso) {
  const date = iso ? new Date(iso) : new Date();
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(date);
}

// In a conversation in a right-to-left language, message texts are dir="rtl" unless their first strong
// letter is left-to-right (an adviser answering in Norwegian), which would otherwise flip punctuation.
const RTL_LETTER = /[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Adlam}]/u;
function textDir(text) {
  if (!S.rtl) return "auto";
  const first = String(text).match(/\p{L}/u);
  return !first || RTL_LETTER.test(first[0]) ? "rtl" : "ltr";
}

// The page's own texts run in the page's direction even inside a chat area in another direction.
const UI_TEXT_IDS = ["chat-head", "connection", "typing", "enter-hint", "leave-confirm", "ended", "transcript-label"];

function newClientId() {
  // crypto.getRandomValues works outside secure contexts too; 128 bits, [0-9a-f].
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return "v" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------ storage (sessionStorage only)

function readStore() {
  try {
    const raw = sessionStorage.getItem(STORE_KEY);
    if (!raw) return null;
    const value = JSON.parse(raw);
    return value && typeof value.token === "string" ? value : null;
  } catch {
    return null;
  }
}

function writeStore() {
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify({ token: S.token, language: S.language, rtl: S.rtl }));
  } catch {
    /* storage unavailable: the chat still works, only a reload cannot resume */
  }
}

// A random id for this tab's browser session, sent with start and resume: a chat an adviser ends as
// abusive keeps this session (not the visitor, not another tab) from starting another for a while
// (docs/design.md §6.7). Like the token, it lives in sessionStorage only; quick exit deletes it.
const SESSION_KEY = "nora-chat.session";

function browserSession() {
  try {
    let id = sessionStorage.getItem(SESSION_KEY);
    if (!id) {
      id = newClientId().slice(1); // 128 random bits as 32 hex characters
      sessionStorage.setItem(SESSION_KEY, id);
    }
    return id;
  } catch {
    return undefined; // storage unavailable: nothing to send
  }
}

function forgetStore() {
  try {
    sessionStorage.removeItem(STORE_KEY);
  } catch {
    /* ignore */
  }
}

// ------------------------------------------------------------------ static texts and page language

function applyStatic() {
  const root = document.documentElement;
  root.lang = S.ui;
  root.dir = pageDir();
  document.title = t("page_title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  }
  $("ui-lang").value = S.ui;
  $("privacy-record-kept").hidden = !S.texts?.facts?.registration_years;
  for (const id of UI_TEXT_IDS) {
    $(id).dir = pageDir();
    $(id).lang = S.ui;
  }
}

function readEmbeddedTexts() {
  try {
    const data = JSON.parse($("nora-texts").textContent);
    if (data && data.texts) {
      S.texts = data;
      S.ui = data.language;
    }
  } catch {
    /* no embedded texts: loadTexts() below asks the server */
  }
}

async function loadTexts(code) {
  const response = await fetch(`/api/v1/texts?lang=${encodeURIComponent(code)}`, {
    headers: { Accept: "application/json" }, credentials: "omit",
  });
  if (!response.ok) throw new Error(`texts ${response.status}`);
  return response.json();
}

async function setUiLanguage(code) {
  if (code === S.ui && S.texts) return;
  let data;
  try {
    data = await loadTexts(code);
  } catch {
    $("ui-lang").value = S.ui;
    showGlobalError(t("error.unavailable"));
    return;
  }
  S.texts = data;
  S.ui = data.language;
  // The address keeps the choice, so a reload (which resumes the chat) shows the same language.
  const url = new URL(location.href);
  url.searchParams.set("lang", S.ui);
  history.replaceState(history.state, "", url);
  if (S.live) send({ type: "page_language", page_language: S.ui });
  applyStatic();
  renderReference();
  renderStatus();
  renderSwitchOffer();
  renderChatHead();
  relabelMessages();
  renderEnded();
  relabelReturn();
}

// ------------------------------------------------------------------ reference data and the setup form

async function loadReference() {
  const response = await fetch("/api/v1/reference", { headers: { Accept: "application/json" }, credentials: "omit" });
  if (!response.ok) throw new Error(`reference ${response.status}`);
  S.ref = await response.json();
}

function fillSelect(select, options, keep) {
  const value = keep ?? select.value;
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === value)) select.value = value;
}

function renderReference() {
  if (!S.ref) return;
  const languageSelect = $("language");
  fillSelect(
    languageSelect,
    S.ref.languages.map((l) => el("option", { value: l.code, lang: l.code, dir: l.rtl ? "rtl" : "ltr", text: l.native || l.code })),
    languageSelect.value || (languageEntry(S.ui) ? S.ui : "nb"),
  );

  const regionSelect = $("region");
  fillSelect(regionSelect, [
    el("option", { value: "", text: t("region_choose") }),
    ...S.ref.regions.map((r) => el("option", { value: r.code, lang: "nb", text: r.name?.nb || r.code })),
    el("option", { value: "none", text: t("region_none") }),
  ]);

  const audienceSelect = $("audience");
  fillSelect(
    audienceSelect,
    S.ref.audiences.map((a) => el("option", { value: a.code, text: has(`audience.${a.code}`) ? t(`audience.${a.code}`) : label(a) })),
    audienceSelect.value || "youth",
  );

  renderAlsoLanguages();
  renderHelpLines();
}

function renderAlsoLanguages() {
  if (!S.ref) return;
  const box = $("also-choices");
  const chosen = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  const main = $("language").value;
  box.replaceChildren(
    ...S.ref.languages
      .filter((l) => l.code !== main)
      .map((l) => {
        const id = `also-${l.code}`;
        return el(
          "div",
          { className: "choice" },
          el("input", { type: "checkbox", name: "also_languages", id, value: l.code, checked: chosen.has(l.code) }),
          languageLabelNode(l, id),
        );
      }),
  );
}

/** Chose a chat language other than the page's: offer, in that language, to show the page in it. */
function renderSwitchOffer() {
  const box = $("switch-offer");
  const code = $("language").value;
  const target = S.texts?.languages?.find((l) => l.code === code);
  if (!target || code === S.ui) {
    box.hidden = true;
    return;
  }
  box.lang = target.code;
  box.dir = target.dir;
  $("switch-offer-text").textContent = target.offer;
  $("switch-offer-yes").textContent = target.offer_yes;
  box.hidden = false;
}

// Help-line hours are data an administrator writes ("24/7", "weekdays 9–16", "daily 14–22"): the
// usual shapes are said in the page language; anything else is shown as written.
const HOURS = [
  [/^24\/7$/i, "hours_always"],
  [/^24\/7 \(phone\)$/i, "hours_always_phone"],
  [/^weekdays (\d{1,2})\s*[–-]\s*(\d{1,2})$/i, "hours_weekdays"],
  [/^daily (\d{1,2})\s*[–-]\s*(\d{1,2})$/i, "hours_daily"],
];

function hoursText(hours) {
  for (const [pattern, key] of HOURS) {
    const match = String(hours).trim().match(pattern);
    if (match) return { text: t(key, { from: match[1], to: match[2] }), local: true };
  }
  return { text: hours, local: false };
}

function helpLineItem(line, urgent) {
  const digits = String(line.number).replace(/[^0-9+]/g, "");
  const named = has(`help.${line.code}`);
  const hours = line.hours ? hoursText(line.hours) : null;
  return el(
    "li",
    { className: urgent ? "help-line help-line-urgent" : "help-line" },
    el("a", { className: "help-number", href: `tel:${digits}`, dir: "ltr", text: line.number }),
    el("span", { className: "help-name", lang: named ? null : "nb", text: named ? t(`help.${line.code}`) : label(line) }),
    hours ? el("span", { className: "help-hours", lang: hours.local ? null : "en", text: hours.text }) : null,
  );
}

function renderHelpLines() {
  const lines = S.ref?.help_lines;
  if (!lines?.length) return;
  const main = EMERGENCY_CODES.map((code) => lines.find((l) => l.code === code)).filter(Boolean);
  if (main.length) $("help-lines-main").replaceChildren(...main.map((l, i) => helpLineItem(l, i === 0)));
  const rest = lines.filter((l) => !EMERGENCY_CODES.includes(l.code));
  $("help-lines-more").replaceChildren(...rest.map((l) => helpLineItem(l, false)));
  $("more-help").hidden = rest.length === 0;
  $("closed-help").replaceChildren(...lines.map((l, i) => helpLineItem(l, i === 0)));
}

function regionChoice() {
  const value = $("region").value;
  if (value === "") return undefined; // not chosen yet
  return value === "none" ? null : value;
}

// ------------------------------------------------------------------ status before starting

let statusRequest = 0;

/** Fetch /api/v1/status for the current choices. ``quiet``: a periodic refresh that only redraws
 * (and so only makes screen readers speak) when the answer changed. */
async function refreshStatus({ quiet = false } = {}) {
  const mine = ++statusRequest;
  const params = new URLSearchParams();
  const language = $("language").value;
  const region = regionChoice();
  if (language) params.set("language", language);
  if (region) params.set("region", region);
  const before = JSON.stringify(S.status ?? null);
  if (!quiet) {
    S.status = "loading";
    renderStatus();
  }
  try {
    const response = await fetch(`/api/v1/status?${params}`, {
      headers: { Accept: "application/json" }, credentials: "omit", cache: "no-store",
    });
    if (!response.ok) throw new Error(`status ${response.status}`);
    const data = await response.json();
    if (mine !== statusRequest) return;
    S.status = data;
  } catch {
    if (mine !== statusRequest) return;
    S.status = "failed";
  }
  if (!quiet || JSON.stringify(S.status) !== before) renderStatus();
}

function renderStatus() {
  const box = $("status");
  const status = S.status;
  box.classList.remove("status-open", "status-closed", "status-waiting");
  if (!status || status === "loading") {
    box.replaceChildren(el("span", { text: t("status_loading") }));
    return;
  }
  if (status === "failed") {
    box.replaceChildren(el("span", { text: t("status_failed") }));
    return;
  }
  renderClosed(!status.open, status.next_opening);
  renderLeaveOffer(status);
  const parts = [];
  if (!status.open) {
    box.classList.add("status-closed");
    parts.push(el("strong", { text: t("status_closed") }));
    if (status.next_opening) parts.push(" ", el("span", { text: t("status_next_opening", { when: formatWhen(status.next_opening) }) }));
  } else {
    box.classList.add(status.advisers_available ? "status-open" : "status-waiting");
    parts.push(el("strong", { text: t(status.advisers_available ? "status_open_available" : "status_open_none") }));
    parts.push(" ", el("span", { className: "wait", text: t("wait_estimate", { wait: formatWait(status.estimated_wait_s) }) }));
  }
  box.replaceChildren(...parts);
}

/** Closed: said at the top with the next opening and the help lines, and Start cannot be pressed. */
function renderClosed(closed, nextOpening) {
  $("closed-banner").hidden = !closed;
  $("closed-next").textContent = closed && nextOpening ? t("status_next_opening", { when: formatWhen(nextOpening) }) : "";
  $("start-button").disabled = closed || S.phase !== "setup";
  $("start-closed-hint").hidden = !closed;
}

// ------------------------------------------------------------------ starting

function showFieldError(id, key) {
  const node = $(`${id}-error`);
  node.textContent = key ? t(key) : "";
  node.hidden = !key;
  node.dataset.key = key || "";
  const target = $(id);
  if (key) target.setAttribute("aria-invalid", "true");
  else target.removeAttribute("aria-invalid");
}

function onStart(event) {
  event.preventDefault();
  hideGlobalError();
  const region = regionChoice();
  const audience = $("audience").value;
  showFieldError("region", region === undefined ? "region_required" : null);
  showFieldError("audience", audience ? null : "audience_required");
  if (region === undefined) {
    $("region").focus();
    return;
  }
  if (!audience) {
    $("audience").focus();
    return;
  }
  const language = $("language").value;
  S.language = language;
  S.rtl = Boolean(languageEntry(language)?.rtl);
  S.pendingStart = {
    type: "start",
    language,
    region,
    audience,
    urgent: $("urgent").checked,
    also_languages: [...document.querySelectorAll("input[name=also_languages]:checked")].map((i) => i.value),
    page_language: S.ui,
    session: browserSession(),
  };
  S.phase = "connecting";
  showChat();
  connect();
}

// ------------------------------------------------------------------ the websocket

function wsUrl() {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws/visitor`;
}

function send(frame) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) {
    S.ws.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

/** ``existing``: the open socket a return code opened (return_code.js); the start is sent on it. */
function connect(existing = null) {
  clearTimeout(S.reconnectTimer);
  S.reconnectTimer = null;
  if (S.phase === "ended" || S.phase === "setup") return;
  S.live = false;
  let ws;
  try {
    ws = existing || new WebSocket(wsUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  S.ws = ws;
  ws.addEventListener("open", () => {
    if (S.ws !== ws) return;
    if (S.token) send({ type: "resume", token: S.token, last_seq: S.lastSeq, page_language: S.ui, session: browserSession() });
    else if (S.pendingStart) send(S.pendingStart);
  });
  ws.addEventListener("message", (event) => {
    if (S.ws !== ws || typeof event.data !== "string") return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && typeof frame.type === "string") handleFrame(frame);
  });
  ws.addEventListener("close", () => {
    if (S.ws !== ws) return;
    S.ws = null;
    S.live = false;
    if (S.phase === "ended" || S.phase === "setup") return;
    scheduleReconnect();
  });
  if (existing && S.pendingStart) send(S.pendingStart);
}

/** Go on live after a return code: a new conversation of the thread, on the socket the code opened. */
function continueThread(ws, thread) {
  resetConversation();
  S.language = thread.language || null;
  S.rtl = Boolean(languageEntry(thread.language)?.rtl);
  S.pendingStart = { type: "start", page_language: S.ui };
  S.phase = "connecting";
  showChat();
  connect(ws);
}

function scheduleReconnect() {
  if (S.reconnectTimer) return;
  S.wasDisconnected = true;
  showConnection(t("reconnecting"));
  const base = BACKOFF_MS[Math.min(S.attempt, BACKOFF_MS.length - 1)];
  S.attempt += 1;
  const delay = Math.round(base * (0.75 + Math.random() * 0.5));
  S.reconnectTimer = setTimeout(connect, delay);
}

function dropSocket() {
  const ws = S.ws;
  S.ws = null;
  S.live = false;
  if (ws) {
    try {
      ws.close(1000);
    } catch {
      /* ignore */
    }
  }
}

function handleFrame(frame) {
  switch (frame.type) {
    case "started":
      S.token = frame.token;
      S.pendingStart = null;
      writeStore();
      becameLive();
      if (S.phase === "connecting") S.phase = "queued";
      renderChatHead();
      break;
    case "resumed":
      becameLive();
      if (frame.state === "queued") S.phase = "queued";
      else if (frame.state === "assigned") S.phase = "assigned";
      renderChatHead();
      break;
    case "queue":
      S.queue = { position: frame.position, estimated_wait_s: frame.estimated_wait_s };
      if (S.phase !== "ended") S.phase = "queued";
      renderChatHead();
      break;
    case "assigned":
      S.adviser = frame.adviser || null;
      if (S.phase !== "ended") S.phase = "assigned";
      renderChatHead();
      relabelMessages();
      break;
    case "message":
      addMessage(frame);
      break;
    case "ack":
      acknowledge(frame.client_id, frame.seq);
      break;
    case "typing":
      if (frame.sender === "adviser") showTyping();
      break;
    case "closed":
      endChat(frame);
      break;
    case "error":
      handleError(frame);
      break;
    default:
      break; // frame types added later are ignored (docs/protocol.md §1.1: extensions are additive)
  }
}

function becameLive() {
  S.live = true;
  S.attempt = 0;
  if (S.wasDisconnected) {
    S.wasDisconnected = false;
    showConnection(t("reconnected"), true);
  } else {
    hideConnection();
  }
  if (S.leaveRequested) {
    send({ type: "leave" });
    return;
  }
  S.inFlight = null; // whatever was in flight is sent again; the server answers a resend with its seq
  sendNext();
}

function handleError(frame) {
  if (frame.ref === "resume" && frame.code === "not_found") {
    // The token is unknown or expired: forget it and offer a fresh start.
    forgetStore();
    resetConversation();
    showSetup();
    showGlobalError(t("resume_failed"));
    return;
  }
  if (frame.ref === "start") {
    resetConversation();
    showSetup();
    showGlobalError(errorText(frame.code));
    refreshStatus();
    return;
  }
  if (frame.code === "rate_limited") {
    // Hold back until the server accepts again, then send what is pending, in order.
    const wait = Math.max(200, Number(frame.retry_after_ms) || 1000);
    S.holdUntil = Date.now() + wait;
    S.inFlight = null;
    showConnection(t("rate_limited"), true);
    clearTimeout(S.retryTimer);
    S.retryTimer = setTimeout(sendNext, wait);
    return;
  }
  if (frame.ref === "message" && S.inFlight) {
    // The message in flight was refused for good: it stays on screen, marked, and the rest go on.
    const refused = S.pending.get(S.inFlight);
    S.pending.delete(S.inFlight);
    S.inFlight = null;
    if (refused) markRefused(refused.el);
    sendNext();
  }
  showConnection(errorText(frame.code), true);
}

/** The server's error codes in the page language (its own message is English, for developers). */
function errorText(code) {
  if (code === "rate_limited" || code === "too_many_connections") return t("error.busy");
  if (code === "unavailable") return t("error.unavailable");
  if (code === "blocked") return t("error.blocked"); // an adviser ended this session's chat as abusive
  if (code === "not_found") return t("error.ended");
  return t("error.generic");
}

// ------------------------------------------------------------------ transcript

function senderName(sender) {
  if (sender === "visitor") return t("you");
  if (sender === "adviser") return S.adviser?.name || t("adviser_generic");
  return t("system_label");
}

function buildMessage(message) {
  const sender = ["visitor", "adviser", "system"].includes(message.sender) ? message.sender : "system";
  if (sender === "system") {
    return el(
      "li",
      { className: "msg msg-system", dataset: { sender, event: message.event || "" } },
      el("span", { className: "visually-hidden msg-sender", lang: S.ui, text: `${senderName(sender)}: ` }),
      infoIcon(),
      // written by the server in the page language the visitor had at that moment
      el("p", { className: "msg-text", dir: "auto", lang: S.ui, text: message.text || "" }),
    );
  }
  const text = el("p", {
    className: "msg-text",
    dir: textDir(message.text || ""),
    lang: S.language || null,
    text: message.text || "",
  });
  const meta = el(
    "p",
    { className: "msg-meta", dir: pageDir(), lang: S.ui },
    el("span", { className: "msg-sender", text: senderName(sender) }),
    el("span", { className: "msg-time", text: formatTime(message.sent_at) }),
    sender === "visitor" ? el("span", { className: "msg-state" }) : null,
  );
  const node = el("li", { className: `msg msg-${sender}`, dataset: { sender } }, el("div", { className: "bubble" }, text, meta));
  if (sender === "visitor") setDelivery(node, Boolean(message.pending));
  return node;
}

function setDelivery(node, pending) {
  node.classList.toggle("msg-pending", pending);
  node.dataset.state = pending ? "pending" : "sent";
  const state = node.querySelector(".msg-state");
  if (state) state.textContent = pending ? t("pending") : t("sent");
}

function relabelMessages() {
  for (const node of $("transcript").children) {
    const sender = node.dataset.sender;
    const name = node.querySelector(".msg-sender");
    if (name) name.textContent = sender === "system" ? `${senderName(sender)}: ` : senderName(sender);
    const meta = node.querySelector(".msg-meta");
    if (meta) {
      meta.lang = S.ui;
      meta.dir = pageDir();
    }
    if (sender === "visitor") setDelivery(node, node.dataset.state === "pending");
  }
}

function placeInOrder(node, seq) {
  const list = $("transcript");
  for (const child of list.children) {
    if (child === node) continue;
    const other = child.dataset.seq ? Number(child.dataset.seq) : Infinity; // pending ones stay last
    if (other > seq) {
      list.insertBefore(node, child);
      return;
    }
  }
  list.append(node);
}

function noteSeq(seq) {
  if (Number.isInteger(seq) && seq > S.lastSeq) S.lastSeq = seq;
}

function addMessage(message) {
  const seq = message.seq;
  if (!Number.isInteger(seq) || seq < 1) return;
  noteSeq(seq);
  if (S.messages.has(seq)) return;
  let node;
  const mine = message.client_id && S.pending.get(message.client_id);
  if (mine) {
    S.pending.delete(message.client_id);
    if (message.client_id === S.inFlight) {
      S.inFlight = null;
      sendNext();
    }
    node = mine.el;
    setDelivery(node, false);
  } else {
    node = buildMessage(message);
  }
  node.dataset.seq = String(seq);
  S.messages.set(seq, node);
  placeInOrder(node, seq);
  if (message.sender === "adviser") hideTyping();
  scrollToEnd();
}

function acknowledge(clientId, seq) {
  showStored(clientId, seq);
  if (clientId === S.inFlight) {
    S.inFlight = null;
    sendNext();
  }
}

function showStored(clientId, seq) {
  const mine = S.pending.get(clientId);
  if (!mine) return;
  S.pending.delete(clientId);
  noteSeq(seq);
  if (S.messages.has(seq)) {
    mine.el.remove(); // already shown from a replay
    return;
  }
  setDelivery(mine.el, false);
  mine.el.dataset.seq = String(seq);
  S.messages.set(seq, mine.el);
  placeInOrder(mine.el, seq);
}

// One message in flight at a time: were several sent at once, one refused for the rate limit and a
// later one accepted the moment a token came free would overtake it, and the transcript would show the
// visitor's messages out of the order they were written in.
function sendNext() {
  if (!S.live || S.inFlight || Date.now() < S.holdUntil) return;
  const next = S.pending.entries().next();
  if (next.done) return;
  const [clientId, item] = next.value;
  if (send({ type: "message", client_id: clientId, text: item.text })) S.inFlight = clientId;
}

function markRefused(node) {
  node.classList.remove("msg-pending");
  node.classList.add("msg-refused");
  node.dataset.state = "refused";
  const state = node.querySelector(".msg-state");
  if (state) state.textContent = t("not_sent");
}

function scrollToEnd() {
  const box = $("transcript-log");
  box.scrollTop = box.scrollHeight;
}

function onSend(event) {
  event.preventDefault();
  const box = $("message");
  const text = box.value.trim();
  if (!text || S.phase === "ended") return;
  const clientId = newClientId();
  const node = buildMessage({ sender: "visitor", text, pending: true });
  S.pending.set(clientId, { text, el: node });
  $("transcript").append(node);
  scrollToEnd();
  box.value = "";
  S.lastTypingSent = 0; // the other side clears "typing" on a message; the next keystroke says it again
  sendNext();
  box.focus();
}

function onComposerKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
}

function onComposerInput() {
  const now = Date.now();
  if (S.live && S.phase === "assigned" && now - S.lastTypingSent > TYPING_SEND_EVERY_MS && $("message").value.trim()) {
    S.lastTypingSent = now;
    send({ type: "typing" });
  }
}

function showTyping() {
  const node = $("typing");
  node.textContent = t("typing", { name: S.adviser?.name || t("adviser_generic") });
  clearTimeout(S.typingTimer);
  S.typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
}

function hideTyping() {
  clearTimeout(S.typingTimer);
  $("typing").textContent = "";
}

// ------------------------------------------------------------------ views

function showSetup() {
  S.phase = "setup";
  document.body.classList.remove("in-chat");
  $("setup").hidden = false;
  $("chat").hidden = true;
  $("ended").hidden = true;
  const status = S.status && typeof S.status === "object" ? S.status : null;
  renderClosed(Boolean(status && !status.open), status?.next_opening);
}

function showChat() {
  hideGlobalError();
  document.body.classList.add("in-chat");
  $("setup").hidden = true;
  $("ended").hidden = true;
  $("closed-banner").hidden = true;
  const chat = $("chat");
  chat.hidden = false;
  chat.dir = S.rtl ? "rtl" : "ltr";
  chat.lang = S.language || S.ui;
  for (const id of UI_TEXT_IDS) {
    $(id).dir = pageDir();
    $(id).lang = S.ui;
  }
  const box = $("message");
  box.dir = S.rtl ? "rtl" : "auto";
  if (S.language) box.lang = S.language;
  $("composer").hidden = false;
  $("leave-button").hidden = false;
  $("leave-confirm").hidden = true;
  renderChatHead();
  box.focus();
}

function renderChatHead() {
  const heading = $("chat-heading");
  const status = $("chat-status");
  if (!heading) return;
  const name = S.adviser?.name || t("adviser_generic");
  if (S.phase === "assigned") {
    heading.textContent = t("heading_assigned", { name });
    const service = S.adviser?.service && has(`service.${S.adviser.service}`) ? t(`service.${S.adviser.service}`) : "";
    status.textContent = service ? t("assigned_status", { name, service }) : "";
  } else if (S.phase === "queued") {
    heading.textContent = t("heading_queued");
    const parts = [t("queue_welcome")];
    if (S.queue && Number.isInteger(S.queue.position)) parts.push(t("queue_position", { n: S.queue.position }));
    if (S.queue) parts.push(t("wait_estimate", { wait: formatWait(S.queue.estimated_wait_s) }));
    if (S.queue && S.queue.estimated_wait_s) parts.push(t("queue_honest"));
    parts.push(t("queue_write_meanwhile"));
    status.textContent = parts.join(" ");
  } else if (S.phase === "connecting") {
    heading.textContent = t("heading_connecting");
    status.textContent = "";
  } else if (S.phase === "ended") {
    heading.textContent = S.adviser?.name ? t("heading_ended_with", { name: S.adviser.name }) : t("heading_ended");
    status.textContent = "";
  }
  heading.lang = S.ui;
  status.lang = S.ui;
}

function showConnection(text, transient = false) {
  const node = $("connection");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(showConnection.timer);
  if (transient) showConnection.timer = setTimeout(hideConnection, 4000);
}

function hideConnection() {
  const node = $("connection");
  node.hidden = true;
  node.textContent = "";
}

function showGlobalError(text) {
  const node = $("global-error");
  node.textContent = text;
  node.hidden = false;
}

function hideGlobalError() {
  const node = $("global-error");
  node.hidden = true;
  node.textContent = "";
}

function endChat(frame) {
  S.phase = "ended";
  S.ended = { reason: frame.reason, next_opening: frame.next_opening || null, help_lines: frame.help_lines || null };
  offerCode(S.token, frame.reason); // the code is asked for with this token, kept in memory only
  S.token = null;
  S.live = false;
  forgetStore();
  clearTimeout(S.reconnectTimer);
  clearTimeout(S.retryTimer);
  hideTyping();
  hideConnection();
  // Messages that never reached the server cannot be sent any more.
  for (const { el: node } of S.pending.values()) node.remove();
  S.pending.clear();
  if (frame.reason === "closed_hours" && S.messages.size === 0) $("chat").hidden = true;
  $("composer").hidden = true;
  $("leave-button").hidden = true;
  $("leave-confirm").hidden = true;
  renderChatHead();
  renderEnded();
  const ended = $("ended");
  ended.hidden = false;
  ended.focus();
}

function renderEnded() {
  if (!S.ended) return;
  const reason = S.ended.reason;
  $("ended-reason").textContent = has(`closed.${reason}`) ? t(`closed.${reason}`) : t("closed.other");
  const closedHours = reason === "closed_hours";
  // Closed before it started: the next opening instead of what happens to a conversation.
  const next = $("ended-next");
  next.textContent = closedHours
    ? S.ended.next_opening ? t("status_next_opening", { when: formatWhen(S.ended.next_opening) }) : ""
    : t("ended_next");
  next.hidden = !next.textContent;
  $("feedback").hidden = closedHours;
  $("feedback-buttons").hidden = S.feedbackGiven;
  $("feedback-thanks").hidden = !S.feedbackGiven;
  const lines = S.ended.help_lines || S.ref?.help_lines || [];
  const help = $("ended-help");
  help.hidden = !lines.length;
  help.replaceChildren(...lines.map((l, i) => helpLineItem(l, i === 0)));
}

/** "Did you get help?" — one answer, counted per day only, never tied to the chat. */
async function onFeedback(answer) {
  if (S.feedbackGiven) return;
  S.feedbackGiven = true;
  renderEnded();
  $("feedback-thanks").focus(); // the button just pressed is gone: keep the keyboard in place
  try {
    await fetch("/api/v1/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "omit",
      body: JSON.stringify({ answer }),
    });
  } catch {
    /* an answer lost on a bad connection is not worth bothering the visitor about */
  }
}

function resetConversation() {
  dropSocket();
  clearTimeout(S.reconnectTimer);
  clearTimeout(S.retryTimer);
  clearTimeout(S.typingTimer);
  const keep = { ui: S.ui, texts: S.texts, ref: S.ref, status: S.status };
  Object.assign(S, freshState(), keep);
  forgetReturn();
  $("transcript").replaceChildren();
  $("typing").textContent = "";
  $("message").value = "";
  hideConnection();
}

function onNewChat() {
  resetConversation();
  showSetup();
  refreshStatus();
  $("language").focus();
}

function onLeave() {
  $("leave-button").hidden = true;
  $("leave-confirm").hidden = false;
  $("leave-yes").focus();
}

function onLeaveCancel() {
  $("leave-confirm").hidden = true;
  $("leave-button").hidden = false;
  $("leave-button").focus();
}

function onLeaveConfirm() {
  $("leave-confirm").hidden = true;
  if (S.live) send({ type: "leave" });
  else if (S.token) S.leaveRequested = true; // sent as soon as the conversation is reachable again
  else {
    // Nothing started on the server yet: just forget it locally.
    resetConversation();
    showSetup();
  }
}

// ------------------------------------------------------------------ quick exit

let exited = false;

function quickExit(event) {
  if (event) event.preventDefault();
  if (exited) return;
  exited = true;
  document.documentElement.classList.add("exited"); // blank at once
  // End the chat so the adviser sees the visitor left, then close the socket.
  const ws = S.ws;
  S.ws = null;
  if (ws) {
    try {
      if (ws.readyState === WebSocket.OPEN && S.live) ws.send(JSON.stringify({ type: "leave", quick_exit: true }));
      ws.close(1000);
    } catch {
      /* ignore: we are leaving anyway */
    }
  }
  S.phase = "setup";
  forget();
  document.title = "";
  location.replace(NEUTRAL_URL);
}

function forget() {
  try {
    sessionStorage.clear();
  } catch {
    /* ignore */
  }
  clearTimeout(S.reconnectTimer);
  clearTimeout(S.retryTimer);
  clearTimeout(S.typingTimer);
  Object.assign(S, freshState(), { ui: S.ui, texts: S.texts, ref: S.ref });
  forgetReturn(); // a code shown once is gone from the page: going back cannot show it again
  $("transcript").replaceChildren();
  $("message").value = "";
  $("setup").reset();
}

let escapeAt = -Infinity;
let shiftPresses = [];

function onKeyDown(event) {
  const now = performance.now();
  if (event.key === "Escape") {
    shiftPresses = [];
    if (now - escapeAt <= ESCAPE_WINDOW_MS) quickExit(event);
    else escapeAt = now;
    return;
  }
  if (event.key === "Shift") {
    if (event.repeat) return;
    escapeAt = -Infinity;
    shiftPresses = shiftPresses.filter((at) => now - at <= SHIFT_WINDOW_MS);
    shiftPresses.push(now);
    if (shiftPresses.length >= 3) quickExit(event);
    return;
  }
  // Any other key (typing a capital letter, say) starts the count again.
  escapeAt = -Infinity;
  shiftPresses = [];
}

function onPageShow(event) {
  if (!event.persisted) return;
  // Restored from the back/forward cache: never show an old state. Start clean, as a fresh load would.
  document.documentElement.classList.remove("exited");
  exited = false;
  dropSocket();
  Object.assign(S, freshState(), { ui: S.ui, texts: S.texts, ref: S.ref });
  forgetReturn();
  $("transcript").replaceChildren();
  hideConnection();
  hideGlobalError();
  begin();
}

// ------------------------------------------------------------------ start-up

function begin() {
  const saved = readStore();
  if (saved) {
    S.token = saved.token;
    S.language = saved.language || null;
    S.rtl = Boolean(saved.rtl ?? languageEntry(saved.language)?.rtl);
    S.phase = "connecting";
    showChat();
    connect();
  } else {
    showSetup();
    refreshStatus();
  }
}

function bind() {
  QUICK_EXIT.addEventListener("click", quickExit);
  document.addEventListener("keydown", onKeyDown, true);
  window.addEventListener("pageshow", onPageShow);
  $("ui-lang").addEventListener("change", () => setUiLanguage($("ui-lang").value));
  $("setup").addEventListener("submit", onStart);
  $("language").addEventListener("change", () => {
    renderAlsoLanguages();
    renderSwitchOffer();
    refreshStatus();
  });
  $("switch-offer-yes").addEventListener("click", async () => {
    await setUiLanguage($("language").value);
    $("language").focus();
  });
  $("region").addEventListener("change", () => {
    if (regionChoice() !== undefined) showFieldError("region", null);
    refreshStatus();
  });
  $("audience").addEventListener("change", () => showFieldError("audience", null));
  $("feedback-yes").addEventListener("click", () => onFeedback("yes"));
  $("feedback-no").addEventListener("click", () => onFeedback("no"));
  $("composer").addEventListener("submit", onSend);
  $("message").addEventListener("keydown", onComposerKey);
  $("message").addEventListener("input", onComposerInput);
  $("leave-button").addEventListener("click", onLeave);
  $("leave-yes").addEventListener("click", onLeaveConfirm);
  $("leave-no").addEventListener("click", onLeaveCancel);
  $("new-chat").addEventListener("click", onNewChat);
  setupReturn({
    t, el, formatWhen, formatTime, textDir, pageDir, wsUrl, regionChoice, showFieldError, showSetup, hideGlobalError,
    refreshStatus, continueThread, state: () => S,
  });
  // Keep "open? how long a wait?" fresh while someone is still choosing.
  setInterval(() => {
    if (S.phase === "setup" && !document.hidden && !exited) refreshStatus({ quiet: true });
  }, STATUS_REFRESH_MS);
  window.addEventListener("online", () => {
    if (!S.ws && S.reconnectTimer) connect();
  });
}

async function init() {
  readEmbeddedTexts();
  if (!S.texts) {
    try {
      const wanted = new URLSearchParams(location.search).get("lang") || document.documentElement.lang || "nb";
      S.texts = await loadTexts(wanted);
      S.ui = S.texts.language;
    } catch {
      /* the page keeps the texts the server wrote into it */
    }
  }
  applyStatic();
  bind();
  try {
    await loadReference();
    renderReference();
  } catch {
    showGlobalError(t("reference_failed"));
  }
  document.documentElement.classList.add("ready");
  begin();
}

init();
