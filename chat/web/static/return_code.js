// Return codes and messages left (docs/protocol.md §3.4, issue 19), the visitor's side.
//
// - A code is shown once, in the DOM only: never in localStorage, sessionStorage or a variable that
//   outlives the view. A quick exit (widget.js forget()) clears it from the page, so going back can
//   never show it again.
// - "Come back with a code" opens a socket of its own: `return`, then the thread as retention allows,
//   then go on live on that same socket (widget.js continueThread), leave a message, or withdraw.
// - "Leave a message" while the chat is closed or nobody in the language is signed in: a fresh
//   socket, `leave_message`, and the code of the new thread.

let ctx = null; // what widget.js lends: texts, element builder, state, views
let endedToken = null; // the token of the conversation that just ended (memory only), for POST /return-codes
let thread = null; // the last `thread` frame, while its view is shown
let threadSocket = null;
let leaveSocket = null;

const $ = (id) => document.getElementById(id);

// Dates and times in Europe/Oslo, as the rest of the page says them. A code works for weeks, so a day
// further off than tomorrow is a full date (a weekday alone would be wrong), in digits: they read in
// every page language, even where the browser has no locale data for it.
const OSLO = new Intl.DateTimeFormat("en-GB", {
  timeZone: "Europe/Oslo", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

function osloParts(date) {
  const p = Object.fromEntries(OSLO.formatToParts(date).map((part) => [part.type, part.value]));
  return { y: p.year, m: p.month, d: p.day, time: `${p.hour}:${p.minute}` };
}

function formatDate(iso) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return "";
  const when = osloParts(date);
  const today = osloParts(new Date());
  const tomorrow = osloParts(new Date(Date.now() + 24 * 3600 * 1000));
  const same = (a, b) => a.y === b.y && a.m === b.m && a.d === b.d;
  if (same(when, today) || same(when, tomorrow)) return ctx.formatWhen(iso); // "today at 14:05"
  const day = ctx.state().ui === "nb" ? `${when.d}.${when.m}.${when.y}` : `${when.y}-${when.m}-${when.d}`;
  return ctx.t("when_day", { day, time: when.time });
}

function osloTime(iso) {
  const date = new Date(iso);
  return !iso || Number.isNaN(date.getTime()) ? "" : osloParts(date).time;
}

export function setupReturn(context) {
  ctx = context;
  $("return-take").addEventListener("click", takeCode);
  $("return-open").addEventListener("click", openReturn);
  $("return-form").addEventListener("submit", onReturnSubmit);
  $("return-back").addEventListener("click", closeReturn);
  $("thread-start").addEventListener("click", onThreadStart);
  $("thread-leave").addEventListener("click", () => openLeave(true));
  $("thread-withdraw").addEventListener("click", () => {
    $("thread-withdraw").hidden = true;
    $("withdraw-confirm").hidden = false;
    $("withdraw-yes").focus();
  });
  $("withdraw-no").addEventListener("click", () => {
    $("withdraw-confirm").hidden = true;
    $("thread-withdraw").hidden = false;
    $("thread-withdraw").focus();
  });
  $("withdraw-yes").addEventListener("click", onWithdraw);
  $("leave-message-open").addEventListener("click", () => openLeave(false));
  $("ended-leave-message").addEventListener("click", () => openLeave(false));
  $("leave-message-form").addEventListener("submit", onLeaveSubmit);
  $("leave-message-back").addEventListener("click", closeLeave);
}

// ------------------------------------------------------------------ the code, shown once

/** widget.js endChat: a conversation ended; offer a code for it (not for a start refused while closed). */
export function offerCode(token, reason) {
  endedToken = reason === "closed_hours" ? null : token;
  $("return-offer").hidden = !endedToken;
  $("return-take").hidden = false;
  $("return-take-error").hidden = true;
  $("return-code-slot").replaceChildren();
  $("ended-leave-message").hidden = reason !== "closed_hours";
}

async function takeCode() {
  if (!endedToken) return;
  const button = $("return-take");
  button.disabled = true;
  $("return-take-error").hidden = true;
  let data = null;
  try {
    const response = await fetch("/api/v1/return-codes", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      credentials: "omit",
      body: JSON.stringify({ token: endedToken, language: ctx.state().ui }),
    });
    if (response.status === 201) data = await response.json();
  } catch {
    data = null;
  }
  button.disabled = false;
  if (!data || typeof data.code !== "string") {
    showError("return-take-error", "return.take_failed");
    return;
  }
  endedToken = null; // one code per end: taking another would only replace this one
  button.hidden = true;
  showCode($("return-code-slot"), data.code, data.valid_until);
}

function showCode(slot, code, validUntil) {
  const { el, t } = ctx;
  const ui = ctx.state().ui;
  const id = `${slot.id}-label`;
  const copyStatus = el("span", { className: "code-copy-status", role: "status", "aria-live": "polite" });
  const value = el("p", { className: "code-value", id: `${slot.id}-value`, dir: "ltr", text: code });
  // Words come from the page language's list; digits read the same in any script.
  if (/\p{L}/u.test(code)) value.lang = ui;
  const copy = el("button", { type: "button", className: "button button-secondary button-small code-copy", dataset: { i18n: "return.copy" }, text: t("return.copy") });
  copy.addEventListener("click", async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(value.textContent);
      ok = true;
    } catch {
      // No clipboard (an insecure origin, a refusal): select the code so the visitor can copy it by hand.
      const range = document.createRange();
      range.selectNodeContents(value);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    copyStatus.dataset.i18n = ok ? "return.copied" : "return.copy_failed";
    copyStatus.textContent = t(copyStatus.dataset.i18n);
  });
  const box = el(
    "div",
    { className: "code-box", role: "group", "aria-labelledby": id, tabindex: "-1", dir: ctx.pageDir(), lang: ui },
    el("p", { className: "code-label", id, dataset: { i18n: "return.code_label" }, text: t("return.code_label") }),
    value,
    el("p", { className: "code-warning", dataset: { i18n: "return.write_down" }, text: t("return.write_down") }),
    el("p", { className: "code-valid", dataset: { when: validUntil || "" }, text: validText(validUntil) }),
    el("div", { className: "code-actions" }, copy, copyStatus),
  );
  slot.replaceChildren(box);
  box.focus();
}

function validText(iso) {
  return iso ? ctx.t("return.valid_until", { when: formatDate(iso) }) : "";
}

function showError(id, key) {
  const node = $(id);
  node.dataset.i18n = key;
  node.textContent = ctx.t(key);
  node.hidden = false;
}

// ------------------------------------------------------------------ come back with a code

function openReturn() {
  hideAllBut("return");
  $("return-form").hidden = false;
  $("thread").hidden = true;
  $("return-error").hidden = true;
  $("return-code").value = "";
  $("return-code").removeAttribute("aria-invalid");
  $("return-code").focus();
}

function closeReturn() {
  dropThreadSocket();
  thread = null;
  $("thread-list").replaceChildren();
  $("return").hidden = true;
  ctx.showSetup();
  $("return-open").focus();
}

function hideAllBut(id) {
  for (const other of ["setup", "chat", "ended", "return", "leave-message"]) $(other).hidden = other !== id;
  $("closed-banner").hidden = true;
  ctx.hideGlobalError();
}

function onReturnSubmit(event) {
  event.preventDefault();
  const input = $("return-code");
  const code = input.value.trim();
  if (!code) {
    input.setAttribute("aria-invalid", "true");
    showError("return-error", "return.code_required");
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  $("return-error").hidden = true;
  $("return-submit").disabled = true;
  dropThreadSocket();
  const ws = new WebSocket(ctx.wsUrl());
  threadSocket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "return", code, page_language: ctx.state().ui }));
  ws.onmessage = (message) => onThreadFrame(ws, message);
  ws.onclose = () => {
    if (threadSocket !== ws) return;
    threadSocket = null;
    $("return-submit").disabled = false;
    $("thread-start").disabled = true; // going on live needs the socket the code opened
  };
}

function onThreadFrame(ws, message) {
  if (threadSocket !== ws || typeof message.data !== "string") return;
  let frame;
  try {
    frame = JSON.parse(message.data);
  } catch {
    return;
  }
  if (frame.type === "thread") {
    thread = frame;
    $("return-submit").disabled = false;
    $("return-code").value = ""; // the code is not kept on the page once it has opened the thread
    renderThread();
    $("thread-heading").focus();
  } else if (frame.type === "code_withdrawn") {
    thread = null;
    $("thread-list").replaceChildren();
    $("thread").hidden = true;
    $("return-form").hidden = false;
    showError("return-error", "return.withdrawn");
    $("return-error").focus();
  } else if (frame.type === "message_left") {
    $("leave-message-form").hidden = true;
    showLeaveSent();
  } else if (frame.type === "error") {
    $("return-submit").disabled = false;
    if (frame.ref === "leave_message") {
      showError("leave-message-error", frame.code === "forbidden" ? "leave_message.refused" : "error.generic");
      $("leave-message-send").disabled = false;
      return;
    }
    const key = frame.code === "not_found" ? "return.wrong" : frame.code === "rate_limited" ? "return.too_many" : "error.generic";
    showError(thread ? "thread-error" : "return-error", key);
    if (!thread) $("return-code").focus();
  }
}

function renderThread() {
  if (!thread) return;
  const { el, t } = ctx;
  $("return-form").hidden = true;
  $("thread").hidden = false;
  $("thread-error").hidden = true;
  const items = (thread.conversations || []).map((conversation) => {
    const when = formatDate(conversation.started_at);
    const title = conversation.answered ? t("return.answer_from", { when }) : t("return.conversation_from", { when });
    const body = Array.isArray(conversation.messages)
      ? el("ol", { className: "transcript-list thread-messages", lang: thread.language }, ...conversation.messages.map(threadMessage))
      : el("p", { className: "thread-gone", text: t("return.not_kept") });
    return el("li", { className: "thread-item" }, el("h4", { className: "thread-item-title", text: title }), body);
  });
  const waiting = thread.waiting || [];
  if (waiting.length) {
    items.push(
      el(
        "li",
        { className: "thread-item thread-waiting" },
        el("h4", { className: "thread-item-title", text: t("return.waiting_title") }),
        el("ol", { className: "transcript-list thread-messages", lang: thread.language },
          ...waiting.map((w) => threadMessage({ sender: "visitor", text: w.text, sent_at: w.left_at }))),
      ),
    );
  }
  $("thread-list").replaceChildren(...items);
  $("thread-empty").hidden = items.length > 0;
  const adviser = thread.adviser;
  const line = $("thread-adviser");
  line.textContent = adviser ? t(adviser.available ? "return.adviser_free" : "return.adviser_busy", { name: adviser.name }) : "";
  line.hidden = !adviser || !thread.open;
  $("thread-valid").textContent = validText(thread.valid_until);
  $("thread-start").hidden = !thread.open;
  $("thread-start").disabled = !threadSocket;
  $("thread-closed").hidden = thread.open;
  $("withdraw-confirm").hidden = true;
  $("thread-withdraw").hidden = false;
  $("thread-leave").hidden = false;
}

/** One message of an earlier conversation, drawn as the chat draws its own (read only). */
function threadMessage(message) {
  const { el, t } = ctx;
  const ui = ctx.state().ui;
  const sender = ["visitor", "adviser"].includes(message.sender) ? message.sender : "system";
  if (sender === "system") {
    return el("li", { className: "msg msg-system" }, el("p", { className: "msg-text", dir: "auto", lang: ui, text: message.text || "" }));
  }
  const name = sender === "visitor" ? t("you") : thread?.adviser?.name || t("adviser_generic");
  return el(
    "li",
    { className: `msg msg-${sender}`, dataset: { sender } },
    el(
      "div",
      { className: "bubble" },
      el("p", { className: "msg-text", dir: ctx.textDir(message.text || ""), text: message.text || "" }),
      el(
        "p",
        { className: "msg-meta", dir: ctx.pageDir(), lang: ui },
        el("span", { className: "msg-sender", text: name }),
        el("span", { className: "msg-time", text: osloTime(message.sent_at) }),
      ),
    ),
  );
}

function onThreadStart() {
  const ws = threadSocket;
  if (!ws || !thread) return;
  threadSocket = null; // widget.js owns the socket from now on
  ws.onmessage = null;
  ws.onclose = null;
  const from = thread;
  thread = null;
  $("thread-list").replaceChildren();
  $("return").hidden = true;
  ctx.continueThread(ws, from);
}

function onWithdraw() {
  $("withdraw-confirm").hidden = true;
  if (!threadSocket || threadSocket.readyState !== WebSocket.OPEN) {
    showError("thread-error", "error.generic");
    $("thread-withdraw").hidden = false;
    return;
  }
  threadSocket.send(JSON.stringify({ type: "withdraw_code" }));
}

function dropThreadSocket() {
  const ws = threadSocket;
  threadSocket = null;
  if (ws) {
    try {
      ws.close(1000);
    } catch {
      /* ignore */
    }
  }
}

// ------------------------------------------------------------------ leave a message

/** widget.js renderStatus: offer a message when closed or nobody in the language is signed in. */
export function renderLeaveOffer(status) {
  const offer = Boolean(status && typeof status === "object" && (!status.open || !status.advisers_available));
  $("leave-message-open").hidden = !offer;
}

/** fromThread: the visitor has a code already (the thread's socket); else a fresh socket and a new code. */
function openLeave(fromThread) {
  const S = ctx.state();
  if (!fromThread) {
    const region = ctx.regionChoice();
    const audience = $("audience").value;
    if (S.phase === "setup") {
      ctx.showFieldError("region", region === undefined ? "region_required" : null);
      ctx.showFieldError("audience", audience ? null : "audience_required");
      if (region === undefined) return $("region").focus();
      if (!audience) return $("audience").focus();
    }
    leaveFields = { language: $("language").value, region: region ?? null, audience: audience || null };
  } else {
    leaveFields = null;
  }
  hideAllBut("leave-message");
  const language = fromThread ? thread?.language : leaveFields.language;
  const box = $("leave-message-text");
  box.value = "";
  box.lang = language || S.ui;
  box.dir = "auto";
  $("leave-message-form").hidden = false;
  $("leave-message-error").hidden = true;
  $("leave-message-sent").hidden = true;
  $("leave-code-slot").replaceChildren();
  $("leave-message-send").disabled = false;
  leaveFromThread = fromThread;
  box.focus();
}

let leaveFields = null;
let leaveFromThread = false;

function closeLeave() {
  dropLeaveSocket();
  $("leave-code-slot").replaceChildren();
  $("leave-message-text").value = "";
  $("leave-message").hidden = true;
  if (leaveFromThread && thread) {
    hideAllBut("return");
    renderThread();
    $("thread-leave").focus();
    return;
  }
  dropThreadSocket();
  thread = null;
  ctx.showSetup();
  ctx.refreshStatus();
}

function onLeaveSubmit(event) {
  event.preventDefault();
  const box = $("leave-message-text");
  const text = box.value.trim();
  if (!text) {
    box.setAttribute("aria-invalid", "true");
    showError("leave-message-error", "leave_message.empty");
    box.focus();
    return;
  }
  box.removeAttribute("aria-invalid");
  $("leave-message-error").hidden = true;
  $("leave-message-send").disabled = true;
  if (leaveFromThread) {
    if (!threadSocket || threadSocket.readyState !== WebSocket.OPEN) {
      showError("leave-message-error", "error.generic");
      $("leave-message-send").disabled = false;
      return;
    }
    threadSocket.send(JSON.stringify({ type: "leave_message", text }));
    return;
  }
  dropLeaveSocket();
  const ws = new WebSocket(ctx.wsUrl());
  leaveSocket = ws;
  const frame = { type: "leave_message", ...leaveFields, page_language: ctx.state().ui, text };
  if (!frame.region) delete frame.region;
  ws.onopen = () => ws.send(JSON.stringify(frame));
  ws.onmessage = (message) => {
    if (leaveSocket !== ws || typeof message.data !== "string") return;
    let answer;
    try {
      answer = JSON.parse(message.data);
    } catch {
      return;
    }
    if (answer.type === "message_left") {
      $("leave-message-form").hidden = true;
      $("leave-message-text").value = "";
      showLeaveSent();
      if (answer.code) showCode($("leave-code-slot"), answer.code, answer.valid_until);
    } else if (answer.type === "error") {
      const key = answer.code === "forbidden" ? "leave_message.refused" : answer.code === "rate_limited" ? "error.busy" : "error.generic";
      showError("leave-message-error", key);
      $("leave-message-send").disabled = false;
    }
  };
  ws.onclose = () => {
    if (leaveSocket === ws) leaveSocket = null;
  };
}

function showLeaveSent() {
  $("leave-message-text").value = "";
  const sent = $("leave-message-sent");
  sent.hidden = false;
  if (leaveFromThread) sent.focus();
}

function dropLeaveSocket() {
  const ws = leaveSocket;
  leaveSocket = null;
  if (ws) {
    try {
      ws.close(1000);
    } catch {
      /* ignore */
    }
  }
}

// ------------------------------------------------------------------ language and forgetting

/** widget.js setUiLanguage: texts built here with values follow the page language. */
export function relabelReturn() {
  if (!ctx) return;
  for (const node of document.querySelectorAll(".code-valid[data-when]")) node.textContent = validText(node.dataset.when);
  for (const node of document.querySelectorAll(".code-copy-status[data-i18n]")) node.textContent = ctx.t(node.dataset.i18n);
  for (const id of ["return-error", "thread-error", "return-take-error", "leave-message-error"]) {
    const node = $(id);
    if (!node.hidden && node.dataset.i18n) node.textContent = ctx.t(node.dataset.i18n);
  }
  if (thread && !$("thread").hidden) renderThread();
}

/** widget.js forget (quick exit) and resetConversation: nothing of a code or a thread stays on the page. */
export function forgetReturn() {
  endedToken = null;
  thread = null;
  dropThreadSocket();
  dropLeaveSocket();
  for (const id of ["return-code-slot", "leave-code-slot", "thread-list"]) $(id)?.replaceChildren();
  for (const id of ["return-code", "leave-message-text"]) if ($(id)) $(id).value = "";
  for (const id of ["return", "leave-message", "return-offer"]) if ($(id)) $(id).hidden = true;
}
